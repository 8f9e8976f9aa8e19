package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/overblik/overblik/access"
)

// The conflicts marked handled of access.MarkStore.

func runHandled(t *testing.T, h Harness) {
	t.Helper()
	t.Run("HandledRoundTrip", func(t *testing.T) { testHandledRoundTrip(t, h) })
	t.Run("HandledFirstMarkStands", func(t *testing.T) { testHandledFirst(t, h) })
	t.Run("HandledRefusedBatchWritesNothing", func(t *testing.T) { testHandledAtomic(t, h) })
	t.Run("HandledOnBrokenStoreFails", func(t *testing.T) { testHandledBroken(t, h) })
}

func mark(patient, conflict, actor string, at time.Time) access.ConflictMark {
	return access.ConflictMark{Patient: patient, Conflict: conflict, Actor: actor, ActorName: "Klara Kliniker, Hjemmeplejen Midtbyen", At: at}
}

func markEvent(m access.ConflictMark) access.Event {
	return access.Event{At: m.At, Actor: m.Actor, ActorRole: access.RoleClinician, ActorName: m.ActorName,
		Patient: m.Patient, Action: access.ActionConflictHandled, Outcome: access.OutcomeAllowed, Ref: m.Conflict}
}

func handledKeys(ms []access.ConflictMark) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Patient+"/"+m.Conflict+"/"+m.Actor+"/"+m.ActorName+"/"+m.At.UTC().Format(time.RFC3339Nano))
	}
	slices.Sort(out)
	return out
}

func testHandledRoundTrip(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	m1, m2 := mark("pa", "c1", "sub-k", base), mark("pa", "c2", "sub-k", base)
	m3 := mark("pb", "c1", "sub-j", base.Add(time.Hour+time.Microsecond))
	if err := s.MarkHandled(ctx, []access.ConflictMark{m1, m2}, []access.Event{markEvent(m1), markEvent(m2)}); err != nil {
		t.Fatalf("MarkHandled: %v", err)
	}
	if err := s.MarkHandled(ctx, []access.ConflictMark{m3}, []access.Event{markEvent(m3)}); err != nil {
		t.Fatalf("MarkHandled: %v", err)
	}
	got, err := s.Handled(ctx, []string{"pa", "pb", "pc"})
	if err != nil {
		t.Fatalf("Handled: %v", err)
	}
	if g, w := handledKeys(got), handledKeys([]access.ConflictMark{m1, m2, m3}); !slices.Equal(g, w) {
		t.Errorf("Handled =\n %v\nwant\n %v", g, w)
	}
	got, _ = s.Handled(ctx, []string{"pb"})
	if g, w := handledKeys(got), handledKeys([]access.ConflictMark{m3}); !slices.Equal(g, w) {
		t.Errorf("Handled(pb) = %v, want %v", g, w)
	}
	if got, _ := s.Handled(ctx, []string{"nobody"}); len(got) != 0 {
		t.Errorf("Handled(nobody) = %v", got)
	}
	// Each mark is a row in its patient's log, naming the conflict.
	log := allEvents(t, s, "pa", 10)
	var refs []string
	for _, ev := range log {
		if ev.Action != access.ActionConflictHandled || ev.ActorName != m1.ActorName {
			t.Errorf("pa's log row %+v", ev)
		}
		refs = append(refs, ev.Ref)
	}
	slices.Sort(refs)
	if !slices.Equal(refs, []string{"c1", "c2"}) {
		t.Errorf("pa's log names %v, want c1 and c2", refs)
	}
	// More patients than one statement takes are read in several.
	many := make([]string, 1200)
	for i := range many {
		many[i] = fmt.Sprintf("other-%d", i)
	}
	many[1100], many[1199] = "pb", "pb" // twice, in two statements: once in the answer
	if got, err := s.Handled(ctx, many); err != nil || len(got) != 1 || got[0].Patient != "pb" {
		t.Errorf("Handled of 1200 patients = %v, %v; want pb's mark", got, err)
	}
}

func testHandledFirst(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	first, second := mark("pa", "c1", "sub-k", base), mark("pa", "c1", "sub-j", base.Add(time.Hour))
	for _, m := range []access.ConflictMark{first, second} {
		if err := s.MarkHandled(ctx, []access.ConflictMark{m}, []access.Event{markEvent(m)}); err != nil {
			t.Fatalf("MarkHandled: %v", err)
		}
	}
	got, err := s.Handled(ctx, []string{"pa"})
	if err != nil {
		t.Fatal(err)
	}
	if g, w := handledKeys(got), handledKeys([]access.ConflictMark{first}); !slices.Equal(g, w) {
		t.Errorf("Handled = %v, want the first mark only: %v", g, w)
	}
	if log := allEvents(t, s, "pa", 10); len(log) != 2 {
		t.Errorf("pa's log has %d rows, want both clinicians' marks", len(log))
	}
}

func testHandledAtomic(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	m := mark("pa", "c1", "sub-k", base)
	bad := mark("pa", "c2", "", base) // no actor: refused
	if err := s.MarkHandled(ctx, []access.ConflictMark{m, bad}, []access.Event{markEvent(m), markEvent(bad)}); !errors.Is(err, access.ErrInvalid) {
		t.Fatalf("MarkHandled with a mark without actor: %v, want ErrInvalid", err)
	}
	if got, _ := s.Handled(ctx, []string{"pa"}); len(got) != 0 {
		t.Errorf("a refused batch left marks: %v", got)
	}
	if log := allEvents(t, s, "pa", 10); len(log) != 0 {
		t.Errorf("a refused batch left audit rows: %v", log)
	}
}

func testHandledBroken(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	h.Break(t, s)
	m := mark("pa", "c1", "sub-k", base)
	if err := s.MarkHandled(ctx, []access.ConflictMark{m}, []access.Event{markEvent(m)}); err == nil || errors.Is(err, access.ErrInvalid) {
		t.Errorf("MarkHandled on a broken store: %v", err)
	}
	if _, err := s.Handled(ctx, []string{"pa"}); err == nil || errors.Is(err, access.ErrNotVisible) {
		t.Errorf("Handled on a broken store: %v", err)
	}
}
