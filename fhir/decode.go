package fhir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// Appointment is an r4.Appointment decoded tolerantly.
//
// When KnownStatus is false, RawStatus holds a code the R4 models do not know
// (e.g. from a newer FHIR version) and the embedded Status is meaningless.
// Elements listed in Dropped hold their zero value and must not be trusted.
// Do not re-encode it with json.Marshal when either applies: the models would
// write the zero values; keep the raw JSON instead.
type Appointment struct {
	r4.Appointment
	RawStatus   string   // status exactly as sent
	KnownStatus bool     // RawStatus is an R4 code and Status holds it
	Dropped     []string // coded elements missing or unknown to the models, e.g. "participant[1].status"
	// Contained holds the contained resources, which the samply models drop;
	// "#id" references point into them.
	Contained []json.RawMessage
}

// Encounter is an r4.Encounter decoded tolerantly; see Appointment.
type Encounter struct {
	r4.Encounter
	RawStatus   string
	KnownStatus bool
	Dropped     []string          // e.g. "statusHistory[0].status", "location[2].status"
	Contained   []json.RawMessage // see Appointment.Contained
}

// codedElem peeks at the coded children of array elements.
type codedElem struct {
	Status   *string `json:"status"`
	Required *string `json:"required"`
}

// DecodeAppointment decodes an Appointment with the samply model, checking
// what it does not: resourceType must be "Appointment" and status must be
// present (samply turns a missing one into "proposed"). An unknown status
// code, or an unknown participant status or required code, does not lose
// the resource: see Appointment. Other unknown codes inside (identifier use,
// narrative status, ...) still fail with ErrInvalid.
func DecodeAppointment(raw []byte) (*Appointment, error) {
	const rt = "Appointment"
	var p struct {
		ResourceType string            `json:"resourceType"`
		Status       *string           `json:"status"`
		Participant  []codedElem       `json:"participant"`
		Contained    []json.RawMessage `json:"contained"`
	}
	if err := Unmarshal(raw, &p); err != nil {
		return nil, invalid("decode "+rt, err)
	}
	if err := checkHead(rt, p.ResourceType, p.Status); err != nil {
		return nil, err
	}
	out := &Appointment{RawStatus: *p.Status, Contained: p.Contained}
	status, ok := known[r4.AppointmentStatus](*p.Status)
	out.KnownStatus = ok

	var drop []path
	for i, e := range p.Participant {
		switch {
		case e.Status == nil: // required in R4; the model would say "accepted"
			out.Dropped = append(out.Dropped, path{"participant", i, "status"}.String())
		case !isKnown[r4.ParticipationStatus](*e.Status):
			drop = append(drop, path{"participant", i, "status"})
		}
		if e.Required != nil && !isKnown[r4.ParticipantRequired](*e.Required) {
			drop = append(drop, path{"participant", i, "required"})
		}
	}
	if err := decodeModel(raw, &out.Appointment, !ok, drop); err != nil {
		return nil, invalid("decode "+rt, err)
	}
	if ok {
		out.Status = status
	}
	out.Dropped = mergeDropped(out.Dropped, drop)
	return out, nil
}

// DecodeEncounter decodes an Encounter like DecodeAppointment does; unknown
// codes in statusHistory[].status and location[].status are dropped and
// listed, a missing statusHistory[].status is listed.
func DecodeEncounter(raw []byte) (*Encounter, error) {
	const rt = "Encounter"
	var p struct {
		ResourceType  string            `json:"resourceType"`
		Status        *string           `json:"status"`
		StatusHistory []codedElem       `json:"statusHistory"`
		Location      []codedElem       `json:"location"`
		Contained     []json.RawMessage `json:"contained"`
	}
	if err := Unmarshal(raw, &p); err != nil {
		return nil, invalid("decode "+rt, err)
	}
	if err := checkHead(rt, p.ResourceType, p.Status); err != nil {
		return nil, err
	}
	out := &Encounter{RawStatus: *p.Status, Contained: p.Contained}
	status, ok := known[r4.EncounterStatus](*p.Status)
	out.KnownStatus = ok

	var drop []path
	for i, e := range p.StatusHistory {
		switch {
		case e.Status == nil:
			out.Dropped = append(out.Dropped, path{"statusHistory", i, "status"}.String())
		case !isKnown[r4.EncounterStatus](*e.Status):
			drop = append(drop, path{"statusHistory", i, "status"})
		}
	}
	for i, e := range p.Location {
		if e.Status != nil && !isKnown[r4.EncounterLocationStatus](*e.Status) {
			drop = append(drop, path{"location", i, "status"})
		}
	}
	if err := decodeModel(raw, &out.Encounter, !ok, drop); err != nil {
		return nil, invalid("decode "+rt, err)
	}
	if ok {
		out.Status = status
	}
	out.Dropped = mergeDropped(out.Dropped, drop)
	return out, nil
}

