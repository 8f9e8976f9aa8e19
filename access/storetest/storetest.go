// Package storetest is the conformance suite every access.Store passes: each
// backend's test calls Run with a way to open a fresh, empty store.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/overblik/overblik/access"
)

// Harness opens stores for the suite.
type Harness struct {
	// Open returns a fresh, empty store that the harness cleans up with t.Cleanup.
	Open func(t *testing.T) access.Store
	// Break makes every later call on s fail, as a lost database would (closing it will do).
	Break func(t *testing.T, s access.Store)
}

// base is a fixed instant with whole seconds, so times survive the stores'
// microsecond precision unchanged.
var base = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	t.Helper()
	t.Run("AuditLogPagesNewestFirst", func(t *testing.T) { testAuditLog(t, h) })
	t.Run("AuditLogBadCursor", func(t *testing.T) { testBadCursor(t, h) })
	t.Run("Delegations", func(t *testing.T) { testDelegations(t, h) })
	t.Run("Revoke", func(t *testing.T) { testRevoke(t, h) })
	t.Run("OneCurrentDelegationPerPerson", func(t *testing.T) { testAlreadyGranted(t, h) })
	t.Run("ConcurrentGrantsToOnePerson", func(t *testing.T) { testConcurrentGrants(t, h) })
	t.Run("GranteeName", func(t *testing.T) { testGranteeName(t, h) })
	t.Run("AuditLogWithoutOwnReads", func(t *testing.T) { testWithoutOwnReads(t, h) })
	t.Run("ChangeAndAuditRowAreOneTransaction", func(t *testing.T) { testAtomic(t, h) })
	t.Run("Block", func(t *testing.T) { testBlock(t, h) })
	t.Run("Blocks", func(t *testing.T) { testBlocks(t, h) })
	t.Run("ConcurrentAudit", func(t *testing.T) { testConcurrentAudit(t, h) })
	t.Run("AuditBatch", func(t *testing.T) { testAuditBatch(t, h) })
	t.Run("LookedUp", func(t *testing.T) { testLookedUp(t, h) })
	t.Run("BrokenStoreFails", func(t *testing.T) { testBroken(t, h) })
	runFeeds(t, h)   // feeds.go
	runHandled(t, h) // handled.go
}

func event(patient string, at time.Time, a access.Action, n int) access.Event {
	return access.Event{
		At: at, Actor: fmt.Sprintf("sub-%d", n), ActorRole: access.RoleClinician, ActorName: "Dr. Test",
		ActorOrg: "Hjemmeplejen Midtbyen", ActorHandle: "h-actor", Patient: patient, Action: a, Reason: fmt.Sprintf("reason %d", n),
		Outcome: access.OutcomeAllowed, Ref: "",
	}
}

// allEvents reads a patient's whole log with pages of size limit.
func allEvents(t *testing.T, s access.Store, patient string, limit int) []access.Event {
	t.Helper()
	var all []access.Event
	cursor := ""
	for range 1000 {
		page, err := s.AuditLog(context.Background(), patient, cursor, limit)
		if err != nil {
			t.Fatalf("AuditLog(%q, %q, %d): %v", patient, cursor, limit, err)
		}
		if len(page.Events) > limit {
			t.Fatalf("page of %d events, limit %d", len(page.Events), limit)
		}
		all = append(all, page.Events...)
		if page.Next == "" {
			return all
		}
		cursor = page.Next
	}
	t.Fatal("AuditLog never ended")
	return nil
}

