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
// cost follows what the list shows, not the number of cached patients; all
// are decided, then read, at once, and each is shown only with a conflict
// in the period among the entries p may see. A patient who blocks
// clinicians is left out. Nothing is built: a patient whose timeline is
// not cached is not on the list. Each patient shown, and only those, is
// audited (access.ActionWorklist) before the list is returned. Each View's
// Timeline holds only the conflicts in the period, and may hold only the
// entries they name (aggregator.ConflictsOnly); its Patient and Name say
// who the patient is, for the clinician to tell patients apart.
func (v *Viewer) Worklist(ctx context.Context, p access.Principal, from, to string) ([]*View, error) {
	handles, err := v.scope(ctx, p, from, to)
	if err != nil {
		return nil, err
	}
	allowed, ds, err := v.decideAll(ctx, p, handles)
	if err != nil {
		return nil, err
	}
	tls, err := v.cachedConflicts(ctx, allowed)
	if err != nil {
		return nil, fmt.Errorf("worklist: %w", err)
	}
	// What is left per patient is in memory but for a viewer who may not
	// see a restricted entry (worklistEntry): a few at once, in the
	// scope's order.
	shown := make([]*View, len(allowed))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(worklistReads)
	for i, h := range allowed {
		g.Go(func() error {
			vw, err := v.worklistEntry(gctx, p, h, ds[i], tls[i], from, to)
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

// worklistReads is how many of a worklist's candidates are read on their
// own at once.
const worklistReads = 8

// decidesAll is an Access that decides for many patients at once, reading
// what it needs of the store in one round trip; *access.Service is one.
type decidesAll interface {
	DecideAll(ctx context.Context, p access.Principal, patients []string, a access.Action) ([]access.Decision, []error, error)
}

// decideAll keeps of handles those p may have on the worklist, with the
// decisions, in order.
func (v *Viewer) decideAll(ctx context.Context, p access.Principal, handles []string) ([]string, []access.Decision, error) {
	var allowed []string
	var out []access.Decision
	if da, ok := v.opts.Access.(decidesAll); ok && len(handles) > 0 {
		ds, refused, err := da.DecideAll(ctx, p, handles, access.ActionWorklist)
		if err != nil {
			return nil, nil, fmt.Errorf("view %s: %w", access.ActionWorklist, err)
		}
		for i, h := range handles {
			switch {
			case refused[i] == nil:
				allowed, out = append(allowed, h), append(out, ds[i])
			case !errors.Is(refused[i], access.ErrNotVisible):
				return nil, nil, fmt.Errorf("view %s: %w", access.ActionWorklist, refused[i])
			}
		}
		return allowed, out, nil
	}
	for _, h := range handles {
		d, err := v.decide(ctx, p, h, access.ActionWorklist, "")
		if errors.Is(err, access.ErrNotVisible) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		allowed, out = append(allowed, h), append(out, d)
	}
	return allowed, out, nil
}

// conflictsReader is Timelines that read many patients' conflicts at once
// (aggregator.ConflictsReader); *aggregator.Service is one.
type conflictsReader interface {
	CachedConflicts(ctx context.Context, handles []string) ([]*aggregator.Timeline, error)
}

// cachedConflicts is, per handle, the cached timeline or the part of it
// aggregator.ConflictsOnly keeps, nil when none is cached.
func (v *Viewer) cachedConflicts(ctx context.Context, handles []string) ([]*aggregator.Timeline, error) {
	if cr, ok := v.tl.(conflictsReader); ok {
		return cr.CachedConflicts(ctx, handles)
	}
	out := make([]*aggregator.Timeline, len(handles))
	for i, h := range handles {
		t, ok, err := v.tl.Cached(ctx, h)
		if err != nil {
			return nil, err
		}
		if ok {
			out[i] = t
		}
	}
	return out, nil
}

// worklistEntry is what the worklist shows of patient h, whom p may see
// under d, from tl (cachedConflicts'), nil for nothing: not cached, or no
// conflict in [from, to] among what p may see.
func (v *Viewer) worklistEntry(ctx context.Context, p access.Principal, h string, d access.Decision, tl *aggregator.Timeline, from, to string) (*View, error) {
	if tl == nil {
		return nil, nil // evicted or expired since the index named it
	}
	if !d.Restricted && hasRestricted(tl) {
		// Without the restricted entries the conflicts are found again
		// among all the others, which a conflicts-only copy lacks: the
		// whole timeline, as the patient's page would read it.
		var ok bool
		var err error
		if tl, ok, err = v.tl.Cached(ctx, h); err != nil {
			return nil, fmt.Errorf("worklist: %w", err)
		} else if !ok {
			return nil, nil
		}
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
