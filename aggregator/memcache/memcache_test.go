package memcache

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"testing"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/cachetest"
)

func TestConformance(t *testing.T) {
	cachetest.RunBackend(t, func(t *testing.T) aggregator.Backend { return NewBackend(0) })
}

func TestEvictsLeastRecentlyUsed(t *testing.T) {
	ctx := context.Background()
	c := New(2)
	put := func(h string) {
		t.Helper()
		if err := c.Put(ctx, h, &aggregator.Timeline{Patient: h}); err != nil {
			t.Fatal(err)
		}
	}
	put("a")
	put("b")
	if _, ok, _ := c.Get(ctx, "a"); !ok { // a is now more recent than b
		t.Fatal("a missing before eviction")
	}
	put("c")
	for _, tc := range []struct {
		handle string
		want   bool
	}{{"a", true}, {"b", false}, {"c", true}} {
		if _, got, _ := c.Get(ctx, tc.handle); got != tc.want {
			t.Errorf("Get(%s) present = %v, want %v", tc.handle, got, tc.want)
		}
	}
	for i := range 100 {
		put(fmt.Sprint(i))
	}
	if n := c.order.Len(); n != 2 {
		t.Errorf("cache holds %d timelines, want at most 2", n)
	}
}

func TestRange(t *testing.T) {
	ctx := context.Background()
	c := New(0)
	for _, h := range []string{"a", "b", "c"} {
		if err := c.Put(ctx, h, &aggregator.Timeline{Patient: h}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		limit int
		want  []string
	}{
		{"all, most recently used first", 10, []string{"c", "b", "a"}},
		{"stops when asked", 2, []string{"c", "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := c.Range(ctx, func(h string, tl *aggregator.Timeline) bool {
				if tl.Patient != h {
					t.Errorf("handle %s holds timeline of %s", h, tl.Patient)
				}
				got = append(got, h)
				return len(got) < tc.limit
			})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("Range visited %v, want %v", got, tc.want)
			}
		})
	}
}

// TestIndexForgetsEvicted: a patient whose timeline was evicted is not
// named by the conflict index.
func TestIndexForgetsEvicted(t *testing.T) {
	ctx := context.Background()
	c := New(2)
	for _, h := range []string{"a", "b", "c"} {
		tl := &aggregator.Timeline{Patient: h,
			Entries:   []aggregator.Entry{{ID: "s/Appointment/1", Organization: "Aarhus Kommune"}},
			Conflicts: []aggregator.Conflict{{ID: "x", Day: "2026-12-01", Entries: []string{"s/Appointment/1"}}}}
		if err := c.Put(ctx, h, tl); err != nil {
			t.Fatal(err)
		}
	}
	for _, org := range []string{"", "aarhus kommune"} {
		got, err := c.Conflicted(ctx, "2026-12-01", "2026-12-01", org, 0)
		if err != nil || len(got) != 2 || slices.Contains(got, "a") {
			t.Errorf("Conflicted(%q) = %v, %v; want b and c, not the evicted a", org, got, err)
		}
	}
	if got, _ := c.ConflictedAmong(ctx, "2026-12-01", "2026-12-01", []string{"a", "b"}); !slices.Equal(got, []string{"b"}) {
		t.Errorf("ConflictedAmong = %v, want b alone", got)
	}
}

// packed stands for a timeline's encoded form: it unpacks to a copy of
// the timeline, counting how often.
type packed struct {
	t       aggregator.Timeline
	unpacks *int
	err     error
}

func (p packed) Unpack() (*aggregator.Timeline, error) {
	*p.unpacks++
	if p.err != nil {
		return nil, p.err
	}
	c := p.t
	return &c, nil
}

// A packed timeline is read without unpacking while the timeline it was
// packed from is in memory, unpacked once when that is gone, and indexed
// and ranged over as a decoded one is.
func TestPutPacked(t *testing.T) {
	ctx := context.Background()
	c := New(0)
	n := 0
	tl := &aggregator.Timeline{Patient: "a", Version: 7,
		Entries:   []aggregator.Entry{{ID: "s/Appointment/1", Organization: "Aarhus Kommune"}},
		Conflicts: []aggregator.Conflict{{ID: "x", Day: "2026-12-01", Entries: []string{"s/Appointment/1"}}}}
	if err := c.PutPacked(ctx, "a", tl, packed{t: *tl, unpacks: &n}); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := c.Get(ctx, "a"); !ok || err != nil || got != tl || n != 0 {
		t.Fatalf("Get while the timeline lives = %p, %v, %v after %d unpacks; want it itself, none", got, ok, err, n)
	}
	if got, err := c.Conflicted(ctx, "2026-12-01", "2026-12-01", "aarhus kommune", 0); err != nil || !slices.Equal(got, []string{"a"}) {
		t.Errorf("Conflicted = %v, %v; want a", got, err)
	}
	tl = nil
	runtime.GC()
	got, ok, err := c.Get(ctx, "a")
	if !ok || err != nil || got.Version != 7 || n != 1 {
		t.Fatalf("Get after the timeline is gone = %v, %v, %v after %d unpacks; want version 7, one", got, ok, err, n)
	}
	if again, _, _ := c.Get(ctx, "a"); again != got || n != 1 {
		t.Errorf("a second Get unpacked again (%d unpacks) while the first one's timeline lives", n)
	}
	var ranged []string
	if err := c.Range(ctx, func(h string, t *aggregator.Timeline) bool { ranged = append(ranged, h); return true }); err != nil || !slices.Equal(ranged, []string{"a"}) {
		t.Errorf("Range = %v, %v; want a", ranged, err)
	}

	// A value that no longer reads is an error, not an empty timeline.
	broken := errors.New("damaged")
	if err := c.PutPacked(ctx, "b", &aggregator.Timeline{Patient: "b"}, packed{unpacks: &n, err: broken}); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	if _, _, err := c.Get(ctx, "b"); !errors.Is(err, broken) {
		t.Errorf("Get of a damaged value = %v, want its error", err)
	}
}