// DecodePatient decodes a Patient with the samply model after checking its
// resourceType, which samply ignores.
func DecodePatient(raw []byte) (*r4.Patient, error) {
	const rt = "Patient"
	var p struct {
		ResourceType string `json:"resourceType"`
	}
	if err := Unmarshal(raw, &p); err != nil {
		return nil, invalid("decode "+rt, err)
	}
	if p.ResourceType != rt {
		return nil, fmt.Errorf("decode %s: resourceType %q: %w", rt, shortType(p.ResourceType), ErrInvalid)
	}
	var pat r4.Patient
	if err := Unmarshal(raw, &pat); err != nil {
		return nil, invalid("decode "+rt, err)
	}
	return &pat, nil
}

func checkHead(want, got string, status *string) error {
	if got != want {
		return fmt.Errorf("decode %s: resourceType %q: %w", want, shortType(got), ErrInvalid)
	}
	if status == nil || *status == "" {
		return fmt.Errorf("decode %s: missing status: %w", want, ErrInvalid)
	}
	return nil
}

// known reports whether code is one of the samply enum T's codes, and its value.
func known[T interface{ Code() string }, P interface {
	*T
	json.Unmarshaler
}](code string) (T, bool) {
	var v T
	b, err := json.Marshal(code)
	if err != nil {
		return v, false
	}
	// samply trims quotes without unescaping, so also check the round trip.
	if P(&v).UnmarshalJSON(b) != nil || v.Code() != code {
		var zero T
		return zero, false
	}
	return v, true
}

func isKnown[T interface{ Code() string }, P interface {
	*T
	json.Unmarshaler
}](code string) bool {
	_, ok := known[T, P](code)
	return ok
}

// path names one coded child of an array element, e.g. participant[1].status.
type path struct {
	array string
	index int
	field string
}

func (p path) String() string { return fmt.Sprintf("%s[%d].%s", p.array, p.index, p.field) }

func mergeDropped(listed []string, drop []path) []string {
	for _, d := range drop {
		listed = append(listed, d.String())
	}
	slices.Sort(listed)
	return slices.Compact(listed)
}

// decodeModel decodes raw into dst. The plain decode is tried first; when the
// top-level status or some coded children are unknown to the models (whose
// enum decoders fail the whole resource), those elements are removed from a
// copy of the JSON and the rest is decoded.
func decodeModel[T any](raw []byte, dst *T, dropStatus bool, drop []path) error {
	if !dropStatus && len(drop) == 0 {
		err := Unmarshal(raw, dst)
		if err == nil {
			return nil
		}
		// A known code written with JSON escapes fails samply's decoder:
		// retry without the status, which the caller sets itself.
		*dst = *new(T)
		if Unmarshal(stripped(raw, nil), dst) != nil {
			*dst = *new(T)
			return err
		}
		return nil
	}
	cleaned := stripped(raw, drop)
	if cleaned == nil {
		return fmt.Errorf("not a JSON object")
	}
	return Unmarshal(cleaned, dst)
}

// stripped returns raw without its top-level status and without the listed
// children, or nil if raw is not a JSON object.
func stripped(raw []byte, drop []path) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return nil
	}
	delete(m, "status")
	byArray := map[string][]path{}
	for _, d := range drop {
		byArray[d.array] = append(byArray[d.array], d)
	}
	for name, ds := range byArray {
		var items []map[string]json.RawMessage
		if json.Unmarshal(m[name], &items) != nil {
			continue // let the model report what is wrong
		}
		for _, d := range ds {
			if d.index < len(items) {
				delete(items[d.index], d.field)
			}
		}
		b, err := json.Marshal(items)
		if err != nil {
			continue
		}
		m[name] = b
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	return b
}

// ResourceType returns the "resourceType" of a JSON object. It reads only up
// to that member (servers write it first), so it does not validate the rest.
func ResourceType(raw []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", fmt.Errorf("resourceType: not a JSON object: %w", ErrInvalid)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", invalid("resourceType", err)
		}
		if key, _ := tok.(string); key == "resourceType" {
			tok, err := dec.Token()
			s, ok := tok.(string)
			if err != nil || !ok || s == "" {
				return "", fmt.Errorf("resourceType: not a non-empty string: %w", ErrInvalid)
			}
			return s, nil
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", invalid("resourceType", err)
		}
	}
	return "", fmt.Errorf("resourceType: missing: %w", ErrInvalid)
}

// Resources parses a JSON document that is either a single resource or a
// Bundle and returns the resources in it: the resource itself, or the
// Bundle's entry[].resource in order (entries without one are skipped;
// nested Bundles are returned as they are). The result does not alias raw.
func Resources(raw []byte) ([]json.RawMessage, error) {
	rt, err := ResourceType(raw)
	if err != nil {
		return nil, err
	}
	if rt != "Bundle" {
		if !json.Valid(raw) {
			return nil, fmt.Errorf("resources: malformed JSON: %w", ErrInvalid)
		}
		return []json.RawMessage{bytes.Clone(raw)}, nil
	}
	var b struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := Unmarshal(raw, &b); err != nil {
		return nil, invalid("resources: bundle", err)
	}
	out := make([]json.RawMessage, 0, len(b.Entry))
	for _, e := range b.Entry {
		if len(e.Resource) > 0 && string(e.Resource) != "null" {
			out = append(out, e.Resource)
		}
	}
	return out, nil
}
