package cachetest

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// RunChangeLog checks the behaviours Service.Changes relies on. newLog must
// return an empty change log of the test's own.
func RunChangeLog(t *testing.T, newLog func(t *testing.T) aggregator.ChangeLog) {
	t.Helper()
	ctx := context.Background()
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	ch := func(v int64, at time.Time, id string, k aggregator.ChangeKind) aggregator.Change {
		return aggregator.Change{Version: v, Noticed: at, EntryID: id, Kind: k}
	}
	ids := func(cs []aggregator.Change) []string {
		var out []string
		for _, c := range cs {
			out = append(out, fmt.Sprintf("v%d %s %s", c.Version, c.EntryID, c.Kind))
		}
		return out
	}
	add := func(t *testing.T, l aggregator.ChangeLog, h string, keepAfter time.Time, cs ...aggregator.Change) {
		t.Helper()
		if err := l.AddChanges(ctx, h, cs, keepAfter); err != nil {
			t.Fatal(err)
		}
	}
	get := func(t *testing.T, l aggregator.ChangeLog, h string, since time.Time) []string {
		t.Helper()
		cs, err := l.Changes(ctx, h, since)
		if err != nil {
			t.Fatal(err)
		}
		return ids(cs)
	}

	t.Run("NoneIsNotAnError", func(t *testing.T) {
		if got := get(t, newLog(t), "nobody", time.Time{}); len(got) != 0 {
			t.Errorf("Changes of an unknown patient = %v, want none", got)
		}
	})
	t.Run("OrderAndSince", func(t *testing.T) {
		l := newLog(t)
		// Added out of order on purpose; within one call the order stays.
		add(t, l, "p1", time.Time{}, ch(3, t0.Add(2*time.Hour), "z", aggregator.ChangeAdded), ch(3, t0.Add(2*time.Hour), "a", aggregator.ChangeMoved))
		add(t, l, "p1", time.Time{}, ch(2, t0.Add(time.Hour), "m", aggregator.ChangeCancelled))
		add(t, l, "p1", time.Time{}, ch(4, t0.Add(2*time.Hour+time.Nanosecond), "b", aggregator.ChangeRemoved))
		tests := []struct {
			name  string
			since time.Time
			want  []string
		}{
			{"everything", time.Time{}, []string{"v2 m cancelled", "v3 z added", "v3 a moved", "v4 b removed"}},
			{"strictly after since", t0.Add(time.Hour), []string{"v3 z added", "v3 a moved", "v4 b removed"}},
			{"to the nanosecond", t0.Add(2 * time.Hour), []string{"v4 b removed"}},
			{"nothing newer", t0.Add(3 * time.Hour), nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if got := get(t, l, "p1", tc.since); !reflect.DeepEqual(got, tc.want) {
					t.Errorf("Changes since %v = %v, want %v", tc.since, got, tc.want)
				}
			})
		}
	})
	t.Run("ForgetsChangesBeforeKeepAfter", func(t *testing.T) {
		l := newLog(t)
		add(t, l, "p1", time.Time{}, ch(1, t0, "old", aggregator.ChangeAdded))
		add(t, l, "p1", t0.Add(time.Minute), ch(2, t0.Add(90*24*time.Hour), "new", aggregator.ChangeAdded), ch(2, t0, "late-old", aggregator.ChangeAdded))
		if got, want := get(t, l, "p1", time.Time{}), []string{"v2 new added"}; !reflect.DeepEqual(got, want) {
			t.Errorf("Changes = %v, want %v", got, want)
		}
	})
	t.Run("PatientsAreSeparate", func(t *testing.T) {
		l := newLog(t)
		add(t, l, "p1", time.Time{}, ch(1, t0, "one", aggregator.ChangeAdded))
		add(t, l, "p2", time.Time{}, ch(1, t0, "two", aggregator.ChangeAdded))
		for h, want := range map[string][]string{"p1": {"v1 one added"}, "p2": {"v1 two added"}} {
			if got := get(t, l, h, time.Time{}); !reflect.DeepEqual(got, want) {
				t.Errorf("Changes(%s) = %v, want %v", h, got, want)
			}
		}
	})
	t.Run("RoundTrip", func(t *testing.T) {
		f := &filler{gen: t0, zones: []*time.Location{time.UTC, time.FixedZone("", -(9*3600 + 30*60))}}
		var full aggregator.Change
		if err := f.fill(reflect.ValueOf(&full).Elem(), "Change"); err != nil {
			t.Fatal(err)
		}
		full.Noticed = t0.Add(time.Nanosecond) // after since below, whatever the filler chose
		var lat float64                        // 0 is a coordinate, not its absence
		bare := aggregator.Change{Version: 1, Noticed: t0.Add(time.Second), EntryID: "e", Kind: aggregator.ChangeAdded,
			OldPlace: aggregator.Place{Lat: &lat}}
		for _, want := range []aggregator.Change{full, bare} {
			l := newLog(t)
			add(t, l, "p1", time.Time{}, want)
			got, err := l.Changes(ctx, "p1", t0)
			if err != nil || len(got) != 1 {
				t.Fatalf("Changes = %v, %v; want the one change", got, err)
			}
			for _, d := range diff("Change", reflect.ValueOf(got[0]), reflect.ValueOf(want)) {
				t.Error(d)
			}
		}
	})
}
