package aggregator_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
)

func TestBuildFindsConflicts(t *testing.T) {
	clash := func() []*fakeSource {
		return []*fakeSource{
			{name: "hospital", sector: aggregator.SectorHospital, fetch: returning(appt("hospital/Appointment/1", now.Add(24*time.Hour)))},
			{name: "kommune", sector: aggregator.SectorMunicipality, fetch: returning(appt("kommune/Appointment/1", now.Add(24*time.Hour+30*time.Minute)))},
		}
	}
	tests := []struct {
		name  string
		rules *aggregator.ConflictRules
		want  []string
	}{
		{"defaults", nil, []string{"2026-11-27 overlap: hospital/Appointment/1 kommune/Appointment/1"}},
		{"overlap switched off", &aggregator.ConflictRules{Overlap: aggregator.OverlapRule{Off: true}}, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var regs []aggregator.Registration
			for _, s := range clash() {
				regs = append(regs, aggregator.Registration{Source: s})
			}
			clk := &clock{now: now}
			svc, err := aggregator.New(regs, memcache.NewBackend(0), aggregator.Options{Now: clk.Now, Conflicts: tc.rules})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(svc.Close)
			tl, err := svc.Timeline(context.Background(), patient)
			if err != nil {
				t.Fatal(err)
			}
			if got := found(tl.Conflicts); !slices.Equal(got, tc.want) {
				t.Errorf("conflicts = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRecent(t *testing.T) {
	ctx := context.Background()
	src := &fakeSource{name: "hospital", sector: aggregator.SectorHospital, fetch: returning(appt("hospital/Appointment/1", now.Add(time.Hour)))}
	tests := []struct {
		name    string
		cache   aggregator.Cache
		want    []string
		wantErr error
	}{
		{"memory cache lists newest first", memcache.New(0), []string{"p2", "p1"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{now: now}
			svc, err := aggregator.New([]aggregator.Registration{{Source: src}}, backend(tc.cache, nil), aggregator.Options{Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(svc.Close)
			for _, h := range []string{"p1", "p2"} {
				if _, err := svc.Refresh(ctx, aggregator.PatientRef{Handle: h}); err != nil {
					t.Fatal(err)
				}
				clk.Add(time.Second)
			}
			tls, err := svc.Recent(ctx)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Recent error = %v, want %v", err, tc.wantErr)
			}
			var got []string
			for _, tl := range tls {
				got = append(got, tl.Patient)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Recent = %q, want %q", got, tc.want)
			}
		})
	}
}
