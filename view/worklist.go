package view

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/aggregator"
)

// Worklist opens, for clinician p, the cached timelines of the patients in
// their scope that have a conflict on a day in [from, to] (civil dates
// YYYY-MM-DD, inclusive). The scope is the patients p looked up or viewed
// within Options.LookedUpWithin and, with Options.ByOrganization and a
// login that carries p's organisation, the patients with an entry from it.
// The candidates come from the conflict index (Options.Conflicted), so the
// cost follows what the list shows, not the number of cached patients; each
// is then decided and read, and shown only with a conflict in the period
// among the entries p may see. A patient who blocks clinicians is left out.
// Nothing is built: a patient whose timeline is not cached is not on the
// list. Each patient shown, and only those, is audited
// (access.ActionWorklist) before the list is returned. Each View's Timeline
// holds only the conflicts in the period; its Patient and Name say who the
// patient is, for the clinician to tell patients apart.
func (v *Viewer) Worklist(ctx context.Context, p access.Principal, from, to string) ([]*View, error) {
	handles, err := v.scope(ctx, p, from, to)
	if err != nil {
		return nil, err
	}
	// Each candidate is decided and read on its own (a block looked up,
	// a timeline read): a few at once, so the list waits for the slowest
	// few, not for all in a row. The order stays the scope's.
	shown := make([]*View, len(handles))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(worklistReads)
	for i, h := range handles {
		g.Go(func() error {
			vw, err := v.worklistEntry(gctx, p, h, from, to)
			shown[i] = vw
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []*View
	var evs []access.Event
	for _, vw := range shown {
		if vw != nil {
			out = append(out, vw)
			evs = append(evs, access.NewEvent(p, vw.Decision, vw.Patient.Handle, access.ActionWorklist, "", v.opts.Now()))
		}
	}
	if len(evs) > 0 && v.opts.Access != nil {
		if err := v.opts.Access.AuditAll(ctx, evs); err != nil {
			return nil, fmt.Errorf("worklist: %w", err)
		}
	}
	return out, nil
}

// worklistReads is how many of a worklist's candidates are decided and
// read at once.
const worklistReads = 8

// worklistEntry is what the worklist shows of patient h, nil for nothing:
// not visible to p, not cached, or no conflict in [from, to] among what p
// may see.
func (v *Viewer) worklistEntry(ctx context.Context, p access.Principal, h, from, to string) (*View, error) {
	d, err := v.decide(ctx, p, h, access.ActionWorklist, "")
	if errors.Is(err, access.ErrNotVisible) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	tl, ok, err := v.tl.Cached(ctx, h)
	if err != nil {
		return nil, fmt.Errorf("worklist: %w", err)
	}
	if !ok {
		return nil, nil // evicted or expired since the index named it
	}
	// The index only proposes: what is shown is what the timeline holds
	// now, among the entries this viewer may see.
	vis, _ := v.visible(tl, d.Restricted)
	var in []aggregator.Conflict
	for _, c := range vis.Conflicts {
		if c.Day >= from && c.Day <= to {
			in = append(in, c)
		}
	}
	if len(in) == 0 {
		return nil, nil
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
	return &View{Patient: ref, Name: v.name(ctx, p, d, h), Decision: d, Timeline: &shown}, nil
}

// scope lists the handles a worklist considers, each once, at most
// WorklistMax: those of p's scope with a conflict in [from, to] by the
// index, or, without one, every patient p looked up. Without access control
// it is every patient the index names.
func (v *Viewer) scope(ctx context.Context, p access.Principal, from, to string) ([]string, error) {
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
	idx := v.opts.Conflicted
	if v.opts.Access == nil {
		if idx == nil {
			return nil, nil
		}
		hs, err := idx.Conflicted(ctx, from, to, "", v.opts.WorklistMax)
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
	if idx != nil {
		if hs, err = idx.ConflictedAmong(ctx, from, to, hs); err != nil {
			return nil, fmt.Errorf("worklist: %w", err)
		}
	}
	add(hs)
	if p.Organization != "" && v.opts.ByOrganization && idx != nil {
		hs, err := idx.Conflicted(ctx, from, to, p.Organization, v.opts.WorklistMax)
		if err != nil {
			return nil, fmt.Errorf("worklist: %w", err)
		}
		add(hs)
	}
	return out, nil
}
