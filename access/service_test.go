package access_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/access/sqlstore"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock                   { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func newService(t *testing.T, c *clock) (*access.Service, *sqlstore.Store) {
	t.Helper()
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "access.db"), sqlstore.Options{})
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return access.NewService(st, access.Options{Now: c.now}), st
}

var (
	anna      = access.Principal{Subject: "sub-anna", Roles: []access.Role{access.RolePatient, access.RoleRelative}, Handle: "h-anna", Name: "Anna"}
	bo        = access.Principal{Subject: "sub-bo", Roles: []access.Role{access.RolePatient, access.RoleRelative}, Handle: "h-bo", Name: "Bo"}
	clinician = access.Principal{Subject: "sub-doc", Roles: []access.Role{access.RoleClinician}, Name: "Dr. C"}
	admin     = access.Principal{Subject: "sub-admin", Roles: []access.Role{access.RoleAdmin}}
)

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) || (err == nil) != (want == nil) {
		t.Fatalf("%s: err %v, want %v", what, err, want)
	}
}

func auditLog(t *testing.T, s *access.Service, p access.Principal) []access.Event {
	t.Helper()
	page, err := s.AuditLog(context.Background(), p, "", 100)
	if err != nil {
		t.Fatalf("AuditLog: %v", err)
	}
	return page.Events
}

func TestRelativeSeesWhileTheDelegationIsValid(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s, _ := newService(t, c)

	_, err := s.Authorize(ctx, bo, anna.Handle, access.ActionView, "")
	wantErr(t, "before the grant", err, access.ErrNotVisible)

	g, err := s.Grant(ctx, anna, access.GrantRequest{Grantee: bo.Handle, Label: "Bo", Until: c.now().Add(48 * time.Hour)})
	wantErr(t, "grant", err, nil)
	d, err := s.Authorize(ctx, bo, anna.Handle, access.ActionView, "")
	wantErr(t, "after the grant", err, nil)
	if d != (access.Decision{Role: access.RoleRelative, PatientName: "Anna"}) {
		t.Errorf("decision %+v, want relative without restricted entries", d)
	}
	recv, err := s.Received(ctx, bo)
	wantErr(t, "received", err, nil)
	if len(recv) != 1 || recv[0].ID != g.ID || recv[0].Label != "" || recv[0].PatientName != "Anna" {
		t.Errorf("Received = %+v, want the grant with Anna's name, without her label for Bo", recv)
	}

	c.advance(48 * time.Hour)
	_, err = s.Authorize(ctx, bo, anna.Handle, access.ActionView, "")
	wantErr(t, "at the end date", err, access.ErrNotVisible)
	if recv, _ := s.Received(ctx, bo); len(recv) != 0 {
		t.Errorf("Received after the end date = %+v, want none", recv)
	}

	g2, err := s.Grant(ctx, anna, access.GrantRequest{Grantee: bo.Handle, IncludeRestricted: true})
	wantErr(t, "second grant", err, nil)
	d, err = s.Authorize(ctx, bo, anna.Handle, access.ActionView, "")
	wantErr(t, "after the second grant", err, nil)
	if !d.Restricted {
		t.Error("the second grant includes restricted entries, the decision does not")
	}
	c.advance(time.Minute)
	wantErr(t, "revoke by someone else", s.Revoke(ctx, bo, g2.ID), access.ErrNotFound)
	wantErr(t, "revoke", s.Revoke(ctx, anna, g2.ID), nil)
	_, err = s.Authorize(ctx, bo, anna.Handle, access.ActionView, "")
	wantErr(t, "after revocation", err, access.ErrNotVisible)

	grants, err := s.Grants(ctx, anna)
	wantErr(t, "grants", err, nil)
	if len(grants) != 2 || grants[0].ID != g2.ID || grants[0].Revoked.IsZero() || grants[1].Label != "Bo" {
		t.Errorf("Grants = %+v, want both, newest (revoked) first", grants)
	}

	var got []string
	for _, ev := range auditLog(t, s, anna) {
		got = append(got, string(ev.Action)+":"+string(ev.ActorRole)+":"+ev.Actor)
	}
	want := []string{
		"revoke:patient:sub-anna", "view:relative:sub-bo", "grant:patient:sub-anna",
		"view:relative:sub-bo", "grant:patient:sub-anna",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Anna's log\n got %v\nwant %v", got, want)
	}
}

