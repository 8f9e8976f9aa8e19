package rediscache

import (
	"context"
	"fmt"
	"testing"

	"github.com/overblik/overblik/aggregator"
)

// BenchmarkGetConflicts338 times the worklist's read of its biggest day in
// the region bench: 338 patients' stored conflicts, on the real Redis.
func BenchmarkGetConflicts338(b *testing.B) {
	ctx := context.Background()
	tl, _ := demoTimeline(b)
	c := newTestCache(b, "", Options{})
	hs := make([]string, 338)
	for i := range hs {
		hs[i] = fmt.Sprintf("p%03d", i)
		x := *tl
		x.Patient = hs[i]
		if err := c.Put(ctx, hs[i], &x); err != nil {
			b.Fatal(err)
		}
	}
	p := aggregator.ConflictsOnly(tl)
	b.Logf("demo: %d entries, %d conflicts; projection %d entries", len(tl.Entries), len(tl.Conflicts), len(p.Entries))
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.GetConflicts(ctx, hs); err != nil {
			b.Fatal(err)
		}
	}
}
