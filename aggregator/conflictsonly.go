package aggregator

import (
	"context"
	"fmt"
)

// ConflictsReader is what a Cache may offer for views across patients that
// need only their conflicts (a worklist): each timeline cut down to what
// ConflictsOnly keeps, read for many patients at once.
type ConflictsReader interface {
	// GetConflicts returns, in the order of handles, each patient's cached
	// timeline or ConflictsOnly of it, nil for a patient with none.
	GetConflicts(ctx context.Context, handles []string) ([]*Timeline, error)
}

// ConflictsOnly is t with only the entries its conflicts name and its
// restricted ones: all a worklist shows of a patient, kept small. The
// restricted entries stay so that a reader can tell, from the copy alone,
// whether a viewer who may not see them would see other conflicts (and
// then read the whole timeline). Patient, times, window and sources (their
// counts included) are t's. The entries are shared with t: read only.
func ConflictsOnly(t *Timeline) *Timeline {
	named := make(map[string]bool)
	for _, c := range t.Conflicts {
		for _, id := range c.Entries {
			named[id] = true
		}
	}
	kept := func(e *Entry) bool { return named[e.ID] || e.Sensitivity == SensitivityRestricted }
	// Counted first: a third of a timeline's entries, grown by appends, were
	// most of what a build allocated for its projection.
	n := 0
	for i := range t.Entries {
		if kept(&t.Entries[i]) {
			n++
		}
	}
	out := *t
	out.Entries = nil
	if n > 0 {
		out.Entries = make([]Entry, 0, n)
	}
	for i := range t.Entries {
		if kept(&t.Entries[i]) {
			out.Entries = append(out.Entries, t.Entries[i])
		}
	}
	return &out
}

// CachedConflicts returns, in the order of handles, each patient's cached
// timeline or ConflictsOnly of it (see ConflictsReader), nil for a patient
// whose timeline is not cached; nothing is built.
func (s *Service) CachedConflicts(ctx context.Context, handles []string) ([]*Timeline, error) {
	if r, ok := s.backend.Timelines.(ConflictsReader); ok {
		ts, err := r.GetConflicts(ctx, handles)
		if err != nil {
			return nil, fmt.Errorf("cached conflicts: %w", err)
		}
		return ts, nil
	}
	out := make([]*Timeline, len(handles))
	for i, h := range handles {
		t, ok, err := s.Cached(ctx, h)
		if err != nil {
			return nil, err
		}
		if ok {
			out[i] = t
		}
	}
	return out, nil
}
