package aggregator

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ChangeKind is what happened to an entry between two versions of a timeline.
type ChangeKind string

const (
	ChangeAdded     ChangeKind = "added"     // the entry is new
	ChangeMoved     ChangeKind = "moved"     // its time or place changed; the old ones are in the Change
	ChangeCancelled ChangeKind = "cancelled" // it was not cancelled before
	ChangeRemoved   ChangeKind = "removed"   // it is gone (deleted, or entered in error at the source)
)

// DefaultKeepChanges is how long changes are kept per patient.
const DefaultKeepChanges = 90 * 24 * time.Hour

// Change is one thing a refresh noticed about one entry. A refresh that
// changes a timeline records one Change per entry and kind, all with the new
// timeline's Version and the time it was built.
type Change struct {
	Version int64     // the timeline version that brought the change
	Noticed time.Time // when the refresh that noticed it ran (GeneratedAt of that version)
	EntryID string
	Kind    ChangeKind
	// Title is the entry's title when the change was noticed (its last one
	// for ChangeRemoved), so a removed entry can still be named.
	Title string
	// Sensitivity is the entry's when the change was noticed, so a removed
	// restricted entry stays hidden from those who may not see it. Records
	// from before it was kept have none: treat that as restricted.
	Sensitivity Sensitivity
	// Where and when the entry was before, for ChangeMoved ("moved from
	// Tuesday 10:00") and ChangeRemoved; zero for the other kinds.
	OldStart time.Time
	OldEnd   time.Time
	OldPlace Place
}

// ChangeLog keeps each patient's changes, where the timelines are, so the
// replicas share them.
type ChangeLog interface {
	// AddChanges records changes for handle and forgets the patient's
	// changes noticed before keepAfter.
	AddChanges(ctx context.Context, handle string, changes []Change, keepAfter time.Time) error
	// Changes returns the patient's changes noticed after since, oldest
	// first (by Noticed, then Version, then the order of one AddChanges);
	// none is not an error.
	Changes(ctx context.Context, handle string, since time.Time) ([]Change, error)
}

// ErrNoChangeLog is what a Changes without a change log returns; the
// service always has one, views built on other sources may not.
var ErrNoChangeLog = errors.New("aggregator: no changes are kept")

// Changes returns what changed on the patient's timeline after since (the
// time the viewer last looked; zero for everything kept, at most the last
// KeepChanges), oldest first. An entry may appear more than once: moved
// twice, say. It builds nothing.
func (s *Service) Changes(ctx context.Context, handle string, since time.Time) ([]Change, error) {
	horizon := s.opts.Now().Add(-s.opts.KeepChanges)
	if since.Before(horizon) {
		since = horizon
	}
	cs, err := s.backend.Changes.Changes(ctx, handle, since)
	if err != nil {
		return nil, fmt.Errorf("changes of %s: %w", handle, err)
	}
	return cs, nil
}

// ChangesPutter is a Cache that also keeps the change log and stores a
// build with the changes it made in one step (a Redis transaction: one
// round trip, not two, and no reader sees the one without the other).
type ChangesPutter interface {
	PutWithChanges(ctx context.Context, handle string, t *Timeline, changes []Change, keepAfter time.Time) error
}

// store stores t, the build after prev, and what changed from prev to t,
// and reports whether t was stored and which changes were. A failure is
// logged: serving the fresh timeline beats failing (the next request
// rebuilds), and a lost change costs its mark, never the timeline.
func (s *Service) store(ctx context.Context, p PatientRef, prev, t *Timeline) (stored bool, cs []Change) {
	if prev != nil {
		cs = diffTimelines(prev, t)
	}
	keepAfter := t.GeneratedAt.Add(-s.opts.KeepChanges)
	if cp, ok := s.backend.Timelines.(ChangesPutter); ok && len(cs) > 0 && any(s.backend.Changes) == any(s.backend.Timelines) {
		if err := cp.PutWithChanges(ctx, p.Handle, t, cs, keepAfter); err != nil {
			s.log.WarnContext(ctx, "cache put with changes failed", "patient", p, "err", err)
			return false, nil
		}
		return true, cs
	}
	stored = true
	if err := s.backend.Timelines.Put(ctx, p.Handle, t); err != nil {
		s.log.WarnContext(ctx, "cache put failed", "patient", p, "err", err)
		stored = false
	}
	if len(cs) == 0 {
		return stored, nil
	}
	if err := s.backend.Changes.AddChanges(ctx, p.Handle, cs, keepAfter); err != nil {
		s.log.WarnContext(ctx, "recording timeline changes failed", "patient", p, "err", err)
		return stored, nil
	}
	return stored, cs
}

// newConflicts lists the conflicts of next whose id prev does not have.
func newConflicts(prev, next *Timeline) []Conflict {
	old := make(map[string]bool, len(prev.Conflicts))
	for _, c := range prev.Conflicts {
		old[c.ID] = true
	}
	var out []Conflict
	for _, c := range next.Conflicts {
		if !old[c.ID] {
			out = append(out, c)
		}
	}
	return out
}

