package fhirsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// validType accepts resource type names: a capital letter, then letters.
func validType(s string) bool {
	if len(s) < 2 || len(s) > 64 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// validID applies FHIR's id rule: [A-Za-z0-9\-\.]{1,64}.
func validID(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// interval is the half-open range [lo, hi) a FHIR date, dateTime or instant
// stands for at its precision; noLo and noHi mark an open side (an Encounter
// still going on).
type interval struct {
	lo, hi     time.Time
	noLo, noHi bool
}

type token struct{ system, value string }

// resource is one stored resource with what searching needs, extracted once.
type resource struct {
	typ, id     string
	raw         []byte
	versionID   string
	lastUpdated *interval
	date        *interval // Appointment.start, Encounter.period
	patients    []string  // ids of the Patients it refers to
	identifiers []token
	refs        []string // raw patient-ish references, resolved after loading
}

// probe is the part of any resource the index reads.
type probe struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Meta         struct {
		VersionID   string `json:"versionId"`
		LastUpdated string `json:"lastUpdated"`
	} `json:"meta"`
	Identifier []struct {
		System string `json:"system"`
		Value  string `json:"value"`
	} `json:"identifier"`
	Subject     *struct{ Reference string } `json:"subject"`
	Patient     *struct{ Reference string } `json:"patient"`
	Participant []struct {
		Actor *struct{ Reference string } `json:"actor"`
	} `json:"participant"`
	Start  string `json:"start"`
	Period *struct {
		Start string `json:"start"`
		End   string `json:"end"`
	} `json:"period"`
}

func index(raw json.RawMessage, zone *time.Location) (*resource, error) {
	var p probe
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if !validType(p.ResourceType) {
		return nil, fmt.Errorf("bad or missing resourceType %q", p.ResourceType)
	}
	if !validID(p.ID) {
		return nil, fmt.Errorf("%s: bad or missing id %q", p.ResourceType, p.ID)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return nil, fmt.Errorf("%s/%s: %w", p.ResourceType, p.ID, err)
	}
	r := &resource{typ: p.ResourceType, id: p.ID, raw: compact.Bytes(), versionID: p.Meta.VersionID}
	if p.Meta.LastUpdated != "" {
		lo, hi, err := parseTime(p.Meta.LastUpdated, zone)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: meta.lastUpdated: %w", r.typ, r.id, err)
		}
		r.lastUpdated = &interval{lo: lo, hi: hi}
	}
	switch r.typ {
	case "Appointment":
		if p.Start != "" {
			lo, hi, err := parseTime(p.Start, zone)
			if err != nil {
				return nil, fmt.Errorf("%s/%s: start: %w", r.typ, r.id, err)
			}
			r.date = &interval{lo: lo, hi: hi}
		}
	case "Encounter":
		if p.Period != nil && (p.Period.Start != "" || p.Period.End != "") {
			iv := &interval{noLo: p.Period.Start == "", noHi: p.Period.End == ""}
			if !iv.noLo {
				lo, _, err := parseTime(p.Period.Start, zone)
				if err != nil {
					return nil, fmt.Errorf("%s/%s: period.start: %w", r.typ, r.id, err)
				}
				iv.lo = lo
			}
			if !iv.noHi {
				_, hi, err := parseTime(p.Period.End, zone)
				if err != nil {
					return nil, fmt.Errorf("%s/%s: period.end: %w", r.typ, r.id, err)
				}
				iv.hi = hi
			}
			r.date = iv
		}
	}
	for _, id := range p.Identifier {
		r.identifiers = append(r.identifiers, token{system: id.System, value: id.Value})
	}
	if p.Subject != nil {
		r.refs = append(r.refs, p.Subject.Reference)
	}
	if p.Patient != nil {
		r.refs = append(r.refs, p.Patient.Reference)
	}
	for _, pt := range p.Participant {
		if pt.Actor != nil {
			r.refs = append(r.refs, pt.Actor.Reference)
		}
	}
	return r, nil
}

// refID returns the id a reference gives for resourceType: "Patient/1",
// "1" (bare ids only when bare is set), an absolute URL ending in Patient/1,
// each optionally with /_history/n.
func refID(ref, resourceType string, bare bool) (string, bool) {
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	prefix := resourceType + "/"
	if i := strings.LastIndex(ref, prefix); i >= 0 && (i == 0 || ref[i-1] == '/') {
		id := ref[i+len(prefix):]
		if validID(id) {
			return id, true
		}
		return "", false
	}
	if bare && validID(ref) {
		return ref, true
	}
	return "", false
}

// resolvePatients turns raw references into Patient ids; "urn:uuid:" ones
// (transaction Bundles) count when a Patient with that id is stored.
func resolvePatients(r *resource, byKey map[string]*resource) {
	seen := map[string]bool{}
	for _, ref := range r.refs {
		id, ok := refID(ref, "Patient", false)
		if !ok {
			if u, isURN := strings.CutPrefix(ref, "urn:uuid:"); isURN && byKey["Patient/"+u] != nil {
				id, ok = u, true
			}
		}
		if ok && !seen[id] {
			seen[id] = true
			r.patients = append(r.patients, id)
		}
	}
	r.refs = nil
}

// sortResources orders by date (undated last), then id, so pages are stable.
func sortResources(rs []*resource) {
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i].date, rs[j].date
		switch {
		case a != nil && b == nil:
			return true
		case a == nil && b != nil:
			return false
		case a != nil && b != nil && !a.noLo && !b.noLo && !a.lo.Equal(b.lo):
			return a.lo.Before(b.lo)
		case a != nil && b != nil && a.noLo != b.noLo:
			return a.noLo
		}
		return rs[i].id < rs[j].id
	})
}
