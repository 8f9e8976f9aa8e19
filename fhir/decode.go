package fhir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"

	"github.com/go-json-experiment/json/jsontext"

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

// The wire forms decode a resource with the samply model in one pass, but
// take its status and the coded children listed below as strings: the
// model's enum decoders fail the whole resource on a code they do not
// know, and turn a missing one into their first. Shadowing the model's
// fields by name keeps them out of its hands.
type appointmentWire struct {
	r4.Appointment
	ResourceType string            `json:"resourceType"`
	Status       *string           `json:"status"`
	Participant  []participantWire `json:"participant"`
	Contained    []json.RawMessage `json:"contained"`
}

type participantWire struct {
	r4.AppointmentParticipant
	Status   *string `json:"status"`
	Required *string `json:"required"`
}

type encounterWire struct {
	r4.Encounter
	ResourceType  string              `json:"resourceType"`
	Status        *string             `json:"status"`
	StatusHistory []statusHistoryWire `json:"statusHistory"`
	Location      []locationWire      `json:"location"`
	Contained     []json.RawMessage   `json:"contained"`
}

type statusHistoryWire struct {
	r4.EncounterStatusHistory
	Status *string `json:"status"`
}

type locationWire struct {
	r4.EncounterLocation
	Status *string `json:"status"`
}

// DecodeAppointment decodes an Appointment with the samply model, checking
// what it does not: resourceType must be "Appointment" and status must be
// present (samply turns a missing one into "proposed"). An unknown status
// code, or an unknown participant status or required code, does not lose
// the resource: see Appointment. Other unknown codes inside (identifier use,
// narrative status, ...) still fail with ErrInvalid.
func DecodeAppointment(raw []byte) (*Appointment, error) {
	const rt = "Appointment"
	var w appointmentWire
	if err := Unmarshal(raw, &w); err != nil {
		return nil, invalid("decode "+rt, err)
	}
	if err := checkHead(rt, w.ResourceType, w.Status); err != nil {
		return nil, err
	}
	out := &Appointment{Appointment: w.Appointment, RawStatus: *w.Status, Contained: w.Contained}
	out.Status, out.KnownStatus = known[r4.AppointmentStatus](*w.Status)
	out.Participant = nil
	if w.Participant != nil {
		out.Participant = make([]r4.AppointmentParticipant, len(w.Participant))
	}
	for i, e := range w.Participant {
		p := e.AppointmentParticipant
		switch st, ok := knownPtr[r4.ParticipationStatus](e.Status); {
		case e.Status == nil: // required in R4; the model would say "accepted"
			out.Dropped = append(out.Dropped, path{"participant", i, "status"}.String())
		case !ok:
			out.Dropped = append(out.Dropped, path{"participant", i, "status"}.String())
		default:
			p.Status = st
		}
		if e.Required != nil {
			if req, ok := known[r4.ParticipantRequired](*e.Required); ok {
				p.Required = &req
			} else {
				out.Dropped = append(out.Dropped, path{"participant", i, "required"}.String())
			}
		}
		out.Participant[i] = p
	}
	out.Dropped = sortedSet(out.Dropped)
	return out, nil
}

