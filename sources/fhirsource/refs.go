package fhirsource

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
	"golang.org/x/sync/errgroup"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/fhir"
)

// party is what we show of a referenced Location, Practitioner,
// Organization or HealthcareService.
type party struct {
	Type     string // resource type
	Name     string
	Address  string
	Lat, Lon *float64
	Phone    string
	VideoURL string // an https url in telecom (aggregator.SafeURL): how video rooms are commonly published
	Home     bool   // a Location that is the patient's own home (v3 RoleCode PTRES)
	Virtual  bool   // a Location that is a virtual room (physical type "vi")
	// A PractitionerRole names its practitioner by reference; Role is the
	// role's own text, the last resort for a name.
	Practitioner string
	Role         string
}

// refCache remembers referenced resources per source: the same Location and
// Practitioner appear on most of a patient's appointments, and on every
// patient's at the same clinic.
type refCache struct {
	mu    sync.Mutex
	items map[string]party
}

const refCacheMax = 10_000

func (c *refCache) get(ref string) (party, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.items[ref]
	return p, ok
}

func (c *refCache) put(ref string, p party) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.items == nil || len(c.items) >= refCacheMax {
		c.items = make(map[string]party) // crude, but bounded; refills from the source
	}
	c.items[ref] = p
}

// resolvable types: references to anything else keep their display only.
var partyTypes = map[string]bool{"Location": true, "Practitioner": true, "PractitionerRole": true, "Organization": true, "HealthcareService": true}

