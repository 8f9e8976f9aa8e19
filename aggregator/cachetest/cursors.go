package cachetest

import (
	"context"
	"testing"

	"github.com/overblik/overblik/aggregator"
)

// RunCursors checks the behaviours change discovery relies on. newCursors
// must return cursors of the test's own, all empty.
func RunCursors(t *testing.T, newCursors func(t *testing.T) aggregator.Cursors) {
	t.Helper()
	ctx := context.Background()
	cursor := func(t *testing.T, c aggregator.Cursors, source string) string {
		t.Helper()
		v, err := c.Cursor(ctx, source)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	advance := func(t *testing.T, c aggregator.Cursors, source, from, next string) bool {
		t.Helper()
		ok, err := c.AdvanceCursor(ctx, source, from, next)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	t.Run("StartsEmpty", func(t *testing.T) {
		if got := cursor(t, newCursors(t), "h"); got != "" {
			t.Errorf("Cursor = %q, want empty", got)
		}
	})
	t.Run("AdvanceFromWhereItIs", func(t *testing.T) {
		c := newCursors(t)
		if !advance(t, c, "h", "", "2026-11-26T10:00:00Z") {
			t.Fatal("first advance from empty refused")
		}
		if !advance(t, c, "h", "2026-11-26T10:00:00Z", "2026-11-26T10:00:10.5Z") {
			t.Fatal("advance from the current cursor refused")
		}
		if got := cursor(t, c, "h"); got != "2026-11-26T10:00:10.5Z" {
			t.Errorf("Cursor = %q, want the last one", got)
		}
	})
	t.Run("OnlyOneReplicaAdvancesFromACursor", func(t *testing.T) {
		c := newCursors(t)
		advance(t, c, "h", "", "a")
		if !advance(t, c, "h", "a", "b") {
			t.Fatal("the first replica could not advance")
		}
		if advance(t, c, "h", "a", "b2") {
			t.Error("a second replica advanced from a cursor already moved on")
		}
		if got := cursor(t, c, "h"); got != "b" {
			t.Errorf("Cursor = %q, want the first replica's b", got)
		}
	})
	t.Run("SourcesAreSeparate", func(t *testing.T) {
		c := newCursors(t)
		advance(t, c, "h", "", "x")
		advance(t, c, "gp", "", "y")
		if a, b := cursor(t, c, "h"), cursor(t, c, "gp"); a != "x" || b != "y" {
			t.Errorf("cursors = %q, %q; want x, y", a, b)
		}
	})
}
