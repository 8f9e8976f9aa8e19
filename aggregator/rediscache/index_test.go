package rediscache

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// conflictedOn is a timeline with an entry from org and a conflict on day.
func conflictedOn(handle, org, day string) *aggregator.Timeline {
	gen := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	return &aggregator.Timeline{Patient: handle, GeneratedAt: gen,
		Entries:   []aggregator.Entry{{ID: "s/Appointment/1", Source: "s", Organization: org, Start: gen}},
		Conflicts: []aggregator.Conflict{{ID: "c", Rule: aggregator.RuleHeavyDay, Day: day, Entries: []string{"s/Appointment/1"}}}}
}

// TestIndexForgetsExpiredTimelines: a timeline Redis let expire is named
// at most a quarter of its TTL longer (its record outlives it that much:
// see index.go), and the records of such patients are gone after the next
// look.
func TestIndexForgetsExpiredTimelines(t *testing.T) {
	ctx := context.Background()
	const ttl = 300 * time.Millisecond
	c := newTestCache(t, "", Options{TTL: ttl})
	for _, h := range []string{"p1", "p2"} {
		if err := c.Put(ctx, h, conflictedOn(h, "Aarhus Kommune", "2026-12-01")); err != nil {
			t.Fatal(err)
		}
	}
	stored := time.Now()
	if got, err := c.Conflicted(ctx, "2026-12-01", "2026-12-01", "", 0); err != nil || len(got) != 2 {
		t.Fatalf("before expiry: %v, %v; want both", got, err)
	}
	eventually(t, "the timelines to expire", func() bool {
		n, err := c.rdb.Exists(ctx, c.timelineKey("p1"), c.timelineKey("p2")).Result()
		return err == nil && n == 0
	})
	// Past the record's expiry, every look leaves them out.
	time.Sleep(time.Until(stored.Add(ttl + ttl/4)))
	for _, org := range []string{"", aggregator.FoldOrganization("Aarhus Kommune")} {
		if got, err := c.Conflicted(ctx, "2026-12-01", "2026-12-01", org, 0); err != nil || len(got) != 0 {
			t.Errorf("Conflicted(%q) after expiry = %v, %v; want none", org, got, err)
		}
	}
	if got, err := c.ConflictedAmong(ctx, "2026-12-01", "2026-12-01", []string{"p1", "p2"}); err != nil || len(got) != 0 {
		t.Errorf("ConflictedAmong after expiry = %v, %v; want none", got, err)
	}
	// The look forgot them: no member, record or expiry is left behind.
	keys, err := c.rdb.Keys(ctx, c.prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Errorf("keys left after the timelines expired: %v", keys)
	}
}

// TestIndexOrganisationsSealed: with a seal key the index names
// organisations by a keyed hash, not one anybody can compute from a list of
// organisation names.
func TestIndexOrganisationsSealed(t *testing.T) {
	ctx := context.Background()
	plain := newTestCache(t, "", Options{})
	sealed := newTestCache(t, "", Options{SealKey: testSealKey})
	org := aggregator.FoldOrganization("AUH Psykiatri")
	for _, c := range []*Cache{plain, sealed} {
		if err := c.Put(ctx, "p1", conflictedOn("p1", "AUH Psykiatri", "2026-12-01")); err != nil {
			t.Fatal(err)
		}
		if got, err := c.Conflicted(ctx, "2026-12-01", "2026-12-01", org, 0); err != nil || len(got) != 1 {
			t.Errorf("Conflicted by organisation = %v, %v; want p1", got, err)
		}
	}
	keys, err := sealed.rdb.Keys(ctx, sealed.prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.HasSuffix(k, plain.orgTerm(org)) {
			t.Errorf("sealed index key %s is the organisation's plain hash", k)
		}
	}
}

