package rediscache

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// rangeCache is what aggregator's optional listing interface asks for.
type rangeCache interface {
	aggregator.Cache
	Range(ctx context.Context, fn func(handle string, t *aggregator.Timeline) bool) error
}

var (
	_ rangeCache = (*Cache)(nil)
	_ rangeCache = (*Fallback)(nil)
)

func TestRange(t *testing.T) {
	ctx := context.Background()
	prefix := testPrefix(t)
	c := newTestCache(t, prefix, Options{})
	// A neighbour under another prefix must not show up.
	other := newTestCache(t, "", Options{})
	if err := other.Put(ctx, "stranger", &aggregator.Timeline{Patient: "stranger"}); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range rangeBatch + 5 { // more than one batch
		h := fmt.Sprintf("p%03d", i)
		want = append(want, h)
		if err := c.Put(ctx, h, &aggregator.Timeline{Patient: h, GeneratedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	// A lease and an unreadable timeline are not timelines to list.
	if _, _, err := c.Acquire(ctx, "p000", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := c.rdb.Set(ctx, c.timelineKey("broken"), "{", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		limit int
		want  int
	}{
		{"all", len(want) + 10, len(want)},
		{"stops when asked", 3, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := c.Range(ctx, func(h string, tl *aggregator.Timeline) bool {
				if tl.Patient != h {
					t.Errorf("handle %s holds the timeline of %s", h, tl.Patient)
				}
				got = append(got, h)
				return len(got) < tc.limit
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want {
				t.Fatalf("Range visited %d timelines, want %d", len(got), tc.want)
			}
			if tc.want == len(want) {
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("Range visited %v, want %v", got, want)
				}
			}
		})
	}
}

func TestFallbackRangeWithoutRedis(t *testing.T) {
	ctx := context.Background()
	f := newFallback(t, deadCache(t))
	_ = f.Put(ctx, "p1", &aggregator.Timeline{Patient: "p1"}) // finds Redis down
	var got []string
	if err := f.Range(ctx, func(h string, _ *aggregator.Timeline) bool { got = append(got, h); return true }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"p1"}) {
		t.Errorf("Range with Redis down visited %v, want the local [p1]", got)
	}
}
