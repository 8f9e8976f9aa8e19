package rediscache

import (
	"context"
	"slices"
	"testing"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/cachetest"
)

func getConflicts(t *testing.T, c *Cache, h string) *aggregator.Timeline {
	t.Helper()
	ts, err := c.GetConflicts(context.Background(), []string{h})
	if err != nil {
		t.Fatal(err)
	}
	return ts[0]
}

func entryIDs(t *aggregator.Timeline) []string {
	var ids []string
	for _, e := range t.Entries {
		ids = append(ids, e.ID)
	}
	return ids
}

// TestConflictsAreStoredWithTheTimeline: Put stores, led by the stamp of
// the timeline stored with it, exactly the conflicts, the entries they
// name and the restricted entry; GetConflicts reads that, not the whole
// timeline.
func TestConflictsAreStoredWithTheTimeline(t *testing.T) {
	for _, seal := range [][]byte{nil, testSealKey} {
		ctx := context.Background()
		c := newTestCache(t, "", Options{SealKey: seal})
		tl := cachetest.ConflictTimeline("p1", 0)
		if err := c.Put(ctx, "p1", tl); err != nil {
			t.Fatal(err)
		}
		stamp, err := c.rdb.Get(ctx, c.stampKey("p1")).Result()
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.rdb.Get(ctx, c.conflictsKey("p1")).Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if string(b[:stampLen]) != stamp {
			t.Fatalf("stored conflicts start %q, want the timeline's stamp %q", b[:stampLen], stamp)
		}
		stored, err := c.codec.decodeTimeline(b[stampLen:], c.conflictsKey("p1"))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{tl.Entries[0].ID, tl.Entries[1].ID, tl.Entries[2].ID} // the conflict's two, the restricted one
		if got := entryIDs(stored); !slices.Equal(got, want) {
			t.Errorf("stored conflicts hold entries %v, want %v", got, want)
		}
		cachetest.CheckConflictsOf(t, stored, tl)
		if got := entryIDs(getConflicts(t, c, "p1")); !slices.Equal(got, want) {
			t.Errorf("GetConflicts gave entries %v, want %v", got, want)
		}
		ttl, err := c.rdb.PTTL(ctx, c.conflictsKey("p1")).Result()
		if err != nil || ttl <= 0 {
			t.Errorf("stored conflicts' TTL = %v, %v; want the timeline's", ttl, err)
		}
	}
}

// TestConflictsOfATimelineStoredWithoutThem: a timeline a release before
// projections stored, with none or over an older one, is read whole.
func TestConflictsOfATimelineStoredWithoutThem(t *testing.T) {
	ctx := context.Background()
	c := newTestCache(t, "", Options{})
	// putOld stores tl as a release without projections did.
	putOld := func(tl *aggregator.Timeline) {
		b := c.codec.encodeTimeline(tl, c.timelineKey(tl.Patient))
		if err := c.rdb.Set(ctx, c.timelineKey(tl.Patient), b, 0).Err(); err != nil {
			t.Fatal(err)
		}
		if err := c.rdb.Set(ctx, c.stampKey(tl.Patient), stampOf(b), 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("none", func(t *testing.T) {
		tl := cachetest.ConflictTimeline("p1", 0)
		putOld(tl)
		got := getConflicts(t, c, "p1")
		if !slices.Equal(entryIDs(got), entryIDs(tl)) {
			t.Errorf("GetConflicts gave entries %v, want the whole timeline's %v", entryIDs(got), entryIDs(tl))
		}
		cachetest.CheckConflictsOf(t, got, tl)
	})
	t.Run("over an older one", func(t *testing.T) {
		if err := c.Put(ctx, "p2", cachetest.ConflictTimeline("p2", 0)); err != nil {
			t.Fatal(err)
		}
		next := cachetest.ConflictTimeline("p2", 0)
		next.Version++
		next.Conflicts = nil // resolved at the next build
		putOld(next)
		got := getConflicts(t, c, "p2")
		if len(got.Conflicts) != 0 || got.Version != next.Version {
			t.Errorf("GetConflicts gave version %d with conflicts %+v: the older build's projection, not the stored timeline", got.Version, got.Conflicts)
		}
	})
	t.Run("not cached", func(t *testing.T) {
		if got := getConflicts(t, c, "nobody"); got != nil {
			t.Errorf("GetConflicts of a patient never stored = %+v", got)
		}
	})
}
