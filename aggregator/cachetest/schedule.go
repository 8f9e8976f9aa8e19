package cachetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// RunSchedule checks the behaviours the background refresher relies on.
// newSchedule must return an empty schedule of the test's own. Times are
// whole milliseconds: a shared schedule may keep no more.
func RunSchedule(t *testing.T, newSchedule func(t *testing.T) aggregator.Schedule) {
	t.Helper()
	ctx := context.Background()
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	minute := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	long := minute(-60 * 24 * 30) // nobody is forgotten unless the test says so
	viewed := func(t *testing.T, s aggregator.Schedule, h string, at, due time.Time) {
		t.Helper()
		if err := s.Viewed(ctx, h, at, due); err != nil {
			t.Fatal(err)
		}
	}
	claim := func(t *testing.T, s aggregator.Schedule, now time.Time, n int, until, viewedBefore time.Time) []string {
		t.Helper()
		cs, err := s.Claim(ctx, now, n, until, viewedBefore)
		if err != nil {
			t.Fatal(err)
		}
		var hs []string
		for _, c := range cs {
			hs = append(hs, c.Handle)
		}
		return hs
	}
	same := func(t *testing.T, what string, got, want []string) {
		t.Helper()
		if len(got) == 0 && len(want) == 0 {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}

	t.Run("DueOnlyWhenDue", func(t *testing.T) {
		s := newSchedule(t)
		viewed(t, s, "p1", t0, minute(2))
		same(t, "Claim before due", claim(t, s, minute(1), 10, minute(3), long), nil)
		same(t, "Claim when due", claim(t, s, minute(2), 10, minute(4), long), []string{"p1"})
	})
	t.Run("ClaimedOncePerInterval", func(t *testing.T) {
		s := newSchedule(t)
		viewed(t, s, "p1", t0, minute(2))
		same(t, "first Claim", claim(t, s, minute(2), 10, minute(4), long), []string{"p1"})
		same(t, "second Claim in the interval", claim(t, s, minute(3), 10, minute(5), long), nil)
		same(t, "Claim when the claim ran out", claim(t, s, minute(4), 10, minute(6), long), []string{"p1"})
	})
	t.Run("EarliestFirstUpToN", func(t *testing.T) {
		s := newSchedule(t)
		viewed(t, s, "late", t0, minute(3))
		viewed(t, s, "early", t0, minute(1))
		viewed(t, s, "middle", t0, minute(2))
		viewed(t, s, "future", t0, minute(9))
		same(t, "Claim of 2", claim(t, s, minute(5), 2, minute(10), long), []string{"early", "middle"})
		same(t, "Claim of the rest", claim(t, s, minute(5), 10, minute(10), long), []string{"late"})
	})
	t.Run("ViewingAgainKeepsTheDueTime", func(t *testing.T) {
		s := newSchedule(t)
		viewed(t, s, "p1", t0, minute(2))
		viewed(t, s, "p1", minute(1), minute(3))
		same(t, "Claim at the first due time", claim(t, s, minute(2), 10, minute(4), long), []string{"p1"})
	})
	t.Run("ForgetsWhoWasNotViewed", func(t *testing.T) {
		s := newSchedule(t)
		viewed(t, s, "old", t0, minute(1))
		viewed(t, s, "recent", minute(10), minute(11))
		viewed(t, s, "old-seen-again", t0, minute(1))
		viewed(t, s, "old-seen-again", minute(10), minute(11))
		same(t, "Claim", claim(t, s, minute(20), 10, minute(30), minute(5)), []string{"old-seen-again", "recent"})
		if err := s.Reschedule(ctx, aggregator.Next{Handle: "old", Due: minute(20)}); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkChanged(ctx, "h", []string{"old"}, minute(20)); err != nil {
			t.Fatal(err)
		}
		same(t, "Claim after rescheduling a forgotten patient", claim(t, s, minute(40), 10, minute(50), minute(5)), []string{"old-seen-again", "recent"})
	})
	t.Run("Reschedule", func(t *testing.T) {
		s := newSchedule(t)
		viewed(t, s, "p1", t0, minute(2))
		viewed(t, s, "p2", t0, minute(2))
		if err := s.Reschedule(ctx, aggregator.Next{Handle: "p1", Due: minute(5)}, aggregator.Next{Handle: "p2", Due: minute(7)},
			aggregator.Next{Handle: "never-viewed", Due: minute(5)}); err != nil {
			t.Fatal(err)
		}
		same(t, "Claim at the old due time", claim(t, s, minute(2), 10, minute(10), long), nil)
		same(t, "Claim at the first new one", claim(t, s, minute(5), 10, minute(10), long), []string{"p1"})
		same(t, "Claim at the second", claim(t, s, minute(7), 10, minute(10), long), []string{"p2"})
		if err := s.Reschedule(ctx); err != nil {
			t.Errorf("Reschedule of nobody: %v", err)
		}
	})
	t.Run("MarkChangedOnlyBringsForward", func(t *testing.T) {
		s := newSchedule(t)
		viewed(t, s, "p1", t0, minute(10))
		viewed(t, s, "p2", t0, minute(2))
		if err := s.MarkChanged(ctx, "h", []string{"p1", "p2", "unknown"}, minute(3)); err != nil {
			t.Fatal(err)
		}
		same(t, "Claim at 2", claim(t, s, minute(2), 10, minute(20), long), []string{"p2"})
		same(t, "Claim at 3", claim(t, s, minute(3), 10, minute(20), long), []string{"p1"})
		same(t, "Claim of an unknown patient marked due", claim(t, s, minute(30), 10, minute(40), long), []string{"p1", "p2"})
	})
	t.Run("ClaimCountsMarksPerSource", func(t *testing.T) {
		s := newSchedule(t)
		viewed(t, s, "changed", t0, minute(10))
		viewed(t, s, "unchanged", t0, minute(1))
		for _, m := range []struct {
			source string
			at     int
		}{{"h", 3}, {"kom-1", 5}, {"h", 4}, {"h", 2}} {
			if err := s.MarkChanged(ctx, m.source, []string{"changed"}, minute(m.at)); err != nil {
				t.Fatal(err)
			}
		}
		claims := func(t *testing.T, at int) map[string]map[string]int64 {
			t.Helper()
			cs, err := s.Claim(ctx, minute(at), 10, minute(at+1), long)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]map[string]int64{}
			for _, c := range cs {
				got[c.Handle] = c.Marks
			}
			return got
		}
		got := claims(t, 6)
		if want := map[string]int64{"h": 3, "kom-1": 1}; len(got) != 2 || !reflect.DeepEqual(got["changed"], want) || len(got["unchanged"]) != 0 {
			t.Errorf("Claim = %v, want changed with marks %v and unchanged with none", got, want)
		}
		// Marks count on: a claim does not reset them.
		if err := s.MarkChanged(ctx, "kom-1", []string{"changed"}, minute(8)); err != nil {
			t.Fatal(err)
		}
		if got := claims(t, 8)["changed"]; !reflect.DeepEqual(got, map[string]int64{"h": 3, "kom-1": 2}) {
			t.Errorf("after one more mark: %v", got)
		}
	})
	t.Run("ClaimTellsWhenItWasDue", func(t *testing.T) {
		s := newSchedule(t)
		viewed(t, s, "p1", t0, minute(2))
		viewed(t, s, "p2", t0, minute(3))
		if err := s.MarkChanged(ctx, "h", []string{"p2"}, minute(1)); err != nil {
			t.Fatal(err)
		}
		cs, err := s.Claim(ctx, minute(5), 10, minute(20), long)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]time.Time{}
		for _, c := range cs {
			got[c.Handle] = c.Due
		}
		if len(got) != 2 || !got["p1"].Equal(minute(2)) || !got["p2"].Equal(minute(1)) {
			t.Errorf("Claim = %v, want p1 due at %v and p2 at %v (marked changed)", cs, minute(2), minute(1))
		}
	})
	t.Run("Due", func(t *testing.T) {
		s := newSchedule(t)
		if n, earliest, err := s.Due(ctx, t0); err != nil || n != 0 || !earliest.IsZero() {
			t.Errorf("Due of an empty schedule = %d, %v, %v", n, earliest, err)
		}
		viewed(t, s, "p1", t0, minute(1))
		viewed(t, s, "p2", t0, minute(2))
		viewed(t, s, "p3", t0, minute(5))
		n, earliest, err := s.Due(ctx, minute(3))
		if err != nil || n != 2 || !earliest.Equal(minute(1)) {
			t.Errorf("Due = %d, %v, %v; want 2, %v", n, earliest, err, minute(1))
		}
	})
}
