package fhirsource

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/fhir"
)

// Danish person identifier systems.
const (
	// SystemCPR is the CPR number.
	SystemCPR = "urn:oid:1.2.208.176.1.2"
	// SystemECPR is the root of the replacement (eCPR) numbers given to
	// people without a CPR number; issuers use sub-OIDs of it, and a source
	// may hold a number under the root or under the issuer's sub-OID.
	SystemECPR = "urn:oid:1.2.208.176.1.6.1.1"
)

// maxLinkHops bounds how many replaced-by links are followed.
const maxLinkHops = 4

func isECPR(system string) bool {
	return system == SystemECPR || strings.HasPrefix(system, SystemECPR+".")
}

// sameIdentifier reports whether a Patient's identifier is the one looked
// for: the same value in the same system, or in any two eCPR systems.
func sameIdentifier(want aggregator.Identifier, system, value string) bool {
	if value != want.Value {
		return false
	}
	return system == want.System || isECPR(want.System) && isECPR(system)
}

// patient is whom a fetch is for on this server: the Patient id searched
// for, and every Patient id that stands for the same person.
type patient struct {
	id   string
	same map[string]bool // id itself, the records it replaced or was found by, and those it links to
	// name is the person's name as this server has it (the official one,
	// else the first): personal data, never logged.
	name string
}

// patientID resolves the identifier to this server's Patient and
// remembers it for FullReread: ids are stable, and the look-up would double
// every fetch, but records do get merged (replaced-by) now and then.
//
// Records replaced by another (Patient.link replaced-by) are followed to the
// record that replaced them; two records that remain for one identifier are
// an error of kind Invalid, never a guess.
func (s *Source) patientID(ctx context.Context, budget *fhir.ByteBudget, id aggregator.Identifier) (patient, error) {
	now := s.cfg.Now()
	s.mu.Lock()
	known, ok := s.ids[id]
	s.mu.Unlock()
	if ok && now.Sub(known.at) < s.cfg.FullReread {
		return known.patient, nil
	}
	token := id.String()
	if isECPR(id.System) {
		// A token without a system matches any; sameIdentifier then keeps
		// the eCPR systems only.
		token = id.Value
	}
	res, err := s.client.SearchWithin(ctx, budget, "Patient", url.Values{"identifier": {token}})
	if err != nil {
		return patient{}, s.wrap("patient look-up", err)
	}
	if err := s.cutOff(res); err != nil {
		return patient{}, err // a record cut off could be the second one for this identifier
	}
	found := map[string]patient{}
	for _, raw := range res.Resources {
		if t, _ := fhir.ResourceType(raw); t != "Patient" {
			continue
		}
		pat, err := fhir.DecodePatient(raw)
		if err != nil || pat.Id == nil || !hasIdentifier(pat, id) {
			continue
		}
		final, chain, err := s.followReplacedBy(ctx, pat)
		if err != nil {
			return patient{}, err
		}
		if final.Active != nil && !*final.Active {
			continue
		}
		p, ok := found[*final.Id]
		if !ok {
			p = patient{id: *final.Id, same: map[string]bool{*final.Id: true}, name: personName(final.Name)}
			s.addLinks(p.same, final)
		}
		for _, c := range chain {
			p.same[*c.Id] = true
			s.addLinks(p.same, c)
		}
		found[*final.Id] = p
	}
	switch len(found) {
	case 0:
		return patient{}, &aggregator.SourceError{Source: s.cfg.Name, Kind: aggregator.NotFound, Msg: "the patient is not known to this source"}
	case 1:
	default:
		// Two records for one person is for the source to fix; guessing could
		// show another person's appointments.
		return patient{}, &aggregator.SourceError{Source: s.cfg.Name, Kind: aggregator.Invalid,
			Msg: fmt.Sprintf("%d patient records match the identifier", len(found))}
	}
	var pat patient
	for _, only := range found {
		pat = only
	}
	s.mu.Lock()
	if len(s.ids) >= 100_000 {
		s.ids = make(map[aggregator.Identifier]knownPatient) // bounded; refilled on demand
	}
	s.ids[id] = knownPatient{patient: pat, at: now}
	s.mu.Unlock()
	return pat, nil
}