// DecodeEncounter decodes an Encounter like DecodeAppointment does; unknown
// codes in statusHistory[].status and location[].status are dropped and
// listed, a missing statusHistory[].status is listed.
func DecodeEncounter(raw []byte) (*Encounter, error) {
	const rt = "Encounter"
	var w encounterWire
	if err := Unmarshal(raw, &w); err != nil {
		return nil, invalid("decode "+rt, err)
	}
	if err := checkHead(rt, w.ResourceType, w.Status); err != nil {
		return nil, err
	}
	out := &Encounter{Encounter: w.Encounter, RawStatus: *w.Status, Contained: w.Contained}
	out.Status, out.KnownStatus = known[r4.EncounterStatus](*w.Status)
	out.StatusHistory = nil
	if w.StatusHistory != nil {
		out.StatusHistory = make([]r4.EncounterStatusHistory, len(w.StatusHistory))
	}
	for i, e := range w.StatusHistory {
		h := e.EncounterStatusHistory
		if st, ok := knownPtr[r4.EncounterStatus](e.Status); ok {
			h.Status = st
		} else {
			out.Dropped = append(out.Dropped, path{"statusHistory", i, "status"}.String())
		}
		out.StatusHistory[i] = h
	}
	out.Location = nil
	if w.Location != nil {
		out.Location = make([]r4.EncounterLocation, len(w.Location))
	}
	for i, e := range w.Location {
		l := e.EncounterLocation
		if e.Status != nil {
			if st, ok := known[r4.EncounterLocationStatus](*e.Status); ok {
				l.Status = &st
			} else {
				out.Dropped = append(out.Dropped, path{"location", i, "status"}.String())
			}
		}
		out.Location[i] = l
	}
	out.Dropped = sortedSet(out.Dropped)
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

// enum is a samply code type: an int whose values 0, 1, ... have codes,
// and whose other values all have the same placeholder code.
type enum interface {
	~int
	Code() string
}

// enumCodes holds each enum type's codes, made once (codesOf).
var enumCodes sync.Map // reflect.Type -> map[string]int

// codesOf maps T's codes to its values.
func codesOf[T enum]() map[string]int {
	key := reflect.TypeFor[T]()
	if m, ok := enumCodes.Load(key); ok {
		return m.(map[string]int)
	}
	m := map[string]int{}
	seen := map[string]int{}
	for i := 0; i < 1024; i++ {
		c := T(i).Code()
		if first, ok := seen[c]; ok {
			// The placeholder of the values past the last: it was the
			// code of the first of them, and is no code.
			delete(m, T(first).Code())
			break
		}
		seen[c], m[c] = i, i
	}
	enumCodes.Store(key, m)
	return m
}

// known reports whether code is one of the samply enum T's codes, and its value.
func known[T enum](code string) (T, bool) {
	v, ok := codesOf[T]()[code]
	return T(v), ok
}

// knownPtr is known for a code that may be absent (false then).
func knownPtr[T enum](code *string) (T, bool) {
	if code == nil {
		return 0, false
	}
	return known[T](*code)
}

// path names one coded child of an array element, e.g. participant[1].status.
type path struct {
	array string
	index int
	field string
}

func (p path) String() string { return fmt.Sprintf("%s[%d].%s", p.array, p.index, p.field) }

func sortedSet(list []string) []string {
	slices.Sort(list)
	return slices.Compact(list)
}

// ResourceType returns the "resourceType" of a JSON object. It reads only up
// to that member (servers write it first), so it does not validate the rest.
func ResourceType(raw []byte) (string, error) {
	// Servers write it first: read that without a decoder.
	sc := &scanner{b: raw}
	if sc.open('{') == nil {
		if name, err := sc.name(); err == nil && named(name, "resourceType") && sc.peek() == '"' {
			if rt, err := sc.str(); err == nil && rt != "" {
				return rt, nil
			}
		}
	}
	dec := jsontext.NewDecoder(bytes.NewBuffer(raw), parseOptions)
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return "", fmt.Errorf("resourceType: not a JSON object: %w", ErrInvalid)
	}
	for dec.PeekKind() != '}' {
		name, err := dec.ReadValue()
		if err != nil {
			return "", invalid("resourceType", err)
		}
		if named(name, "resourceType") {
			tok, err := dec.ReadToken()
			if err != nil || tok.Kind() != '"' || tok.String() == "" {
				return "", fmt.Errorf("resourceType: not a non-empty string: %w", ErrInvalid)
			}
			return tok.String(), nil
		}
		if err := dec.SkipValue(); err != nil {
			return "", invalid("resourceType", err)
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return "", invalid("resourceType", err)
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
