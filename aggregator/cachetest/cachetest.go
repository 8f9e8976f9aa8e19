// Package cachetest holds the conformance suite every back end
// (aggregator/memcache, aggregator/rediscache) runs, in the style of
// go-cloud's drivertest: one set of behaviours, many back ends. RunBackend
// runs all of it on an aggregator.Backend: Run covers the timelines (Range
// too), RunChangeLog the changes, RunLease the refresh lease, RunSchedule
// the background-refresh schedule, RunCursors the change-feed cursors,
// RunDirectory the patient directory and RunIndex the conflict index.
package cachetest

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// Run checks the behaviours the aggregator relies on. newCache must return an
// empty cache of the test's own. RoundTrip fills every exported field of a
// timeline by reflection, so a field added to the domain types fails a
// backend that does not store it; times compare as instants, and a nil slice
// equals an empty one.
func Run(t *testing.T, newCache func(t *testing.T) aggregator.Cache) {
	t.Helper()
	ctx := context.Background()
	gen := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	sample := func(handle string) *aggregator.Timeline {
		return &aggregator.Timeline{
			Patient:     handle,
			GeneratedAt: gen,
			Entries: []aggregator.Entry{{
				ID: "h/Appointment/1", Source: "h", Sector: aggregator.SectorHospital, Kind: aggregator.KindAppointment,
				Status: aggregator.StatusBooked, FHIRStatus: "booked", Title: "Kontrol",
				Start: gen.Add(24 * time.Hour), End: gen.Add(25 * time.Hour),
				Provenance: []aggregator.Provenance{{Source: "h", Type: "Appointment", ID: "1", Version: "2"}},
			}},
			Sources: []aggregator.SourceStatus{{Name: "h", Display: "Hospital", Sector: aggregator.SectorHospital, OK: true, LastSuccess: gen, Entries: 1}},
		}
	}

	t.Run("MissIsNotAnError", func(t *testing.T) {
		c := newCache(t)
		_, ok, err := c.Get(ctx, "nobody")
		if err != nil || ok {
			t.Fatalf("Get on empty cache = ok %v, err %v; want false, nil", ok, err)
		}
	})
	t.Run("PutThenGet", func(t *testing.T) {
		c := newCache(t)
		want := sample("p1")
		if err := c.Put(ctx, "p1", want); err != nil {
			t.Fatal(err)
		}
		got, ok, err := c.Get(ctx, "p1")
		if err != nil || !ok {
			t.Fatalf("Get = ok %v, err %v", ok, err)
		}
		if got.Patient != "p1" || !got.GeneratedAt.Equal(gen) || len(got.Entries) != 1 || got.Entries[0].Title != "Kontrol" ||
			!got.Entries[0].Start.Equal(want.Entries[0].Start) || len(got.Sources) != 1 || !got.Sources[0].OK {
			t.Errorf("Get returned %+v, want %+v", got, want)
		}
	})
	t.Run("RoundTrip", func(t *testing.T) {
		full, err := fullTimeline("p1", gen)
		if err != nil {
			t.Fatal(err)
		}
		zero := 0.0
		lat, lon := 56.1629, 10.2039
		plus2 := time.FixedZone("", 2*3600)
		minus930 := time.FixedZone("", -(9*3600 + 30*60))
		entry := func(mods ...func(*aggregator.Entry)) *aggregator.Timeline {
			tl := sample("p1")
			for _, m := range mods {
				m(&tl.Entries[0])
			}
			return tl
		}
		tests := []struct {
			name string
			tl   *aggregator.Timeline
		}{
			{"every field set", full},
			{"zero end and no coordinates", entry(func(e *aggregator.Entry) { e.End = time.Time{}; e.Place = aggregator.Place{Name: "Hjemme"} })},
			{"coordinates", entry(func(e *aggregator.Entry) { e.Place.Lat, e.Place.Lon = &lat, &lon })},
			{"coordinates at zero are not absent", entry(func(e *aggregator.Entry) { e.Place.Lat, e.Place.Lon = &zero, &zero })},
			{"offsets and nanoseconds kept as instants", entry(func(e *aggregator.Entry) {
				e.Start = time.Date(2026, 3, 29, 1, 59, 59, 999_999_999, plus2)
				e.End = time.Date(2026, 3, 28, 14, 0, 0, 1, minus930)
				e.Updated = time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC)
			})},
			{"no entries, no sources", &aggregator.Timeline{Patient: "p1", GeneratedAt: gen}},
			{"empty slices", &aggregator.Timeline{Patient: "p1", GeneratedAt: gen, Entries: []aggregator.Entry{}, Sources: []aggregator.SourceStatus{}}},
			{"failed source", func() *aggregator.Timeline {
				tl := sample("p1")
				tl.Sources[0] = aggregator.SourceStatus{Name: "h", Sector: aggregator.SectorHospital, ErrorKind: aggregator.Timeout,
					Error: "source h: timeout", LastSuccess: gen.Add(-time.Hour), Duration: 10*time.Second + 7}
				tl.Entries[0].Stale, tl.Entries[0].FetchedAt = true, gen.Add(-time.Hour)
				return tl
			}()},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				c := newCache(t)
				if err := c.Put(ctx, "p1", tc.tl); err != nil {
					t.Fatal(err)
				}
				got, ok, err := c.Get(ctx, "p1")
				if err != nil || !ok {
					t.Fatalf("Get = ok %v, err %v", ok, err)
				}
				for _, d := range diff("Timeline", reflect.ValueOf(*got), reflect.ValueOf(*tc.tl)) {
					t.Error(d)
				}
			})
		}
	})
	t.Run("PutReplaces", func(t *testing.T) {
		c := newCache(t)
		first, second := sample("p1"), sample("p1")
		second.GeneratedAt = gen.Add(time.Minute)
		for _, tl := range []*aggregator.Timeline{first, second} {
			if err := c.Put(ctx, "p1", tl); err != nil {
				t.Fatal(err)
			}
		}
		got, _, _ := c.Get(ctx, "p1")
		if !got.GeneratedAt.Equal(second.GeneratedAt) {
			t.Errorf("GeneratedAt = %v, want the second put's %v", got.GeneratedAt, second.GeneratedAt)
		}
	})
	t.Run("PatientsAreSeparate", func(t *testing.T) {
		c := newCache(t)
		_ = c.Put(ctx, "p1", sample("p1"))
		_ = c.Put(ctx, "p2", sample("p2"))
		for _, h := range []string{"p1", "p2"} {
			got, ok, err := c.Get(ctx, h)
			if err != nil || !ok || got.Patient != h {
				t.Errorf("Get(%s) = %v, %v, %v", h, got, ok, err)
			}
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		c := newCache(t)
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h := fmt.Sprintf("p%d", i%3)
				for range 50 {
					if err := c.Put(ctx, h, sample(h)); err != nil {
						t.Error(err)
						return
					}
					if got, ok, err := c.Get(ctx, h); err != nil || !ok || got.Patient != h {
						t.Errorf("Get(%s) = %v, %v, %v", h, got, ok, err)
						return
					}
				}
			}()
		}
		wg.Wait()
	})
	t.Run("Range", func(t *testing.T) {
		c := newCache(t)
		want := map[string]bool{}
		for i := range 25 {
			h := fmt.Sprintf("r%d", i)
			want[h] = true
			if err := c.Put(ctx, h, sample(h)); err != nil {
				t.Fatal(err)
			}
		}
		got := map[string]bool{}
		if err := c.Range(ctx, func(h string, tl *aggregator.Timeline) bool {
			if tl.Patient != h || len(tl.Entries) != 1 {
				t.Errorf("Range gave %s with %+v", h, tl)
			}
			got[h] = true
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Range walked %d timelines, want the %d stored", len(got), len(want))
		}
		n := 0
		if err := c.Range(ctx, func(string, *aggregator.Timeline) bool { n++; return n < 3 }); err != nil {
			t.Fatal(err)
		}
		if n != 3 {
			t.Errorf("Range went on for %d timelines after fn said stop at 3", n)
		}
	})
}
