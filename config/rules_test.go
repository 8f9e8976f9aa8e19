package config

import (
	"strings"
	"testing"
	"time"
)

func TestConflictRulesConfig(t *testing.T) {
	src := "sources:\n  - {name: s, display: S, sector: gp, kind: feed, base_url: 'https://f.example'}\n"
	cfg, err := Parse([]byte(`conflicts:
  travel: {speed_kmh: 20.5, buffer: 15m}
  heavy_day: {off: true}
  booked_twice: {days: 30, severity: high}
  during_admission: {ongoing: -1s}
`+src), nil, testKinds())
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Conflicts
	if r.Travel.SpeedKMH != 20.5 || r.Travel.Buffer != 15*time.Minute || !r.HeavyDay.Off || r.BookedTwice.Days != 30 ||
		r.BookedTwice.Severity != "high" || r.DuringAdmission.Ongoing >= 0 || r.Overlap.Off {
		t.Errorf("conflict rules = %+v", r)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"conflicts: {overlap: {severity: urgent}}\n", "conflicts.overlap.severity: want high, medium or low"},
		{"conflicts: {heavy_day: {max: -1}}\n", "conflicts.heavy_day.max: must not be negative"},
		{"conflicts: {travel: {speed_kmh: fast}}\n", "conflicts.travel.speed_kmh: expected a number"},
		{"conflicts: {teleport: {off: true}}\n", "conflicts.teleport: unknown key"},
	} {
		if _, err := Parse([]byte(tc.yaml+src), nil, testKinds()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

func TestRefreshConfig(t *testing.T) {
	src := "sources:\n  - {name: s, display: S, sector: gp, kind: feed, base_url: 'https://f.example', change_feed: true}\n"
	cfg, err := Parse([]byte("refresh: {enabled: false, every: 30s, viewed_within: 7d, per_source: 2}\ncache: {keep_changes: 30d}\n"+src), nil, testKinds())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Refresh.Enabled || cfg.Refresh.Every != 30*time.Second || cfg.Refresh.ViewedWithin != 7*24*time.Hour || cfg.Refresh.PerSource != 2 ||
		cfg.Cache.KeepChanges != 30*24*time.Hour || !cfg.Sources[0].ChangeFeed {
		t.Errorf("refresh %+v, keep_changes %v, change_feed %v", cfg.Refresh, cfg.Cache.KeepChanges, cfg.Sources[0].ChangeFeed)
	}
	def, err := Parse([]byte(src), nil, testKinds())
	if err != nil {
		t.Fatal(err)
	}
	if !def.Refresh.Enabled || def.Refresh.Every != time.Minute || def.Refresh.ViewedWithin != 30*24*time.Hour {
		t.Errorf("default refresh = %+v, want enabled for patients viewed in 30 days", def.Refresh)
	}
	if _, err := Parse([]byte("refresh: {per_source: 0}\n"+src), nil, testKinds()); err == nil || !strings.Contains(err.Error(), "refresh.per_source") {
		t.Errorf("per_source 0: %v", err)
	}
}