// diffTimelines lists what changed per entry from prev to next, in next's
// order, then the removed ones in prev's. An entry that left the window
// because time passed, or whose source failed (its last good copy stays), is
// not a change; neither is a first build (there is nothing to compare with).
func diffTimelines(prev, next *Timeline) []Change {
	if len(prev.Entries) == len(next.Entries) && (len(next.Entries) == 0 || &prev.Entries[0] == &next.Entries[0]) {
		// A build in which nothing changed shares prev's entries (see keep),
		// most refreshes: each entry compared with itself.
		return nil
	}
	// Entries are walked and compared by pointer: each is some 560 bytes,
	// and copying every one of both timelines four times was most of a
	// changed build's diff.
	mk := func(e *Entry, k ChangeKind) Change {
		sens := e.Sensitivity
		if sens == "" {
			sens = SensitivityNormal
		}
		return Change{Version: next.Version, Noticed: next.GeneratedAt, EntryID: e.ID, Kind: k, Title: e.Title, Sensitivity: sens}
	}
	old := make(map[string]*Entry, len(prev.Entries))
	for i := range prev.Entries {
		old[prev.Entries[i].ID] = &prev.Entries[i]
	}
	var out []Change
	seen := make(map[string]bool, len(next.Entries))
	for i := range next.Entries {
		e := &next.Entries[i]
		seen[e.ID] = true
		o, ok := old[e.ID]
		if !ok {
			// One outside the previous window came into view as time passed.
			if prev.Window.To.IsZero() || inWindow(e, prev.Window) {
				out = append(out, mk(e, ChangeAdded))
			}
			continue
		}
		if e.Status == StatusCancelled && o.Status != StatusCancelled {
			out = append(out, mk(e, ChangeCancelled))
		}
		if moved(o, e) {
			c := mk(e, ChangeMoved)
			c.OldStart, c.OldEnd, c.OldPlace = o.Start, o.End, o.Place
			out = append(out, c)
		}
	}
	for i := range prev.Entries {
		o := &prev.Entries[i]
		if seen[o.ID] {
			continue
		}
		if !next.Window.To.IsZero() && !inWindow(o, next.Window) {
			continue // slid out of the window as time passed
		}
		c := mk(o, ChangeRemoved)
		c.OldStart, c.OldEnd, c.OldPlace = o.Start, o.End, o.Place
		out = append(out, c)
	}
	return out
}

// inWindow reports whether e overlaps w; an admission still going on
// (no end) overlaps every window after its start.
func inWindow(e *Entry, w Window) bool {
	return e.Start.Before(w.To) && (e.End.IsZero() || e.End.After(w.From))
}

// moved reports a change of start, of a known end, or of place. An
// admission that gets its end at discharge has not moved.
func moved(o, e *Entry) bool {
	if !o.Start.Equal(e.Start) {
		return true
	}
	if !o.End.IsZero() && !e.End.IsZero() && !o.End.Equal(e.End) {
		return true
	}
	return o.Place.Name != e.Place.Name || o.Place.Address != e.Place.Address
}

// Mark is what a viewer should be told about one entry, folded from the
// changes since they last looked: "New", "Moved from Tuesday 10:00",
// "Cancelled", or gone.
type Mark struct {
	Kind ChangeKind // the one to show: removed, cancelled, added or moved
	// First is when the first of the folded changes was noticed.
	First time.Time
	// Title is the entry's title at the latest change: the name of a removed one.
	Title string
	// Where and when the entry was when the viewer last looked, for moved
	// and removed (and cancelled after a move); zero otherwise.
	OldStart time.Time
	OldEnd   time.Time
	OldPlace Place
}

// Marks folds changes (oldest first, as Service.Changes returns them) into
// one Mark per entry ID. An entry added since the last look is new, however
// it moved since; one cancelled or removed says so; one that moved keeps the
// time and place of before its first move, which is what the viewer saw.
// An entry removed and then added again is new.
func Marks(changes []Change) map[string]Mark {
	out := make(map[string]Mark)
	for _, c := range changes {
		m, seen := out[c.EntryID]
		if !seen {
			m.First = c.Noticed
		}
		keepOld := func() {
			if m.OldStart.IsZero() && m.Kind != ChangeAdded {
				m.OldStart, m.OldEnd, m.OldPlace = c.OldStart, c.OldEnd, c.OldPlace
			}
		}
		switch c.Kind {
		case ChangeAdded:
			m = Mark{Kind: ChangeAdded, First: m.First}
		case ChangeMoved:
			if m.Kind == "" || m.Kind == ChangeMoved {
				m.Kind = ChangeMoved
				keepOld()
			}
		case ChangeCancelled:
			if m.Kind != ChangeRemoved {
				m.Kind = ChangeCancelled
			}
		case ChangeRemoved:
			keepOld()
			m.Kind = ChangeRemoved
		}
		m.Title = c.Title
		out[c.EntryID] = m
	}
	return out
}
