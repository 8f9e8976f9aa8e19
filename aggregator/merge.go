package aggregator

import (
	"cmp"
	"slices"
)

// merge turns the entries of all sources into the timeline's list: entries that
// belong to an appointment (an Encounter's appointment reference) fold into it,
// entered-in-error entries disappear, cancelled ones stay, and the result is
// sorted by start. The input is not modified.
func merge(in []Entry) []Entry {
	out := make([]Entry, 0, len(in))
	index := make(map[string]int, len(in))
	var parts []Entry
	for _, e := range in {
		if e.Status == StatusEnteredInError {
			continue
		}
		if len(e.PartOf) > 0 {
			parts = append(parts, e)
			continue
		}
		index[e.ID] = len(out)
		out = append(out, cloneEntry(e))
	}
	for _, p := range parts {
		folded := false
		for _, ref := range p.PartOf {
			if i, ok := index[ref]; ok {
				fold(&out[i], p)
				folded = true
				break
			}
		}
		if !folded {
			// The appointment is outside the window or unknown: the encounter still
			// happened, so it is shown on its own.
			p = cloneEntry(p)
			p.PartOf = nil
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b Entry) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// fold adds an encounter's facts to the appointment it belongs to. The
// appointment keeps its identity and booked time, which is what the patient
// knows; the encounter tells what actually happened.
func fold(a *Entry, enc Entry) {
	a.Provenance = append(a.Provenance, enc.Provenance...)
	if a.Status != StatusCancelled {
		switch enc.Status {
		case StatusInProgress, StatusOnLeave, StatusCompleted:
			a.Status = enc.Status // FHIRStatus stays the appointment's code
		}
	}
	if enc.Kind == KindAdmission {
		a.Kind = KindAdmission
		a.Start, a.End = enc.Start, enc.End
	}
	fill(&a.Title, enc.Title)
	fill(&a.Description, enc.Description)
	fill(&a.Instruction, enc.Instruction)
	fill(&a.Organization, enc.Organization)
	fill(&a.Contact, enc.Contact)
	if a.Place.Name == "" && a.Place.Address == "" {
		a.Place = enc.Place
	}
	if len(a.ServiceCodes) == 0 {
		a.ServiceCodes = slices.Clone(enc.ServiceCodes)
	}
	if len(a.People) == 0 {
		a.People = append([]string(nil), enc.People...)
	}
	// A source that shares only generic detail does so for all its resources.
	a.Generic = a.Generic || enc.Generic
	if enc.Sensitivity == SensitivityRestricted {
		a.Sensitivity = SensitivityRestricted
	}
	if enc.Updated.After(a.Updated) {
		a.Updated = enc.Updated
	}
	if enc.Stale {
		a.Stale = true
	}
}

func fill(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

// cloneEntry copies the slices so a cached timeline never shares backing
// arrays with the batch a source returned.
func cloneEntry(e Entry) Entry {
	e.People = slices.Clone(e.People)
	e.Provenance = slices.Clone(e.Provenance)
	e.PartOf = slices.Clone(e.PartOf)
	e.ServiceCodes = slices.Clone(e.ServiceCodes)
	return e
}
