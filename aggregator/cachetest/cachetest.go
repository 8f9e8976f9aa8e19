// Package cachetest is the conformance suite every aggregator.Cache
// implementation runs (memory now, Redis later), in the style of go-cloud's
// drivertest: one set of behaviours, many backends.
package cachetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// Run checks the behaviours the aggregator relies on. newCache must return an
// empty cache of the test's own.
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
}
