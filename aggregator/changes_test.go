package aggregator_test

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
)

// switchable is a source whose answer the test changes between refreshes.
type switchable struct {
	mu      sync.Mutex
	entries []aggregator.Entry
	err     error
}

func (s *switchable) set(err error, es ...aggregator.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries, s.err = es, err
}

func (s *switchable) fetch(context.Context, aggregator.PatientRef, aggregator.Window) (aggregator.Batch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return aggregator.Batch{}, s.err
	}
	return aggregator.Batch{Entries: append([]aggregator.Entry(nil), s.entries...)}, nil
}

func TestRefreshRecordsChanges(t *testing.T) {
	at := func(e aggregator.Entry, mod func(*aggregator.Entry)) aggregator.Entry { mod(&e); return e }
	a := appt("h/Appointment/a", now.Add(48*time.Hour))
	a.Place = aggregator.Place{Name: "Afsnit 1", Address: "Vej 1"}
	b := appt("h/Appointment/b", now.Add(72*time.Hour))
	down := &aggregator.SourceError{Source: "h", Kind: aggregator.Unavailable, Msg: "down"}
	admitted := aggregator.Entry{ID: "h/Encounter/adm", Kind: aggregator.KindAdmission, Status: aggregator.StatusInProgress, Start: now.Add(-24 * time.Hour)}
	// Past enough to leave the window after the clock moves 2 days on.
	old := appt("h/Appointment/old", now.Add(-90*24*time.Hour+time.Hour))

	tests := []struct {
		name   string
		before []aggregator.Entry
		after  []aggregator.Entry
		err    error         // of the second fetch
		wait   time.Duration // between the two refreshes
		want   []string      // "entry kind old-start old-place"
	}{
		{"nothing changed", []aggregator.Entry{a, b}, []aggregator.Entry{a, b}, nil, time.Minute, nil},
		{"added", []aggregator.Entry{a}, []aggregator.Entry{a, b}, nil, time.Minute, []string{"h/Appointment/b added"}},
		{"removed keeps the old time and place", []aggregator.Entry{a, b}, []aggregator.Entry{b}, nil, time.Minute,
			[]string{"h/Appointment/a removed " + a.Start.Format(time.RFC3339) + " Afsnit 1"}},
		{"moved in time", []aggregator.Entry{a}, []aggregator.Entry{at(a, func(e *aggregator.Entry) { e.Start, e.End = e.Start.Add(time.Hour), e.End.Add(time.Hour) })}, nil, time.Minute,
			[]string{"h/Appointment/a moved " + a.Start.Format(time.RFC3339) + " Afsnit 1"}},
		{"moved in place", []aggregator.Entry{a}, []aggregator.Entry{at(a, func(e *aggregator.Entry) { e.Place.Name = "Afsnit 2" })}, nil, time.Minute,
			[]string{"h/Appointment/a moved " + a.Start.Format(time.RFC3339) + " Afsnit 1"}},
		{"cancelled", []aggregator.Entry{a}, []aggregator.Entry{at(a, func(e *aggregator.Entry) { e.Status = aggregator.StatusCancelled })}, nil, time.Minute,
			[]string{"h/Appointment/a cancelled"}},
		{"title changed is not a change to mark", []aggregator.Entry{a}, []aggregator.Entry{at(a, func(e *aggregator.Entry) { e.Title = "Ny titel" })}, nil, time.Minute, nil},
		{"a failed source removes nothing", []aggregator.Entry{a, b}, nil, down, time.Minute, nil},
		{"a discharge is not a move", []aggregator.Entry{admitted}, []aggregator.Entry{at(admitted, func(e *aggregator.Entry) { e.End, e.Status = now, aggregator.StatusCompleted })}, nil, time.Minute, nil},
		{"leaving the window as time passes is not a removal", []aggregator.Entry{old, a}, []aggregator.Entry{old, a}, nil, 2 * 24 * time.Hour, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{now: now}
			src := &switchable{}
			svc := newService(t, clk, nil, &fakeSource{name: "h", sector: aggregator.SectorHospital, fetch: src.fetch})
			src.set(nil, tc.before...)
			first, err := svc.Refresh(ctx, patient)
			if err != nil {
				t.Fatal(err)
			}
			clk.Add(tc.wait)
			src.set(tc.err, tc.after...)
			second, err := svc.Refresh(ctx, patient)
			if err != nil {
				t.Fatal(err)
			}
			if first.Version != 1 || second.Version != 2 {
				t.Errorf("versions = %d, %d; want 1, 2", first.Version, second.Version)
			}
			cs, err := svc.Changes(ctx, patient.Handle, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range cs {
				s := c.EntryID + " " + string(c.Kind)
				if !c.OldStart.IsZero() {
					s += " " + c.OldStart.Format(time.RFC3339) + " " + c.OldPlace.Name
				}
				got = append(got, s)
				if c.Version != 2 || !c.Noticed.Equal(second.GeneratedAt) {
					t.Errorf("change %s has version %d noticed %v, want 2 and %v", s, c.Version, c.Noticed, second.GeneratedAt)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("changes = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestChangesSinceAndKept(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: now}
	src := &switchable{}
	svc := newService(t, clk, nil, &fakeSource{name: "h", sector: aggregator.SectorHospital, fetch: src.fetch})
	refreshWith := func(ids ...string) time.Time {
		t.Helper()
		var es []aggregator.Entry
		for _, id := range ids {
			es = append(es, appt(id, now.Add(100*24*time.Hour)))
		}
		src.set(nil, es...)
		tl, err := svc.Refresh(ctx, patient)
		if err != nil {
			t.Fatal(err)
		}
		clk.Add(30 * 24 * time.Hour)
		return tl.GeneratedAt
	}
	refreshWith()
	refreshWith("a")                // a added
	t2 := refreshWith("a", "b")     // b added
	refreshWith("a", "b", "c")      // c added
	refreshWith("a", "b", "c", "d") // d added, 90 days after a
	clk.Add(-time.Hour)             // b is 90 days old less an hour, a 120 days less an hour
	ids := func(since time.Time) []string {
		cs, err := svc.Changes(ctx, patient.Handle, since)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range cs {
			out = append(out, fmt.Sprintf("%s@v%d", c.EntryID, c.Version))
		}
		return out
	}
	// a's change is older than 90 days, b's just younger.
	if got, want := ids(time.Time{}), []string{"b@v3", "c@v4", "d@v5"}; !reflect.DeepEqual(got, want) {
		t.Errorf("all changes kept = %v, want %v (90 days)", got, want)
	}
	if got, want := ids(t2), []string{"c@v4", "d@v5"}; !reflect.DeepEqual(got, want) {
		t.Errorf("changes since the viewer's look at %v = %v, want %v", t2, got, want)
	}
}

func TestMarks(t *testing.T) {
	at := func(h int) time.Time { return now.Add(time.Duration(h) * time.Hour) }
	tue10 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	place := func(n string) aggregator.Place { return aggregator.Place{Name: n} }
	ch := func(h int, id string, k aggregator.ChangeKind, old time.Time, p string) aggregator.Change {
		c := aggregator.Change{Noticed: at(h), EntryID: id, Kind: k, OldStart: old, OldPlace: place(p)}
		if old.IsZero() {
			c.OldPlace = aggregator.Place{}
		}
		return c
	}
	tests := []struct {
		name    string
		changes []aggregator.Change
		want    aggregator.Mark
	}{
		{"new", []aggregator.Change{ch(1, "e", aggregator.ChangeAdded, time.Time{}, "")},
			aggregator.Mark{Kind: aggregator.ChangeAdded, First: at(1)}},
		{"new, then moved, is new", []aggregator.Change{ch(1, "e", aggregator.ChangeAdded, time.Time{}, ""), ch(2, "e", aggregator.ChangeMoved, tue10, "A")},
			aggregator.Mark{Kind: aggregator.ChangeAdded, First: at(1)}},
		{"moved twice: from where the viewer saw it", []aggregator.Change{ch(1, "e", aggregator.ChangeMoved, tue10, "A"), ch(2, "e", aggregator.ChangeMoved, tue10.Add(time.Hour), "B")},
			aggregator.Mark{Kind: aggregator.ChangeMoved, First: at(1), OldStart: tue10, OldPlace: place("A")}},
		{"moved, then cancelled", []aggregator.Change{ch(1, "e", aggregator.ChangeMoved, tue10, "A"), ch(2, "e", aggregator.ChangeCancelled, time.Time{}, "")},
			aggregator.Mark{Kind: aggregator.ChangeCancelled, First: at(1), OldStart: tue10, OldPlace: place("A")}},
		{"removed", []aggregator.Change{ch(1, "e", aggregator.ChangeRemoved, tue10, "A")},
			aggregator.Mark{Kind: aggregator.ChangeRemoved, First: at(1), OldStart: tue10, OldPlace: place("A")}},
		{"moved, then removed: where it was", []aggregator.Change{ch(1, "e", aggregator.ChangeMoved, tue10, "A"), ch(2, "e", aggregator.ChangeRemoved, tue10.Add(time.Hour), "B")},
			aggregator.Mark{Kind: aggregator.ChangeRemoved, First: at(1), OldStart: tue10, OldPlace: place("A")}},
		{"removed, then back: new", []aggregator.Change{ch(1, "e", aggregator.ChangeRemoved, tue10, "A"), ch(2, "e", aggregator.ChangeAdded, time.Time{}, "")},
			aggregator.Mark{Kind: aggregator.ChangeAdded, First: at(1)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := aggregator.Marks(append(tc.changes, ch(0, "other", aggregator.ChangeAdded, time.Time{}, "")))
			if !reflect.DeepEqual(got["e"], tc.want) {
				t.Errorf("Marks = %+v, want %+v", got["e"], tc.want)
			}
			if got["other"].Kind != aggregator.ChangeAdded {
				t.Errorf("another entry's mark = %+v", got["other"])
			}
		})
	}
}

// oneStepCache is the memory cache as a ChangesPutter, counting how the
// service stores.
type oneStepCache struct {
	*memcache.Cache
	together, apart atomic.Int64
}

func (c *oneStepCache) PutWithChanges(ctx context.Context, handle string, t *aggregator.Timeline, cs []aggregator.Change, keepAfter time.Time) error {
	c.together.Add(1)
	if err := c.Cache.Put(ctx, handle, t); err != nil {
		return err
	}
	return c.Cache.AddChanges(ctx, handle, cs, keepAfter)
}

func (c *oneStepCache) AddChanges(ctx context.Context, handle string, cs []aggregator.Change, keepAfter time.Time) error {
	c.apart.Add(1)
	return c.Cache.AddChanges(ctx, handle, cs, keepAfter)
}

// A cache that stores a build with its changes in one step (Redis: one
// transaction) gets both in that step; a build without changes is a Put.
func TestRefreshStoresChangesWithTheBuild(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: now}
	src := &switchable{}
	c := &oneStepCache{Cache: memcache.New(0)}
	b := memcache.NewBackend(0)
	b.Timelines, b.Changes = c, c
	svc, err := aggregator.New([]aggregator.Registration{{Source: &fakeSource{name: "h", sector: aggregator.SectorHospital, fetch: src.fetch}, Timeout: time.Second}},
		b, aggregator.Options{FreshFor: 2 * time.Minute, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	a := appt("h/Appointment/a", now.Add(48*time.Hour))
	src.set(nil, a)
	for range 2 { // the first build, then one with nothing changed
		if _, err := svc.Refresh(ctx, patient); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Minute)
	}
	src.set(nil, a, appt("h/Appointment/b", now.Add(72*time.Hour)))
	if _, err := svc.Refresh(ctx, patient); err != nil {
		t.Fatal(err)
	}
	if n, m := c.together.Load(), c.apart.Load(); n != 1 || m != 0 {
		t.Errorf("stored with changes %d times, changes apart %d times; want 1 and 0", n, m)
	}
	cs, err := svc.Changes(ctx, patient.Handle, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].EntryID != "h/Appointment/b" || cs[0].Kind != aggregator.ChangeAdded {
		t.Errorf("changes = %+v, want h/Appointment/b added", cs)
	}
}