// is reports whether ref names one of the patient's records.
func (p patient) is(ref string) bool {
	id, ok := patientRef(ref)
	return ok && p.same[id]
}

// namedBy reports whether one of a's participants is the patient.
func (p patient) namedBy(a *fhir.Appointment) bool {
	for _, part := range a.Participant {
		if part.Actor != nil && p.is(deref(part.Actor.Reference)) {
			return true
		}
	}
	return false
}

// addLinks adds the Patients pat links to, of any link type: Patient.link
// always names a record of the same person.
func (s *Source) addLinks(same map[string]bool, pat *r4.Patient) {
	for _, l := range pat.Link {
		if id, ok := patientRef(deref(l.Other.Reference)); ok {
			same[id] = true
		}
	}
}

// knownPatient is a resolved identifier.
type knownPatient struct {
	patient
	at time.Time
}

// patientRef reads the Patient id from a reference: Patient/id, an
// absolute URL ending in it (servers behind a proxy may write their own
// base), either with /_history/n.
func patientRef(ref string) (string, bool) {
	parts := strings.Split(ref, "/")
	if len(parts) >= 4 && parts[len(parts)-2] == "_history" {
		parts = parts[:len(parts)-2]
	}
	if len(parts) < 2 || parts[len(parts)-2] != "Patient" || parts[len(parts)-1] == "" {
		return "", false
	}
	if len(parts) > 2 && !strings.Contains(ref, "://") {
		return "", false
	}
	return parts[len(parts)-1], true
}

func hasIdentifier(pat *r4.Patient, id aggregator.Identifier) bool {
	for _, pi := range pat.Identifier {
		if sameIdentifier(id, deref(pi.System), deref(pi.Value)) {
			return true
		}
	}
	return false
}

// followReplacedBy reads the records that replaced pat, if any, and returns
// the last one and the ones before it (pat first).
func (s *Source) followReplacedBy(ctx context.Context, pat *r4.Patient) (*r4.Patient, []*r4.Patient, error) {
	seen := map[string]bool{*pat.Id: true}
	var chain []*r4.Patient
	for range maxLinkHops {
		next := ""
		for _, l := range pat.Link {
			if l.Type != r4.LinkTypeReplacedBy {
				continue
			}
			if typ, lid, ok := localRef(s.cfg.BaseURL, deref(l.Other.Reference)); ok && typ == "Patient" {
				next = lid
				break
			}
		}
		if next == "" {
			return pat, chain, nil
		}
		if seen[next] {
			return nil, nil, &aggregator.SourceError{Source: s.cfg.Name, Kind: aggregator.Invalid,
				Msg: "patient records replace each other in a loop"}
		}
		seen[next] = true
		raw, err := s.client.Read(ctx, "Patient", next)
		if err != nil {
			return nil, nil, s.wrap("reading the patient record that replaced the one found", err)
		}
		np, err := fhir.DecodePatient(raw)
		if err != nil || np.Id == nil {
			return nil, nil, &aggregator.SourceError{Source: s.cfg.Name, Kind: aggregator.Invalid,
				Msg: "the patient record that replaced the one found does not decode", Err: err}
		}
		chain = append(chain, pat)
		pat = np
	}
	return nil, nil, &aggregator.SourceError{Source: s.cfg.Name, Kind: aggregator.Invalid,
		Msg: fmt.Sprintf("more than %d replaced-by links between patient records", maxLinkHops)}
}

// personName is the name to show for a Patient: the official one, else the
// usual, else the first that says anything.
func personName(names []r4.HumanName) string {
	for _, use := range []r4.NameUse{r4.NameUseOfficial, r4.NameUseUsual} {
		for _, n := range names {
			if n.Use != nil && *n.Use == use {
				if s := strings.TrimSpace(formatName(n)); s != "" {
					return s
				}
			}
		}
	}
	for _, n := range names {
		if s := strings.TrimSpace(formatName(n)); s != "" {
			return s
		}
	}
	return ""
}
