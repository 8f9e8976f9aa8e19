package memcache

import (
	"context"
	"fmt"
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