// The lease holder's Put of terms this replica indexed with the timeline
// the lease found skips the index script (one round trip: the
// transaction), and the index still names the patient; new terms, a Put
// without the lease, or another replica's Put in between make it write.
func TestUnchangedTermsSkipTheIndex(t *testing.T) {
	ctx := context.Background()
	prefix := testPrefix(t)
	c := newTestCache(t, prefix, Options{})
	other := newTestCache(t, prefix, Options{}) // another replica
	var cmds commandCounter
	c.rdb.AddHook(&cmds)
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	build := func(day string) *aggregator.Timeline {
		at = at.Add(time.Minute)
		tl := conflictedOn("p1", "Aarhus Kommune", day)
		tl.GeneratedAt = at
		return tl
	}
	put := func(what string, cache *Cache, leased bool, tl *aggregator.Timeline, trips int64) {
		t.Helper()
		if leased {
			release, ok, err := cache.Acquire(ctx, "p1", time.Minute)
			if err != nil || !ok {
				t.Fatalf("%s: Acquire = %v, %v", what, ok, err)
			}
			defer func() { _ = release(ctx) }()
		}
		before := cmds.n.Load()
		if err := cache.Put(ctx, "p1", tl); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if n := cmds.n.Load() - before; cache == c && n != trips {
			t.Errorf("%s: Put sent %d commands, want %d", what, n, trips)
		}
		day := tl.Conflicts[0].Day
		for _, org := range []string{"", aggregator.FoldOrganization("Aarhus Kommune")} {
			if got, err := c.Conflicted(ctx, day, day, org, 0); err != nil || len(got) != 1 || got[0] != "p1" {
				t.Errorf("%s: Conflicted(%s, %q) = %v, %v; want p1", what, day, org, got, err)
			}
		}
	}
	put("the first Put", c, true, build("2026-12-01"), 2)
	put("the same terms under the lease", c, true, build("2026-12-01"), 1)
	put("the same terms without the lease", c, false, build("2026-12-01"), 2)
	put("the same terms under the lease again", c, true, build("2026-12-01"), 1)
	put("another day", c, true, build("2026-12-02"), 2)
	if got, err := c.Conflicted(ctx, "2026-12-01", "2026-12-01", "", 0); err != nil || len(got) != 0 {
		t.Errorf("the day left: Conflicted = %v, %v; want none", got, err)
	}
	put("another replica's Put", other, true, build("2026-12-03"), 0)
	put("this replica's terms after the other's", c, true, build("2026-12-02"), 2)
	if got, err := c.Conflicted(ctx, "2026-12-03", "2026-12-03", "", 0); err != nil || len(got) != 0 {
		t.Errorf("the other replica's day: Conflicted = %v, %v; want none", got, err)
	}
}

// An index record is left as it is for at most indexRewrite, so it
// outlives every timeline stored under it (written until now + TTL +
// indexRewrite).
func TestIndexMemoIsCurrentForAWhile(t *testing.T) {
	var m indexMemo
	at := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	terms := indexTerms{days: "2026-12-01", orgs: "ab12"}
	m.put("p1", indexed{terms: terms, at: at, stamp: "s1"})
	for _, tc := range []struct {
		name  string
		terms indexTerms
		stamp string
		now   time.Time
		want  bool
	}{
		{"the same, soon after", terms, "s1", at.Add(time.Minute), true},
		{"the same, just before the rewrite", terms, "s1", at.Add(indexRewrite - time.Millisecond), true},
		{"the same, at the rewrite", terms, "s1", at.Add(indexRewrite), false},
		{"a clock gone back", terms, "s1", at.Add(-time.Second), false},
		{"another stamp", terms, "s2", at.Add(time.Minute), false},
		{"no stamp", terms, "", at.Add(time.Minute), false},
		{"other days", indexTerms{days: "2026-12-02", orgs: "ab12"}, "s1", at.Add(time.Minute), false},
		{"other organisations", indexTerms{days: "2026-12-01"}, "s1", at.Add(time.Minute), false},
	} {
		got, ok := m.current("p1", tc.terms, tc.stamp, tc.now, indexRewrite)
		if ok != tc.want || ok && !got.Equal(at) {
			t.Errorf("%s: current = %v, %v; want %v", tc.name, got, ok, tc.want)
		}
	}
	if _, ok := m.current("p2", terms, "s1", at, indexRewrite); ok {
		t.Error("a patient never indexed is current")
	}
	m.forget("p1")
	if _, ok := m.current("p1", terms, "s1", at.Add(time.Minute), indexRewrite); ok {
		t.Error("a forgotten patient is current")
	}
}