func testAuditLog(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	// Written out of time order, two in the same instant: the log orders by
	// time, then by the order of writing.
	offsets := []time.Duration{3 * time.Minute, time.Minute, 5 * time.Minute, time.Minute, 2 * time.Minute}
	for i, off := range offsets {
		if err := s.Audit(ctx, event("pa", base.Add(off), access.ActionView, i)); err != nil {
			t.Fatalf("Audit: %v", err)
		}
	}
	if err := s.Audit(ctx, event("pb", base, access.ActionLookup, 99)); err != nil {
		t.Fatalf("Audit: %v", err)
	}
	wantActors := []string{"sub-2", "sub-0", "sub-4", "sub-3", "sub-1"}
	for _, limit := range []int{1, 2, 5, 10} {
		t.Run(fmt.Sprint("limit", limit), func(t *testing.T) {
			got := allEvents(t, s, "pa", limit)
			if len(got) != len(wantActors) {
				t.Fatalf("got %d events, want %d", len(got), len(wantActors))
			}
			for i, ev := range got {
				if ev.Actor != wantActors[i] {
					t.Errorf("event %d: actor %q, want %q", i, ev.Actor, wantActors[i])
				}
			}
		})
	}
	got := allEvents(t, s, "pb", 10)
	if len(got) != 1 {
		t.Fatalf("pb: got %d events, want 1", len(got))
	}
	want := event("pb", base, access.ActionLookup, 99)
	want.ID = got[0].ID
	if got[0] != want {
		t.Errorf("round trip:\n got %+v\nwant %+v", got[0], want)
	}
	if got[0].ID == 0 {
		t.Error("store assigned no ID")
	}
	if empty := allEvents(t, s, "nobody", 10); len(empty) != 0 {
		t.Errorf("unknown patient: %d events, want none", len(empty))
	}
}

func testBadCursor(t *testing.T, h Harness) {
	s := h.Open(t)
	for _, c := range []string{"x", "1.", "zz.zz!", "."} {
		if _, err := s.AuditLog(context.Background(), "pa", c, 10); !errors.Is(err, access.ErrInvalid) {
			t.Errorf("cursor %q: err %v, want ErrInvalid", c, err)
		}
	}
	if _, err := s.AuditLog(context.Background(), "pa", "", 0); !errors.Is(err, access.ErrInvalid) {
		t.Errorf("limit 0: err %v, want ErrInvalid", err)
	}
}

func grantEvent(d access.Delegation) access.Event {
	return access.Event{At: d.Created, Actor: "sub-" + d.Patient, ActorRole: access.RolePatient,
		ActorHandle: d.Patient, Patient: d.Patient, Action: access.ActionGrant, Outcome: access.OutcomeAllowed, Ref: d.ID}
}

