package view

import (
	"context"
	"errors"
	"fmt"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/aggregator"
)

// Worklist opens, for clinician p, the cached timelines of the patients in
// their scope that have a conflict on a day in [from, to] (civil dates
// YYYY-MM-DD, inclusive). The scope is the patients p looked up or viewed
// within Options.LookedUpWithin and, when the login carries p's
// organisation, the patients with an entry from it. A patient who blocks
// clinicians is left out. Nothing is built: a patient whose timeline is not
// cached is not on the list. Each patient shown, and only those, is audited
// (access.ActionWorklist) before the list is returned. Each View's Timeline
// holds only the conflicts in the period; its Patient and Name say who the
// patient is, for the clinician to tell patients apart.
func (v *Viewer) Worklist(ctx context.Context, p access.Principal, from, to string) ([]*View, error) {
	handles, err := v.scope(ctx, p)
	if err != nil {
		return nil, err
	}
	var out []*View
	var evs []access.Event
	for _, h := range handles {
		d, err := v.decide(ctx, p, h, access.ActionWorklist, "")
		if errors.Is(err, access.ErrNotVisible) {
			continue
		}
		if err != nil {
			return nil, err
		}
		tl, ok, err := v.tl.Cached(ctx, h)
		if err != nil {
			return nil, fmt.Errorf("worklist: %w", err)
		}
		if !ok {
			continue
		}
		vis := v.visible(tl, d.Restricted)
		var in []aggregator.Conflict
		for _, c := range vis.Conflicts {
			if c.Day >= from && c.Day <= to {
				in = append(in, c)
			}
		}
		if len(in) == 0 {
			continue
		}
		shown := *vis
		shown.Conflicts = in
		ref, ok, err := v.pats.Resolve(ctx, h)
		if err != nil {
			return nil, fmt.Errorf("worklist: resolve patient: %w", err)
		}
		if !ok {
			ref = aggregator.PatientRef{Handle: h} // cached, but its identifier is not known here
		}
		out = append(out, &View{Patient: ref, Name: v.name(ctx, p, d, h), Decision: d, Timeline: &shown})
		evs = append(evs, access.NewEvent(p, d, h, access.ActionWorklist, "", v.opts.Now()))
	}
	if len(evs) > 0 && v.opts.Access != nil {
		if err := v.opts.Access.AuditAll(ctx, evs); err != nil {
			return nil, fmt.Errorf("worklist: %w", err)
		}
	}
	return out, nil
}

// scope lists the handles a worklist considers, each once, at most
// WorklistMax: without access control every cached patient.
func (v *Viewer) scope(ctx context.Context, p access.Principal) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	add := func(hs []string) {
		for _, h := range hs {
			if !seen[h] && len(out) < v.opts.WorklistMax {
				seen[h] = true
				out = append(out, h)
			}
		}
	}
	if v.opts.Access == nil {
		if v.opts.Organizations == nil {
			return nil, nil
		}
		hs, err := v.opts.Organizations.PatientsOf(ctx, "")
		if err != nil {
			return nil, fmt.Errorf("worklist: %w", err)
		}
		add(hs)
		return out, nil
	}
	if !p.Has(access.RoleClinician) {
		return nil, fmt.Errorf("worklist: not a clinician: %w", access.ErrNotVisible)
	}
	hs, err := v.opts.Access.LookedUp(ctx, p, v.opts.Now().Add(-v.opts.LookedUpWithin), v.opts.WorklistMax)
	if err != nil {
		return nil, fmt.Errorf("worklist: %w", err)
	}
	add(hs)
	if p.Organization != "" && v.opts.Organizations != nil {
		hs, err := v.opts.Organizations.PatientsOf(ctx, p.Organization)
		if err != nil {
			return nil, fmt.Errorf("worklist: %w", err)
		}
		add(hs)
	}
	return out, nil
}
