package aggregator_test

import (
	"context"
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
