package config

import (
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
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

func TestMergeRulesConfig(t *testing.T) {
	src := "sources:\n  - {name: s, display: S, sector: gp, kind: feed, base_url: 'https://f.example'}\n"
	def, err := Parse([]byte(src), nil, testKinds())
	if err != nil {
		t.Fatal(err)
	}
	if def.Merge != aggregator.DefaultMergeRules() || def.Merge.Meetings.Within != 5*time.Minute || def.Merge.Meetings.IgnoreVideoLink {
		t.Errorf("default merge rules %+v, want aggregator's", def.Merge)
	}
	c, err := Parse([]byte("merge:\n  meetings: {within: 10m, identifiers: false, video: true, place: false}\n  stays: {off: true, within: 1h}\n"+src), nil, testKinds())
	if err != nil {
		t.Fatal(err)
	}
	want := aggregator.MergeRules{
		Meetings: aggregator.MeetingMerge{Within: 10 * time.Minute, IgnoreIdentifier: true, IgnorePlace: true},
		Stays:    aggregator.StayMerge{Off: true, Within: time.Hour},
	}
	if c.Merge != want {
		t.Errorf("merge rules %+v, want %+v", c.Merge, want)
	}
	if c, err := Parse([]byte("merge: {meetings: {off: true}}\n"+src), nil, testKinds()); err != nil || !c.Merge.Meetings.Off || c.Merge.Stays.Off {
		t.Errorf("meetings off: %+v, %v", c, err)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"merge: {meetings: {within: 0s}}\n", "line 1: merge.meetings.within: must be positive, got 0s"},
		{"merge:\n  stays: {within: -1m}\n", "line 2: merge.stays.within: must be positive, got -1m0s"},
		{"merge: {meetings: {identifiers: false, video: false, place: false}}\n", "merge.meetings: identifiers, video and place are all false"},
		{"merge: {meetings: {video: maybe}}\n", `merge.meetings.video: expected true or false, got "maybe"`},
		{"merge: {meetings: {titles: true}}\n", "merge.meetings.titles: unknown key (merge.meetings takes identifiers, off, place, video, within)"},
		{"merge: {encounters: {}}\n", "merge.encounters: unknown key (merge takes meetings, stays)"},
	} {
		if _, err := Parse([]byte(tc.yaml+src), nil, testKinds()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
