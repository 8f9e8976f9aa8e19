package view_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/view"
)

// countingTimelines counts the cached timelines a view reads.
type countingTimelines struct {
	view.Timelines
	cached atomic.Int64
}

func (c *countingTimelines) Cached(ctx context.Context, h string) (*aggregator.Timeline, bool, error) {
	c.cached.Add(1)
	return c.Timelines.Cached(ctx, h)
}

// staleIndex names extra patients besides what the real index names, as an
// index may name one whose timeline lost its conflict or expired.
type staleIndex struct {
	index view.Conflicted
	extra []string
}

func (s staleIndex) Conflicted(ctx context.Context, from, to, org string, limit int) ([]string, error) {
	hs, err := s.index.Conflicted(ctx, from, to, org, limit)
	return append(hs, s.extra...), err
}

func (s staleIndex) ConflictedAmong(ctx context.Context, from, to string, hs []string) ([]string, error) {
	return s.index.ConflictedAmong(ctx, from, to, hs)
}

// TestWorklistReadsWhatTheIndexNames: of forty cached patients with visits
// from the clinician's organisation, two have a conflict; the worklist
// reads those two timelines, not forty.
func TestWorklistReadsWhatTheIndexNames(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	var want []string
	for i := range 40 {
		p, err := e.pats.Register(ctx, aggregator.Identifier{System: cprSystem, Value: fmt.Sprintf("01019%05d", i)})
		if err != nil {
			t.Fatal(err)
		}
		e.kom.set(entry(e.kom, "y", "Hjemmepleje", at(5, 10, 30), 30, false))
		e.hosp.set()
		if i%20 == 0 { // overlapping visits
			e.hosp.set(entry(e.hosp, "x", "Kontrol", at(5, 10, 0), 60, false))
			want = append(want, p.Handle)
		}
		if _, err := e.svc.Refresh(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	tl := &countingTimelines{Timelines: e.svc}
	views := view.New(tl, e.pats, view.Options{Access: e.acc, Conflicted: e.svc, ByOrganization: true, Now: func() time.Time { return e.now }})
	kim := access.Principal{Subject: "sub-kim", Roles: []access.Role{access.RoleClinician}, Organization: "KOM"}
	list, err := views.Worklist(ctx, kim, "2026-12-01", "2026-12-31")
	if err != nil {
		t.Fatal(err)
	}
	got := handles(list)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("worklist = %v, want the two with conflicts %v", got, want)
	}
	if n := tl.cached.Load(); n != int64(len(want)) {
		t.Errorf("the worklist read %d cached timelines, want %d: one per patient it shows", n, len(want))
	}
}

// TestWorklistShowsWhatTheTimelineHolds: a patient the index names whose
// timeline has since lost its conflict, or is not cached at all, is neither
// shown nor audited.
func TestWorklistShowsWhatTheTimelineHolds(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.hosp.set(entry(e.hosp, "x", "Kontrol", at(5, 10, 0), 60, false))
	e.kom.set(entry(e.kom, "y", "Hjemmepleje", at(5, 10, 30), 30, false))
	bo, _ := e.pats.Register(ctx, aggregator.Identifier{System: cprSystem, Value: "3102380127"})
	cai := e.pats.Handle(aggregator.Identifier{System: cprSystem, Value: "3102450133"}) // never built
	for _, p := range []aggregator.PatientRef{e.annaRef, bo} {
		if _, err := e.svc.Refresh(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	e.hosp.set() // Bo's overlap is gone at his next build
	if _, err := e.svc.Refresh(ctx, bo); err != nil {
		t.Fatal(err)
	}
	views := view.New(e.svc, e.pats, view.Options{Access: e.acc, Conflicted: staleIndex{index: e.svc, extra: []string{bo.Handle, cai}},
		ByOrganization: true, Now: func() time.Time { return e.now }})
	kim := access.Principal{Subject: "sub-kim", Roles: []access.Role{access.RoleClinician}, Organization: "KOM"}
	list, err := views.Worklist(ctx, kim, "2026-12-01", "2026-12-31")
	if err != nil {
		t.Fatal(err)
	}
	if got := handles(list); !slices.Equal(got, []string{e.annaRef.Handle}) {
		t.Errorf("worklist = %v, want Anna's alone", got)
	}
	for _, h := range []string{bo.Handle, cai} {
		for _, ev := range auditOf(t, e, access.Principal{Roles: []access.Role{access.RolePatient}, Handle: h}) {
			if ev.Action == access.ActionWorklist {
				t.Errorf("%s, not shown, has the worklist row %+v", h, ev)
			}
		}
	}
}
