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

// TestIndexForgetsExpiredTimelines: a timeline Redis let expire is not
// named, and the records of such patients are gone after the next look.
func TestIndexForgetsExpiredTimelines(t *testing.T) {
	ctx := context.Background()
	c := newTestCache(t, "", Options{TTL: 300 * time.Millisecond})
	for _, h := range []string{"p1", "p2"} {
		if err := c.Put(ctx, h, conflictedOn(h, "Aarhus Kommune", "2026-12-01")); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := c.Conflicted(ctx, "2026-12-01", "2026-12-01", "", 0); err != nil || len(got) != 2 {
		t.Fatalf("before expiry: %v, %v; want both", got, err)
	}
	eventually(t, "the timelines to expire", func() bool {
		n, err := c.rdb.Exists(ctx, c.timelineKey("p1"), c.timelineKey("p2")).Result()
		return err == nil && n == 0
	})
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