func testDelegations(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	ds := []access.Delegation{
		{ID: "d1", Patient: "pa", Grantee: "r1", Label: "Mor", PatientName: "Anna", GranteeMasked: "300241-xxxx", GranteeName: "Åse",
			Created: base, Until: base.Add(48 * time.Hour)},
		{ID: "d2", Patient: "pa", Grantee: "r2", IncludeRestricted: true, Created: base.Add(time.Hour)},
		{ID: "d3", Patient: "pb", Grantee: "r1", Created: base.Add(2 * time.Hour)},
	}
	for _, d := range ds {
		if err := s.CreateDelegation(ctx, d, grantEvent(d)); err != nil {
			t.Fatalf("CreateDelegation(%s): %v", d.ID, err)
		}
	}
	tests := []struct {
		name, patient, grantee string
		want                   []access.Delegation
	}{
		{"by patient", "pa", "", []access.Delegation{ds[1], ds[0]}},
		{"by grantee", "", "r1", []access.Delegation{ds[2], ds[0]}},
		{"between", "pa", "r1", []access.Delegation{ds[0]}},
		{"none", "pc", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Delegations(ctx, tt.patient, tt.grantee)
			if err != nil {
				t.Fatalf("Delegations: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d delegations %+v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if !sameDelegation(got[i], tt.want[i]) {
					t.Errorf("delegation %d:\n got %+v\nwant %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
	if _, err := s.Delegations(ctx, "", ""); !errors.Is(err, access.ErrInvalid) {
		t.Errorf("no filter: err %v, want ErrInvalid", err)
	}
	log := allEvents(t, s, "pa", 10)
	if len(log) != 2 || log[0].Ref != "d2" || log[0].Action != access.ActionGrant || log[1].Ref != "d1" {
		t.Errorf("pa's log: %+v, want the grants of d2 and d1", log)
	}
}

func sameDelegation(a, b access.Delegation) bool {
	return a.ID == b.ID && a.Patient == b.Patient && a.Grantee == b.Grantee && a.Label == b.Label && a.PatientName == b.PatientName &&
		a.GranteeMasked == b.GranteeMasked && a.GranteeName == b.GranteeName &&
		a.IncludeRestricted == b.IncludeRestricted && a.Created.Equal(b.Created) &&
		a.Until.Equal(b.Until) && a.Revoked.Equal(b.Revoked)
}

func testRevoke(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	d := access.Delegation{ID: "d1", Patient: "pa", Grantee: "r1", Created: base}
	if err := s.CreateDelegation(ctx, d, grantEvent(d)); err != nil {
		t.Fatalf("CreateDelegation: %v", err)
	}
	revokeEv := func(patient string) access.Event {
		return access.Event{At: base.Add(time.Hour), Actor: "sub", ActorRole: access.RolePatient,
			Patient: patient, Action: access.ActionRevoke, Outcome: access.OutcomeAllowed, Ref: "d1"}
	}
	tests := []struct {
		name, patient, id string
		wantErr           error
	}{
		{"someone else's", "pb", "d1", access.ErrNotFound},
		{"unknown", "pa", "nope", access.ErrNotFound},
		{"own", "pa", "d1", nil},
		{"again", "pa", "d1", access.ErrNotFound},
	}
	for _, tt := range tests {
		err := s.RevokeDelegation(ctx, tt.patient, tt.id, base.Add(time.Hour), revokeEv(tt.patient))
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("%s: err %v, want %v", tt.name, err, tt.wantErr)
		}
	}
	got, err := s.Delegations(ctx, "pa", "")
	if err != nil || len(got) != 1 {
		t.Fatalf("Delegations: %v, %v", got, err)
	}
	if !got[0].Revoked.Equal(base.Add(time.Hour)) {
		t.Errorf("Revoked = %v, want %v", got[0].Revoked, base.Add(time.Hour))
	}
	// Only the revocation that happened left a row.
	if log := allEvents(t, s, "pa", 10); len(log) != 2 || log[0].Action != access.ActionRevoke {
		t.Errorf("pa's log: %+v, want the revoke and the grant", log)
	}
	if log := allEvents(t, s, "pb", 10); len(log) != 0 {
		t.Errorf("pb's log: %+v, want none: the refused revoke wrote no row", log)
	}
}

func testAlreadyGranted(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	create := func(d access.Delegation) error { return s.CreateDelegation(ctx, d, grantEvent(d)) }
	// r1 until base+2h; r2 without an end.
	first := access.Delegation{ID: "d1", Patient: "pa", Grantee: "r1", Created: base, Until: base.Add(2 * time.Hour)}
	open := access.Delegation{ID: "d2", Patient: "pa", Grantee: "r2", Created: base}
	for _, d := range []access.Delegation{first, open} {
		if err := create(d); err != nil {
			t.Fatalf("CreateDelegation(%s): %v", d.ID, err)
		}
	}
	steps := []struct {
		name    string
		d       access.Delegation
		revoke  string // revoked before
		wantErr error
	}{
		{"r1 again while the first lasts", access.Delegation{ID: "d3", Patient: "pa", Grantee: "r1", Created: base.Add(time.Hour)}, "", access.ErrAlreadyGranted},
		{"r2 again, with an end", access.Delegation{ID: "d4", Patient: "pa", Grantee: "r2", Created: base.Add(time.Hour), Until: base.Add(5 * time.Hour)}, "", access.ErrAlreadyGranted},
		{"r1 from another patient", access.Delegation{ID: "d5", Patient: "pb", Grantee: "r1", Created: base.Add(time.Hour)}, "", nil},
		{"r1 once the first ended", access.Delegation{ID: "d6", Patient: "pa", Grantee: "r1", Created: base.Add(2 * time.Hour)}, "", nil},
		{"r2 once revoked", access.Delegation{ID: "d7", Patient: "pa", Grantee: "r2", Created: base.Add(3 * time.Hour)}, "d2", nil},
	}
	for _, st := range steps {
		if st.revoke != "" {
			ev := access.Event{At: st.d.Created, Actor: "sub", ActorRole: access.RolePatient, Patient: "pa",
				Action: access.ActionRevoke, Outcome: access.OutcomeAllowed, Ref: st.revoke}
			if err := s.RevokeDelegation(ctx, "pa", st.revoke, st.d.Created, ev); err != nil {
				t.Fatalf("%s: revoke: %v", st.name, err)
			}
		}
		before := len(allEvents(t, s, st.d.Patient, 100))
		err := create(st.d)
		if !errors.Is(err, st.wantErr) || (st.wantErr == nil) != (err == nil) {
			t.Errorf("%s: err %v, want %v", st.name, err, st.wantErr)
		}
		after := len(allEvents(t, s, st.d.Patient, 100))
		if want := before + map[bool]int{true: 1, false: 0}[err == nil]; after != want {
			t.Errorf("%s: the log has %d rows, want %d: a refused grant writes none", st.name, after, want)
		}
	}
	ds, err := s.Delegations(ctx, "pa", "")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	if fmt.Sprint(ids) != "[d7 d6 d2 d1]" {
		t.Errorf("pa's delegations %v, want [d7 d6 d2 d1]: the refused ones are not stored", ids)
	}
}

// testConcurrentGrants: a form sent several times at once makes one
// delegation; the others are ErrAlreadyGranted.
func testConcurrentGrants(t *testing.T, h Harness) {
	s := h.Open(t)
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			d := access.Delegation{ID: fmt.Sprintf("c%d", i), Patient: "pa", Grantee: "r1", Created: base}
			errs[i] = s.CreateDelegation(context.Background(), d, grantEvent(d))
		})
	}
	wg.Wait()
	made := 0
	for i, err := range errs {
		switch {
		case err == nil:
			made++
		case !errors.Is(err, access.ErrAlreadyGranted):
			t.Errorf("grant %d: %v, want nil or ErrAlreadyGranted", i, err)
		}
	}
	if made != 1 {
		t.Errorf("%d of %d concurrent grants to one person were made, want 1", made, n)
	}
	if ds, err := s.Delegations(context.Background(), "pa", "r1"); err != nil || len(ds) != 1 {
		t.Errorf("delegations stored: %d, %v; want 1", len(ds), err)
	}
}

func testGranteeName(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	for _, d := range []access.Delegation{
		{ID: "d1", Patient: "pa", Grantee: "r1", Created: base},
		{ID: "d2", Patient: "pb", Grantee: "r1", Created: base, Revoked: base.Add(time.Hour)},
		{ID: "d3", Patient: "pa", Grantee: "r2", Created: base},
	} {
		if err := s.CreateDelegation(ctx, d, grantEvent(d)); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"Åse Lund", "Åse Lund Kjærsgaard"} { // the second is a change of name
		if err := s.SetGranteeName(ctx, "r1", name); err != nil {
			t.Fatalf("SetGranteeName: %v", err)
		}
		got, err := s.Delegations(ctx, "", "r1")
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range got {
			if d.GranteeName != name {
				t.Errorf("%s: grantee name %q, want %q on every delegation to r1", d.ID, d.GranteeName, name)
			}
		}
	}
	if got, _ := s.Delegations(ctx, "", "r2"); len(got) != 1 || got[0].GranteeName != "" {
		t.Errorf("r2's delegation: %+v, want no name: another person signed in", got)
	}
	if err := s.SetGranteeName(ctx, "nobody", "X"); err != nil {
		t.Errorf("SetGranteeName for someone without delegations: %v", err)
	}
	if err := s.SetGranteeName(ctx, "", "X"); !errors.Is(err, access.ErrInvalid) {
		t.Errorf("SetGranteeName without a grantee: %v, want ErrInvalid", err)
	}
}

func testWithoutOwnReads(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	ev := func(i int, handle string, role access.Role, a access.Action) access.Event {
		return access.Event{At: base.Add(time.Duration(i) * time.Minute), Actor: fmt.Sprintf("e%d", i), ActorRole: role,
			ActorHandle: handle, Patient: "pa", Action: a, Outcome: access.OutcomeAllowed}
	}
	for _, e := range []access.Event{
		ev(0, "pa", access.RolePatient, access.ActionView),     // own: hidden
		ev(1, "", access.RoleClinician, access.ActionLookup),   // an API key: no handle
		ev(2, "pa", access.RolePatient, access.ActionCalendar), // own calendar app: hidden
		ev(3, "pa", access.RolePatient, access.ActionGrant),    // own change: shown
		ev(4, "r1", access.RoleRelative, access.ActionView),    // the relative
		ev(5, "pa", access.RolePatient, access.ActionNotice),   // own notice: hidden
		ev(6, "", access.RoleClinician, access.ActionWorklist), // a clinician's worklist
		ev(7, "pa", access.RolePatient, access.ActionBlock),    // own change: shown
		ev(8, "pa", access.RolePatient, access.ActionView),     // own: hidden
		ev(9, "pb", access.RolePatient, access.ActionView),     // someone else's handle
	} {
		if err := s.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	for _, limit := range []int{1, 2, 10} {
		var got []string
		cursor := ""
		for range 20 {
			page, err := s.AuditLogWithoutReadsBy(ctx, "pa", "pa", cursor, limit)
			if err != nil {
				t.Fatalf("AuditLogWithoutReadsBy: %v", err)
			}
			for _, e := range page.Events {
				got = append(got, e.Actor)
			}
			if cursor = page.Next; cursor == "" {
				break
			}
		}
		if fmt.Sprint(got) != "[e9 e7 e6 e4 e3 e1]" {
			t.Errorf("limit %d: %v, want [e9 e7 e6 e4 e3 e1]: newest first, without pa's own reads", limit, got)
		}
	}
	if all := allEvents(t, s, "pa", 100); len(all) != 10 {
		t.Errorf("AuditLog has %d rows, want all 10", len(all))
	}
	if _, err := s.AuditLogWithoutReadsBy(ctx, "pa", "", "", 10); !errors.Is(err, access.ErrInvalid) {
		t.Errorf("without the reads of no handle: %v, want ErrInvalid", err)
	}
}

func testAtomic(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	d := access.Delegation{ID: "d1", Patient: "pa", Grantee: "r1", Created: base}
	if err := s.CreateDelegation(ctx, d, grantEvent(d)); err != nil {
		t.Fatalf("CreateDelegation: %v", err)
	}
	dup := d
	dup.Grantee = "r2"
	if err := s.CreateDelegation(ctx, dup, grantEvent(dup)); err == nil {
		t.Fatal("a second delegation with the same ID was stored")
	}
	if log := allEvents(t, s, "pa", 10); len(log) != 1 {
		t.Errorf("pa's log has %d rows, want 1: the failed grant's row must roll back", len(log))
	}
}

func testBlock(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	b, err := s.Block(ctx, "pa")
	if err != nil || b != (access.Block{}) {
		t.Fatalf("Block before any: %+v, %v; want zero", b, err)
	}
	steps := []struct {
		blocked bool
		at      time.Time
	}{{true, base}, {false, base.Add(time.Hour)}, {true, base.Add(2 * time.Hour)}}
	for _, st := range steps {
		a := access.ActionUnblock
		if st.blocked {
			a = access.ActionBlock
		}
		ev := access.Event{At: st.at, Actor: "sub", ActorRole: access.RolePatient, Patient: "pa", Action: a, Outcome: access.OutcomeAllowed}
		if err := s.SetBlock(ctx, "pa", st.blocked, st.at, ev); err != nil {
			t.Fatalf("SetBlock(%v): %v", st.blocked, err)
		}
		b, err := s.Block(ctx, "pa")
		if err != nil {
			t.Fatalf("Block: %v", err)
		}
		if b.Blocked != st.blocked || !b.Since.Equal(st.at) {
			t.Errorf("after SetBlock(%v, %v): %+v", st.blocked, st.at, b)
		}
	}
	if b, _ := s.Block(ctx, "pb"); b.Blocked {
		t.Error("pb is blocked by pa's block")
	}
	log := allEvents(t, s, "pa", 10)
	var got []access.Action
	for _, ev := range log {
		got = append(got, ev.Action)
	}
	want := []access.Action{access.ActionBlock, access.ActionUnblock, access.ActionBlock}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("log actions %v, want %v: both the block and its lifting are recorded", got, want)
	}
}

// testBlocks: a BlocksReader gives, of many patients at once (more than
// one statement takes), the block of each that has one, as Block does.
func testBlocks(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	br, ok := s.(access.BlocksReader)
	if !ok {
		t.Fatalf("%T is not an access.BlocksReader", s)
	}
	set := func(patient string, blocked bool, at time.Time) {
		t.Helper()
		a := access.ActionUnblock
		if blocked {
			a = access.ActionBlock
		}
		ev := access.Event{At: at, Actor: "sub", ActorRole: access.RolePatient, Patient: patient, Action: a, Outcome: access.OutcomeAllowed}
		if err := s.SetBlock(ctx, patient, blocked, at, ev); err != nil {
			t.Fatal(err)
		}
	}
	set("pa", true, base)
	set("pb", true, base)
	set("pb", false, base.Add(time.Hour)) // lifted
	set("p1199", true, base.Add(2*time.Hour))
	asked := []string{"pa", "pb", "pc", "pa"}
	for i := range 1200 {
		asked = append(asked, fmt.Sprintf("p%04d", i))
	}
	got, err := br.Blocks(ctx, asked)
	if err != nil {
		t.Fatalf("Blocks: %v", err)
	}
	want := map[string]access.Block{"pa": {Blocked: true, Since: base}, "pb": {Since: base.Add(time.Hour)},
		"p1199": {Blocked: true, Since: base.Add(2 * time.Hour)}}
	if len(got) != len(want) {
		t.Errorf("Blocks gave %d patients %v, want %v", len(got), got, want)
	}
	for p, w := range want {
		if g := got[p]; g.Blocked != w.Blocked || !g.Since.Equal(w.Since) {
			t.Errorf("Blocks[%s] = %+v, want %+v", p, g, w)
		}
	}
	if got, err := br.Blocks(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("Blocks of nobody = %v, %v", got, err)
	}
}

func testConcurrentAudit(t *testing.T, h Harness) {
	s := h.Open(t)
	const writers, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := s.Audit(context.Background(), event("pa", base.Add(time.Duration(i)*time.Second), access.ActionView, w)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Audit: %v", err)
	}
	if got := allEvents(t, s, "pa", 7); len(got) != writers*each {
		t.Errorf("got %d events, want %d", len(got), writers*each)
	}
}

func testAuditBatch(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	var evs []access.Event
	for i := range 300 {
		evs = append(evs, event(fmt.Sprintf("p%d", i%3), base.Add(time.Duration(i)*time.Microsecond), access.ActionView, i))
	}
	if err := s.AuditBatch(ctx, evs); err != nil {
		t.Fatalf("AuditBatch: %v", err)
	}
	if err := s.AuditBatch(ctx, nil); err != nil {
		t.Errorf("AuditBatch of nothing: %v", err)
	}
	got := allEvents(t, s, "p1", 500)
	if len(got) != 100 {
		t.Fatalf("p1 has %d events, want 100", len(got))
	}
	// Newest first, every field as written.
	want := evs[298]
	if g := got[0]; g.Reason != want.Reason || !g.At.Equal(want.At) || g.Actor != want.Actor || g.ActorRole != want.ActorRole ||
		g.ActorName != want.ActorName || g.ActorHandle != want.ActorHandle || g.Action != want.Action || g.Outcome != want.Outcome {
		t.Errorf("newest p1 event = %+v, want %+v", g.LogValue(), want.LogValue())
	}
	// All or nothing: a batch with an event the store cannot take (a NUL
	// byte, which PostgreSQL refuses in text) writes none of it; SQLite takes
	// it, and then all are written.
	bad := []access.Event{event("px", base, access.ActionView, 1), event("px", base, access.ActionView, 2)}
	bad[1].Reason = "nul\x00byte"
	if err := s.AuditBatch(ctx, bad); err != nil {
		if n := len(allEvents(t, s, "px", 10)); n != 0 {
			t.Errorf("a failed batch left %d of its rows", n)
		}
	} else if n := len(allEvents(t, s, "px", 10)); n != 2 {
		t.Errorf("a batch that succeeded wrote %d of its 2 rows", n)
	}
}

func testLookedUp(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	ev := func(actor, patient string, at time.Time, a access.Action, o access.Outcome) access.Event {
		return access.Event{At: at, Actor: actor, ActorRole: access.RoleClinician, Patient: patient, Action: a, Outcome: o}
	}
	for _, e := range []access.Event{
		ev("klara", "old", base.Add(-40*24*time.Hour), access.ActionLookup, access.OutcomeAllowed),
		ev("klara", "pa", base.Add(time.Hour), access.ActionLookup, access.OutcomeAllowed),
		ev("klara", "pb", base.Add(2*time.Hour), access.ActionView, access.OutcomeAllowed),
		ev("klara", "pa", base.Add(3*time.Hour), access.ActionView, access.OutcomeAllowed), // pa again, newest
		ev("klara", "blocked", base.Add(time.Hour), access.ActionView, access.OutcomeBlocked),
		ev("klara", "listed", base.Add(time.Hour), access.ActionWorklist, access.OutcomeAllowed),
		ev("karl", "pc", base.Add(time.Hour), access.ActionView, access.OutcomeAllowed),
	} {
		if err := s.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.LookedUp(ctx, "klara", base.Add(-30*24*time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[pa pb]" {
		t.Errorf("LookedUp = %v, want [pa pb]: klara's own allowed look-ups and views since, newest first, each once", got)
	}
	if got, _ := s.LookedUp(ctx, "klara", base.Add(-30*24*time.Hour), 1); fmt.Sprint(got) != "[pa]" {
		t.Errorf("LookedUp with limit 1 = %v, want [pa]", got)
	}
}

func testBroken(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	h.Break(t, s)
	d := access.Delegation{ID: "d1", Patient: "pa", Grantee: "r1", Created: base}
	calls := map[string]func() error{
		"Audit": func() error { return s.Audit(ctx, event("pa", base, access.ActionView, 1)) },
		"AuditBatch": func() error {
			return s.AuditBatch(ctx, []access.Event{event("pa", base, access.ActionView, 1)})
		},
		"LookedUp": func() error {
			_, err := s.LookedUp(ctx, "sub-1", base, 10)
			return err
		},
		"AuditLog": func() error {
			_, err := s.AuditLog(ctx, "pa", "", 10)
			return err
		},
		"CreateDelegation": func() error { return s.CreateDelegation(ctx, d, grantEvent(d)) },
		"RevokeDelegation": func() error { return s.RevokeDelegation(ctx, "pa", "d1", base, grantEvent(d)) },
		"Delegations": func() error {
			_, err := s.Delegations(ctx, "pa", "")
			return err
		},
		"SetBlock":       func() error { return s.SetBlock(ctx, "pa", true, base, grantEvent(d)) },
		"SetGranteeName": func() error { return s.SetGranteeName(ctx, "r1", "Åse") },
		"AuditLogWithoutReadsBy": func() error {
			_, err := s.AuditLogWithoutReadsBy(ctx, "pa", "pa", "", 10)
			return err
		},
		"Block": func() error {
			_, err := s.Block(ctx, "pa")
			return err
		},
	}
	for name, call := range calls {
		err := call()
		if err == nil {
			t.Errorf("%s on a broken store: no error", name)
		}
		if errors.Is(err, access.ErrNotVisible) || errors.Is(err, access.ErrInvalid) {
			t.Errorf("%s on a broken store: %v; a store failure must not look like a refusal", name, err)
		}
	}
}