// localRef splits "Location/123" (or an absolute URL under base) into type and
// id; ok is false for contained, foreign or malformed references.
func localRef(base, ref string) (typ, id string, ok bool) {
	ref = strings.TrimPrefix(ref, strings.TrimSuffix(base, "/")+"/")
	parts := strings.Split(ref, "/")
	if len(parts) == 4 && parts[2] == "_history" {
		parts = parts[:2]
	}
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" || strings.Contains(ref, "://") {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// resolveAll reads every referenced party not yet cached, a few at a time.
// A reference that cannot be read is not an error: the entry falls back to
// the reference's display, and settled is false, since the next read may
// do better.
func (s *Source) resolveAll(ctx context.Context, refs map[string]bool) (settled bool) {
	settled = s.readParties(ctx, refs)
	// A PractitionerRole without its practitioner's name needs a second
	// round for the Practitioner.
	more := map[string]bool{}
	for ref := range refs {
		if typ, id, ok := localRef(s.cfg.BaseURL, ref); ok && typ == "PractitionerRole" {
			if p, ok := s.refs.get(typ + "/" + id); ok && p.Name == "" && p.Practitioner != "" {
				more[p.Practitioner] = true
			}
		}
	}
	if len(more) > 0 && !s.readParties(ctx, more) {
		settled = false
	}
	return settled
}

// readParties reads the parties in refs not yet cached; false when one of
// them could not be read.
func (s *Source) readParties(ctx context.Context, refs map[string]bool) bool {
	var failed atomic.Bool
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for ref := range refs {
		typ, id, ok := localRef(s.cfg.BaseURL, ref)
		if !ok || !partyTypes[typ] {
			continue
		}
		if _, ok := s.refs.get(typ + "/" + id); ok {
			continue
		}
		g.Go(func() error {
			raw, err := s.client.Read(ctx, typ, id)
			if err != nil {
				failed.Store(true)
				return nil
			}
			if p, err := decodeParty(raw); err == nil && p.Type == typ {
				s.refs.put(typ+"/"+id, p)
			}
			return nil
		})
	}
	_ = g.Wait()
	return !failed.Load()
}

// lookup finds what a reference points to: a contained resource, a resolved
// one, or only the display the reference carries.
func (s *Source) lookup(ref *r4.Reference, contained map[string]party) party {
	if ref == nil {
		return party{}
	}
	display := deref(ref.Display)
	r := deref(ref.Reference)
	var p party
	var ok bool
	switch {
	case strings.HasPrefix(r, "#"):
		p, ok = contained[r[1:]]
	case r != "":
		if typ, id, local := localRef(s.cfg.BaseURL, r); local {
			p, ok = s.refs.get(typ + "/" + id)
			if !ok {
				p.Type = typ
			}
		}
	}
	if !ok && ref.Type != nil && p.Type == "" {
		p.Type = *ref.Type
	}
	if p.Name == "" && p.Practitioner != "" {
		if typ, id, local := localRef(s.cfg.BaseURL, p.Practitioner); local && typ == "Practitioner" {
			pr, _ := s.refs.get(typ + "/" + id)
			p.Name = pr.Name
		}
	}
	if p.Name == "" {
		p.Name = firstNonEmpty(display, p.Role)
	}
	return p
}

// decodeParty reads a Location, Practitioner, Organization or HealthcareService.
func decodeParty(raw json.RawMessage) (party, error) {
	typ, err := fhir.ResourceType(raw)
	if err != nil {
		return party{}, err
	}
	p := party{Type: typ}
	switch typ {
	case "Location":
		var l r4.Location
		if err := fhir.Unmarshal(raw, &l); err != nil {
			return party{}, err
		}
		p.Name = deref(l.Name)
		p.Address = formatAddress(l.Address)
		if l.Position != nil {
			lat, errLat := l.Position.Latitude.Float64()
			lon, errLon := l.Position.Longitude.Float64()
			if errLat == nil && errLon == nil {
				p.Lat, p.Lon = &lat, &lon
			}
		}
		p.Phone, p.VideoURL = telecom(l.Telecom)
		for _, t := range l.Type {
			if hasCode(&t, "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "PTRES") {
				p.Home = true
			}
		}
		p.Virtual = hasCode(l.PhysicalType, sysLocationPhysicalType, "vi")
	case "Practitioner":
		var pr r4.Practitioner
		if err := fhir.Unmarshal(raw, &pr); err != nil {
			return party{}, err
		}
		if len(pr.Name) > 0 {
			p.Name = formatName(pr.Name[0])
		}
		p.Phone, _ = telecom(pr.Telecom)
	case "PractitionerRole":
		var pr r4.PractitionerRole
		if err := fhir.Unmarshal(raw, &pr); err != nil {
			return party{}, err
		}
		if pr.Practitioner != nil {
			p.Name = deref(pr.Practitioner.Display)
			p.Practitioner = deref(pr.Practitioner.Reference)
		}
		p.Role = textOf(pr.Code)
		p.Phone, p.VideoURL = telecom(pr.Telecom)
	case "Organization":
		var o r4.Organization
		if err := fhir.Unmarshal(raw, &o); err != nil {
			return party{}, err
		}
		p.Name = deref(o.Name)
		if len(o.Address) > 0 {
			p.Address = formatAddress(&o.Address[0])
		}
		p.Phone, _ = telecom(o.Telecom)
	case "HealthcareService":
		var h r4.HealthcareService
		if err := fhir.Unmarshal(raw, &h); err != nil {
			return party{}, err
		}
		p.Name = deref(h.Name)
		p.Phone, p.VideoURL = telecom(h.Telecom)
	}
	return p, nil
}

// containedParties indexes a resource's contained parties by their local id.
func containedParties(raws []json.RawMessage) map[string]party {
	if len(raws) == 0 {
		return nil
	}
	out := make(map[string]party, len(raws))
	for _, raw := range raws {
		var head struct {
			ID string `json:"id"`
		}
		if fhir.Unmarshal(raw, &head) != nil || head.ID == "" {
			continue
		}
		if p, err := decodeParty(raw); err == nil {
			out[head.ID] = p
		}
	}
	return out
}

func telecom(cps []r4.ContactPoint) (phone, url string) {
	for _, cp := range cps {
		if cp.System == nil || cp.Value == nil {
			continue
		}
		switch *cp.System {
		case r4.ContactPointSystemPhone:
			if phone == "" {
				phone = *cp.Value
			}
		case r4.ContactPointSystemUrl:
			if url == "" {
				url = aggregator.SafeURL(*cp.Value)
			}
		}
	}
	return phone, url
}

func formatName(n r4.HumanName) string {
	if n.Text != nil && *n.Text != "" {
		return *n.Text
	}
	parts := append(append([]string{}, n.Prefix...), n.Given...)
	if n.Family != nil {
		parts = append(parts, *n.Family)
	}
	return strings.Join(parts, " ")
}

func formatAddress(a *r4.Address) string {
	if a == nil {
		return ""
	}
	if a.Text != nil && *a.Text != "" {
		return *a.Text
	}
	var parts []string
	parts = append(parts, a.Line...)
	city := strings.TrimSpace(deref(a.PostalCode) + " " + deref(a.City))
	if city != "" {
		parts = append(parts, city)
	}
	return strings.Join(parts, ", ")
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func hasCode(cc *r4.CodeableConcept, system, code string) bool {
	if cc == nil {
		return false
	}
	for _, c := range cc.Coding {
		if deref(c.System) == system && deref(c.Code) == code {
			return true
		}
	}
	return false
}

// text is what a person reads of a concept: its text, else the first display.
func text(cc *r4.CodeableConcept) string {
	if cc == nil {
		return ""
	}
	if cc.Text != nil && *cc.Text != "" {
		return *cc.Text
	}
	for _, c := range cc.Coding {
		if c.Display != nil && *c.Display != "" {
			return *c.Display
		}
	}
	return ""
}
