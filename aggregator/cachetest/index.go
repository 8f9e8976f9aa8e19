package cachetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// RunIndex checks the conflict index a back end keeps with its timelines:
// newIndex returns a fresh back end's Timelines and Index. Each Put replaces
// what the index holds of the patient, so a conflict gone after a rebuild,
// or an organisation no entry is from any more, is gone from the answers.
func RunIndex(t *testing.T, newIndex func(t *testing.T) (aggregator.Cache, aggregator.ConflictIndex)) {
	t.Helper()
	ctx := context.Background()
	gen := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	// tl is a timeline with an entry from each organisation and a
	// conflict on each day.
	tl := func(handle string, orgs []string, days ...string) *aggregator.Timeline {
		t := &aggregator.Timeline{Patient: handle, GeneratedAt: gen}
		for i, o := range orgs {
			t.Entries = append(t.Entries, aggregator.Entry{ID: fmt.Sprintf("s/Appointment/%d", i), Source: "s", Organization: o,
				Start: gen.Add(time.Duration(i) * time.Hour)})
		}
		for _, d := range days {
			t.Conflicts = append(t.Conflicts, aggregator.Conflict{ID: d, Rule: aggregator.RuleHeavyDay, Severity: aggregator.SeverityLow,
				Day: d, Entries: []string{"s/Appointment/0"}})
		}
		return t
	}
	put := func(t *testing.T, c aggregator.Cache, tls ...*aggregator.Timeline) {
		t.Helper()
		for _, x := range tls {
			if err := c.Put(ctx, x.Patient, x); err != nil {
				t.Fatal(err)
			}
		}
	}
	conflicted := func(t *testing.T, x aggregator.ConflictIndex, from, to, org string, limit int) []string {
		t.Helper()
		hs, err := x.Conflicted(ctx, from, to, aggregator.FoldOrganization(org), limit)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(hs)
		return hs
	}
	among := func(t *testing.T, x aggregator.ConflictIndex, from, to string, hs ...string) []string {
		t.Helper()
		got, err := x.ConflictedAmong(ctx, from, to, hs)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		return got
	}
	same := func(t *testing.T, what string, got []string, want ...string) {
		t.Helper()
		if !slices.Equal(got, want) && (len(got) > 0 || len(want) > 0) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	kommune, hospital := []string{"Aarhus Kommune", "Egen læge"}, []string{"AUH Kardiologi"}

	t.Run("ByDayAndOrganisation", func(t *testing.T) {
		c, x := newIndex(t)
		put(t, c, tl("p1", kommune, "2026-12-01", "2026-12-03"), tl("p2", hospital, "2026-12-02"), tl("p3", kommune))
		same(t, "the period", conflicted(t, x, "2026-12-01", "2026-12-03", "", 0), "p1", "p2")
		same(t, "one day", conflicted(t, x, "2026-12-02", "2026-12-02", "", 0), "p2")
		same(t, "the day after", conflicted(t, x, "2026-12-04", "2026-12-31", "", 0))
		same(t, "the days before", conflicted(t, x, "2026-01-01", "2026-11-30", "", 0))
		same(t, "a period of years", conflicted(t, x, "2000-01-01", "2099-12-31", "", 0), "p1", "p2")
		same(t, "the organisation, in other case", conflicted(t, x, "2026-12-01", "2026-12-31", "AARHUS kommune", 0), "p1")
		same(t, "another organisation", conflicted(t, x, "2026-12-01", "2026-12-31", "AUH Kardiologi", 0), "p2")
		same(t, "an organisation on another day", conflicted(t, x, "2026-12-02", "2026-12-02", "Aarhus Kommune", 0))
		same(t, "an organisation nobody has", conflicted(t, x, "2026-12-01", "2026-12-31", "Randers Kommune", 0))
		if got := conflicted(t, x, "2026-12-01", "2026-12-31", "", 1); len(got) != 1 {
			t.Errorf("limit 1 gave %v", got)
		}
		same(t, "among", among(t, x, "2026-12-01", "2026-12-31", "p1", "p3", "nobody", "p1"), "p1")
		same(t, "among, another day", among(t, x, "2026-12-02", "2026-12-02", "p1", "p2"), "p2")
		same(t, "among none", among(t, x, "2026-12-01", "2026-12-31"))
	})
	t.Run("ARebuildReplacesTheTerms", func(t *testing.T) {
		c, x := newIndex(t)
		put(t, c, tl("p1", kommune, "2026-12-01"), tl("p2", kommune, "2026-12-01"))
		// p1's conflict moved to another day; p2's went, and so did its
		// entry from the organisation.
		put(t, c, tl("p1", kommune, "2026-12-05"), tl("p2", hospital))
		same(t, "the old day", conflicted(t, x, "2026-12-01", "2026-12-01", "", 0))
		same(t, "the old day, by organisation", conflicted(t, x, "2026-12-01", "2026-12-01", "Aarhus Kommune", 0))
		same(t, "the new day", conflicted(t, x, "2026-12-05", "2026-12-05", "Aarhus Kommune", 0), "p1")
		same(t, "among", among(t, x, "2026-12-01", "2026-12-01", "p1", "p2"))
		// p1's entries are no longer the organisation's.
		put(t, c, tl("p1", hospital, "2026-12-05"))
		same(t, "an organisation p1 left", conflicted(t, x, "2026-12-05", "2026-12-05", "Aarhus Kommune", 0))
		same(t, "the organisation p1 has", conflicted(t, x, "2026-12-05", "2026-12-05", "AUH Kardiologi", 0), "p1")
	})
	t.Run("ManyPatients", func(t *testing.T) {
		c, x := newIndex(t)
		var want []string
		for i := range 1200 { // more than one read of the set
			h := fmt.Sprintf("p%04d", i)
			want = append(want, h)
			put(t, c, tl(h, kommune, "2026-12-01", "2026-12-02"))
		}
		same(t, "every one, once", conflicted(t, x, "2026-12-01", "2026-12-02", "Aarhus Kommune", 0), want...)
		if got := conflicted(t, x, "2026-12-01", "2026-12-02", "", 700); len(got) != 700 || len(slices.Compact(got)) != 700 {
			t.Errorf("limit 700 gave %d, %d of them different", len(got), len(slices.Compact(got)))
		}
	})
}
