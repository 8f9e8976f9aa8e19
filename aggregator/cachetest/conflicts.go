package cachetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// RunConflicts checks a Cache that is an aggregator.ConflictsReader
// (newCache returns a fresh one): GetConflicts gives each patient's stored
// timeline, or the part of it aggregator.ConflictsOnly keeps, in the order
// asked, nil for one not cached; and after a Put, the new timeline's.
func RunConflicts(t *testing.T, newCache func(t *testing.T) aggregator.Cache) {
	t.Helper()
	ctx := context.Background()
	get := func(t *testing.T, c aggregator.Cache, hs ...string) []*aggregator.Timeline {
		t.Helper()
		r, ok := c.(aggregator.ConflictsReader)
		if !ok {
			t.Fatalf("%T is not an aggregator.ConflictsReader", c)
		}
		ts, err := r.GetConflicts(ctx, hs)
		if err != nil {
			t.Fatal(err)
		}
		if len(ts) != len(hs) {
			t.Fatalf("GetConflicts(%v) gave %d timelines", hs, len(ts))
		}
		return ts
	}
	t.Run("WhatTheWorklistNeeds", func(t *testing.T) {
		c := newCache(t)
		a, b := ConflictTimeline("a", 0), ConflictTimeline("b", 1)
		for _, x := range []*aggregator.Timeline{a, b} {
			if err := c.Put(ctx, x.Patient, x); err != nil {
				t.Fatal(err)
			}
		}
		ts := get(t, c, "b", "nobody", "a")
		if ts[1] != nil {
			t.Errorf("a patient never stored gave %+v", ts[1])
		}
		for _, x := range []struct {
			got, want *aggregator.Timeline
		}{{ts[0], b}, {ts[2], a}} {
			CheckConflictsOf(t, x.got, x.want)
		}
	})
	t.Run("PutReplaces", func(t *testing.T) {
		c := newCache(t)
		old, next := ConflictTimeline("a", 0), ConflictTimeline("a", 1)
		next.Version = old.Version + 1
		for _, x := range []*aggregator.Timeline{old, next} {
			if err := c.Put(ctx, "a", x); err != nil {
				t.Fatal(err)
			}
		}
		CheckConflictsOf(t, get(t, c, "a")[0], next)
	})
}

// ConflictTimeline is a timeline of patient handle with eight entries: a
// conflict between two of them (the second restricted when restricted is
// 1), a restricted entry in no conflict, and five more in none.
func ConflictTimeline(handle string, restricted int) *aggregator.Timeline {
	gen := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	t := &aggregator.Timeline{Patient: handle, GeneratedAt: gen, Version: 3,
		Sources: []aggregator.SourceStatus{{Name: "s", OK: true, Entries: 8}}}
	for i := range 8 {
		e := aggregator.Entry{ID: "s/Appointment/" + string(rune('a'+i)), Source: "s", Organization: "Aarhus Kommune",
			Title: "Besøg " + handle, Start: gen.Add(time.Duration(i) * time.Hour), End: gen.Add(time.Duration(i)*time.Hour + 30*time.Minute),
			Sensitivity: aggregator.SensitivityNormal}
		if (i == 1 && restricted == 1) || i == 2 {
			e.Sensitivity = aggregator.SensitivityRestricted
		}
		t.Entries = append(t.Entries, e)
	}
	ids := []string{t.Entries[0].ID, t.Entries[1].ID}
	t.Conflicts = []aggregator.Conflict{{ID: aggregator.ConflictID(aggregator.RuleOverlap, ids), Rule: aggregator.RuleOverlap,
		Severity: aggregator.SeverityHigh, Day: "2026-11-26", Entries: ids}}
	return t
}

// CheckConflictsOf fails t unless got is, of want, what
// aggregator.ConflictsOnly keeps at least: its patient, version, time,
// sources and conflicts, and every entry a conflict names and every
// restricted one, as stored; any other entry got holds must be want's.
func CheckConflictsOf(t *testing.T, got, want *aggregator.Timeline) {
	t.Helper()
	if got == nil {
		t.Fatalf("no timeline for %s", want.Patient)
	}
	if got.Patient != want.Patient || got.Version != want.Version || !got.GeneratedAt.Equal(want.GeneratedAt) {
		t.Errorf("got patient %s version %d at %v, want %s %d %v", got.Patient, got.Version, got.GeneratedAt,
			want.Patient, want.Version, want.GeneratedAt)
	}
	if !slices.EqualFunc(got.Sources, want.Sources, func(a, b aggregator.SourceStatus) bool {
		return a.Name == b.Name && a.OK == b.OK && a.Entries == b.Entries
	}) {
		t.Errorf("sources = %+v, want %+v", got.Sources, want.Sources)
	}
	if !slices.EqualFunc(got.Conflicts, want.Conflicts, func(a, b aggregator.Conflict) bool {
		return a.ID == b.ID && a.Rule == b.Rule && a.Day == b.Day && slices.Equal(a.Entries, b.Entries)
	}) {
		t.Errorf("conflicts = %+v, want %+v", got.Conflicts, want.Conflicts)
	}
	have := map[string]aggregator.Entry{}
	for _, e := range got.Entries {
		have[e.ID] = e
	}
	for _, e := range aggregator.ConflictsOnly(want).Entries {
		g, ok := have[e.ID]
		if !ok || g.Title != e.Title || g.Sensitivity != e.Sensitivity || !g.Start.Equal(e.Start) {
			t.Errorf("entry %s = %+v (held %v), want %+v", e.ID, g, ok, e)
		}
	}
	for id := range have {
		if !slices.ContainsFunc(want.Entries, func(e aggregator.Entry) bool { return e.ID == id }) {
			t.Errorf("entry %s is not the stored timeline's", id)
		}
	}
}