func TestClinicianAndBlock(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s, _ := newService(t, c)

	_, err := s.Authorize(ctx, clinician, anna.Handle, access.ActionLookup, "")
	wantErr(t, "no reason", err, access.ErrReasonRequired)
	_, err = s.Authorize(ctx, clinician, anna.Handle, access.ActionLookup, "referral")
	wantErr(t, "look-up", err, nil)
	c.advance(time.Second)
	d, err := s.Authorize(ctx, clinician, anna.Handle, access.ActionView, " referral ")
	wantErr(t, "view", err, nil)
	if d.Role != access.RoleClinician || !d.Restricted {
		t.Errorf("decision %+v", d)
	}

	c.advance(time.Second)
	wantErr(t, "block", s.SetBlock(ctx, anna, true), nil)
	if b, err := s.Block(ctx, anna); err != nil || !b.Blocked || !b.Since.Equal(c.now()) {
		t.Errorf("Block = %+v, %v", b, err)
	}
	c.advance(time.Second)
	_, err = s.Authorize(ctx, clinician, anna.Handle, access.ActionView, "referral")
	wantErr(t, "blocked view", err, access.ErrNotVisible)
	wantErr(t, "a clinician cannot lift the block", s.SetBlock(ctx, clinician, false), access.ErrNotVisible)
	c.advance(time.Second)
	wantErr(t, "unblock", s.SetBlock(ctx, anna, false), nil)
	c.advance(time.Second)
	_, err = s.Authorize(ctx, clinician, anna.Handle, access.ActionView, "referral")
	wantErr(t, "view after the block is lifted", err, nil)

	type row struct {
		action  access.Action
		outcome access.Outcome
		reason  string
	}
	var got []row
	for _, ev := range auditLog(t, s, anna) {
		got = append(got, row{ev.Action, ev.Outcome, ev.Reason})
		if ev.ActorRole == access.RoleClinician && ev.ActorName != "Dr. C" {
			t.Errorf("clinician row without the clinician's name: %+v", ev)
		}
	}
	want := []row{
		{access.ActionView, access.OutcomeAllowed, "referral"},
		{access.ActionUnblock, access.OutcomeAllowed, ""},
		{access.ActionView, access.OutcomeBlocked, "referral"},
		{access.ActionBlock, access.OutcomeAllowed, ""},
		{access.ActionView, access.OutcomeAllowed, "referral"},
		{access.ActionLookup, access.OutcomeAllowed, "referral"},
	}
	if len(got) != len(want) {
		t.Fatalf("Anna's log\n got %v\nwant %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("row %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

func TestOwnViewIsAudited(t *testing.T) {
	s, _ := newService(t, newClock())
	d, err := s.Authorize(context.Background(), anna, anna.Handle, access.ActionView, "")
	wantErr(t, "own view", err, nil)
	if d != (access.Decision{Role: access.RolePatient, Restricted: true}) {
		t.Errorf("decision %+v", d)
	}
	if log := auditLog(t, s, anna); len(log) != 1 || log[0].Actor != anna.Subject {
		t.Errorf("log %+v, want Anna's own view", log)
	}
	// Bo's attempt on Anna is refused and, not being a clinician stopped by a block, not logged.
	_, err = s.Authorize(context.Background(), bo, anna.Handle, access.ActionView, "")
	wantErr(t, "Bo on Anna", err, access.ErrNotVisible)
	if log := auditLog(t, s, anna); len(log) != 1 {
		t.Errorf("log %+v, want only Anna's own view", log)
	}
}

// When the audit row cannot be written the request fails, and not as a
// refusal: web answers 5xx and sends nothing.
func TestAuditFailureFailsTheRequest(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s, st := newService(t, c)
	if _, err := s.Grant(ctx, anna, access.GrantRequest{Grantee: bo.Handle}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	calls := []struct {
		name string
		p    access.Principal
		a    access.Action
	}{
		{"own view", anna, access.ActionView},
		{"relative view", bo, access.ActionView},
		{"clinician look-up", clinician, access.ActionLookup},
	}
	for _, tt := range calls {
		_, err := s.Authorize(ctx, tt.p, anna.Handle, tt.a, "reason")
		if err == nil || errors.Is(err, access.ErrNotVisible) || errors.Is(err, access.ErrInvalid) {
			t.Errorf("%s with a closed store: %v, want a store error", tt.name, err)
		}
	}
	if err := s.Audit(ctx, access.Event{Actor: "x", Patient: anna.Handle, Action: access.ActionView}); err == nil {
		t.Error("Audit on a closed store: no error")
	}
	if _, err := s.Grant(ctx, anna, access.GrantRequest{Grantee: bo.Handle}); err == nil {
		t.Error("Grant on a closed store: no error")
	}
}

func TestServiceRefusals(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s, _ := newService(t, c)
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"grant to nobody", func() error { _, err := s.Grant(ctx, anna, access.GrantRequest{}); return err }, access.ErrInvalid},
		{"grant to oneself", func() error {
			_, err := s.Grant(ctx, anna, access.GrantRequest{Grantee: anna.Handle})
			return err
		}, access.ErrInvalid},
		{"grant ending now", func() error {
			_, err := s.Grant(ctx, anna, access.GrantRequest{Grantee: bo.Handle, Until: c.now()})
			return err
		}, access.ErrInvalid},
		{"label too long", func() error {
			_, err := s.Grant(ctx, anna, access.GrantRequest{Grantee: bo.Handle, Label: strings.Repeat("x", access.MaxLabelLen+1)})
			return err
		}, access.ErrInvalid},
		{"clinician grants", func() error { _, err := s.Grant(ctx, clinician, access.GrantRequest{Grantee: bo.Handle}); return err }, access.ErrNotVisible},
		{"admin reads an audit log", func() error { _, err := s.AuditLog(ctx, admin, "", 10); return err }, access.ErrNotVisible},
		{"admin views", func() error { _, err := s.Authorize(ctx, admin, anna.Handle, access.ActionView, "x"); return err }, access.ErrNotVisible},
		{"admin lists grants", func() error { _, err := s.Grants(ctx, admin); return err }, access.ErrNotVisible},
		{"authorize a grant", func() error { _, err := s.Authorize(ctx, anna, anna.Handle, access.ActionGrant, ""); return err }, access.ErrInvalid},
		{"audit page too large", func() error { _, err := s.AuditLog(ctx, anna, "", 501); return err }, access.ErrInvalid},
		{"revoke unknown", func() error { return s.Revoke(ctx, anna, "nope") }, access.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantErr(t, tt.name, tt.call(), tt.want) })
	}
	if log := auditLog(t, s, anna); len(log) != 0 {
		t.Errorf("refused requests left rows: %+v", log)
	}
	if recv, err := s.Received(ctx, clinician); err != nil || recv != nil {
		t.Errorf("Received for a clinician = %v, %v; want nothing", recv, err)
	}
}

func TestGrantRefusesASecondToThePerson(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s, _ := newService(t, c)
	first, err := s.Grant(ctx, anna, access.GrantRequest{Grantee: bo.Handle, GranteeMasked: "300241-xxxx", Label: "Søn", Until: c.now().Add(24 * time.Hour)})
	wantErr(t, "first grant", err, nil)
	_, err = s.Grant(ctx, anna, access.GrantRequest{Grantee: bo.Handle, Label: "Bo igen", IncludeRestricted: true})
	wantErr(t, "second grant while the first lasts", err, access.ErrAlreadyGranted)
	if !errors.Is(err, access.ErrInvalid) {
		t.Errorf("ErrAlreadyGranted is not ErrInvalid: web would not answer it as a bad request")
	}
	gs, _ := s.Grants(ctx, anna)
	if len(gs) != 1 {
		t.Fatalf("grants = %d, want 1", len(gs))
	}

	// Bo signs in: Anna reads his name beside her grant.
	wantErr(t, "signed in", s.SignedIn(ctx, bo), nil)
	gs, _ = s.Grants(ctx, anna)
	if gs[0].GranteeName != "Bo" || gs[0].GranteeMasked != "300241-xxxx" {
		t.Errorf("grant after Bo signed in: name %q, masked %q; want Bo, 300241-xxxx", gs[0].GranteeName, gs[0].GranteeMasked)
	}
	wantErr(t, "a program signs in", s.SignedIn(ctx, access.Principal{Subject: "apikey:x", Roles: []access.Role{access.RoleClinician}}), nil)

	// Once it ends, Anna may grant again, and Bo's name stays known.
	c.advance(24 * time.Hour)
	again, err := s.Grant(ctx, anna, access.GrantRequest{Grantee: bo.Handle, Label: "Søn"})
	wantErr(t, "grant after the first ended", err, nil)
	if again.ID == first.ID || again.GranteeName != "Bo" {
		t.Errorf("new grant %+v, want a new one with Bo's name from the first", again.LogValue())
	}
	wantErr(t, "revoke", s.Revoke(ctx, anna, again.ID), nil)
	_, err = s.Grant(ctx, anna, access.GrantRequest{Grantee: bo.Handle})
	wantErr(t, "grant after revoking", err, nil)

	// The label is counted in characters, as the form's maxlength does.
	_, err = s.Grant(ctx, bo, access.GrantRequest{Grantee: anna.Handle, Label: strings.Repeat("æ", access.MaxLabelLen)})
	wantErr(t, "label of 100 æ", err, nil)
	_, err = s.Grant(ctx, anna, access.GrantRequest{Grantee: "h-other", Label: strings.Repeat("æ", access.MaxLabelLen+1)})
	wantErr(t, "label of 101 æ", err, access.ErrInvalid)
}

// TestReceivedShowsEachPatientOnce: two delegations from one patient, made
// before Grant refused that, give the relative one timeline to switch to,
// the one that lasts longest.
func TestReceivedShowsEachPatientOnce(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s, st := newService(t, c)
	_, err := s.Grant(ctx, anna, access.GrantRequest{Grantee: bo.Handle, Until: c.now().Add(24 * time.Hour)})
	wantErr(t, "grant", err, nil)
	db := st.DB()
	if _, err := db.SQL.Exec(db.Dialect.Bind(`INSERT INTO delegations (id, patient, grantee, include_restricted, created_us)
		VALUES ('old-dup', ?, ?, ?, ?)`), anna.Handle, bo.Handle, true, c.now().Add(-time.Hour).UnixMicro()); err != nil {
		t.Fatal(err)
	}
	recv, err := s.Received(ctx, bo)
	wantErr(t, "received", err, nil)
	if len(recv) != 1 || recv[0].ID != "old-dup" {
		t.Errorf("Received = %+v, want Anna once, by the delegation without an end", recv)
	}
}

func TestAuditLogWithoutOwnReads(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s, _ := newService(t, c)
	nurse := clinician
	nurse.Organization = "Hjemmeplejen Midtbyen"
	_, err := s.Authorize(ctx, anna, anna.Handle, access.ActionView, "")
	wantErr(t, "own view", err, nil)
	c.advance(time.Minute)
	_, err = s.Authorize(ctx, nurse, anna.Handle, access.ActionView, "visitation")
	wantErr(t, "clinician's view", err, nil)
	c.advance(time.Minute)
	_, err = s.Grant(ctx, anna, access.GrantRequest{Grantee: bo.Handle})
	wantErr(t, "grant", err, nil)

	page, err := s.AuditLogWithoutOwnReads(ctx, anna, "", 10)
	wantErr(t, "log without own reads", err, nil)
	if len(page.Events) != 2 || page.Events[0].Action != access.ActionGrant || page.Events[1].ActorRole != access.RoleClinician {
		t.Fatalf("log without own reads = %v, want the grant and the clinician's view", page.Events)
	}
	if ev := page.Events[1]; ev.ActorName != "Dr. C" || ev.ActorOrg != "Hjemmeplejen Midtbyen" {
		t.Errorf("clinician's row: name %q, workplace %q; want them apart", ev.ActorName, ev.ActorOrg)
	}
	if all := auditLog(t, s, anna); len(all) != 3 {
		t.Errorf("whole log has %d rows, want 3", len(all))
	}
	_, err = s.AuditLogWithoutOwnReads(ctx, bo, "", 10)
	wantErr(t, "Bo reads his own", err, nil)
	_, err = s.AuditLogWithoutOwnReads(ctx, clinician, "", 10)
	wantErr(t, "a clinician reads a log", err, access.ErrNotVisible)
}

// TestSharesRestrictedReadsThroughTheCache: the patient's own page asks on
// every view whether a relative may see her confidential entries; the
// answer follows each grant and revoke at once, and a repeated question
// reads no store (here: a closed one).
func TestSharesRestrictedReadsThroughTheCache(t *testing.T) {
	ctx := context.Background()
	s, st := newService(t, newClock())
	shares := func(want bool) {
		t.Helper()
		got, err := s.SharesRestricted(ctx, anna)
		if err != nil || got != want {
			t.Fatalf("SharesRestricted = %v, %v; want %v", got, err, want)
		}
	}
	shares(false)
	d, err := s.Grant(ctx, anna, access.GrantRequest{Grantee: bo.Handle, IncludeRestricted: true})
	wantErr(t, "grant", err, nil)
	shares(true)
	wantErr(t, "revoke", s.Revoke(ctx, anna, d.ID), nil)
	shares(false)
	_, err = s.Grant(ctx, anna, access.GrantRequest{Grantee: bo.Handle, IncludeRestricted: false})
	wantErr(t, "grant without confidential entries", err, nil)
	shares(false)
	st.Close()
	shares(false)
	if _, err := s.SharesRestricted(ctx, clinician); !errors.Is(err, access.ErrNotVisible) {
		t.Errorf("a clinician asked: %v, want ErrNotVisible", err)
	}
}
