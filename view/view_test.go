package view_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/access/sqlstore"
	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
	"github.com/overblik/overblik/view"
)

// The view on real parts: the aggregator service with the memory cache, the
// access service on a SQLite store, real patient handles. Only the source is
// the test's: it serves what the test sets.

const cprSystem = "urn:oid:1.2.208.176.1.2"

// source serves the entries the test gives it.
type source struct {
	name   string
	sector aggregator.Sector
	mu     sync.Mutex
	es     []aggregator.Entry
	err    error
}

func (s *source) Name() string              { return s.name }
func (s *source) Sector() aggregator.Sector { return s.sector }
func (s *source) Fetch(context.Context, aggregator.PatientRef, aggregator.Window) (aggregator.Batch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return aggregator.Batch{}, s.err
	}
	return aggregator.Batch{Entries: slices.Clone(s.es)}, nil
}

func (s *source) set(es ...aggregator.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.es = es
}

// failingAudit is the access store whose audit writes fail when told to.
type failingAudit struct {
	access.Store
	mu   sync.Mutex
	fail bool
}

func (f *failingAudit) AuditBatch(ctx context.Context, evs []access.Event) error {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail {
		return errors.New("disk full")
	}
	return f.Store.AuditBatch(ctx, evs)
}

func (f *failingAudit) Audit(ctx context.Context, ev access.Event) error {
	return f.AuditBatch(ctx, []access.Event{ev})
}

type env struct {
	views               *view.Viewer
	svc                 *aggregator.Service
	acc                 *access.Service
	store               *failingAudit
	pats                *aggregator.Patients
	hosp, kom           *source
	now                 time.Time
	anna, rasmus, klara access.Principal
	annaRef             aggregator.PatientRef
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	loc, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{now: time.Date(2026, 12, 1, 9, 0, 0, 0, loc)}
	clock := func() time.Time { return e.now }
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "access.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.store = &failingAudit{Store: st}
	gc := access.NewGroupCommit(e.store, access.GroupCommitOptions{})
	t.Cleanup(func() { gc.Close() })
	e.acc = access.NewService(e.store, access.Options{Now: clock, Auditor: gc})

	e.hosp = &source{name: "hosp", sector: aggregator.SectorHospital}
	e.kom = &source{name: "kom", sector: aggregator.SectorMunicipality}
	e.svc, err = aggregator.New([]aggregator.Registration{{Source: e.hosp, Display: "Aarhus Universitetshospital"}, {Source: e.kom, Display: "Aarhus Kommune"}},
		memcache.NewBackend(0), aggregator.Options{Now: clock, Location: loc, FreshFor: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.svc.Close)
	e.pats, err = aggregator.NewPatients([]byte("0123456789abcdef0123456789abcdef"), memcache.NewDirectory())
	if err != nil {
		t.Fatal(err)
	}
	e.annaRef, _ = e.pats.Register(ctx, aggregator.Identifier{System: cprSystem, Value: "3002410148"})
	rasmus := e.pats.Handle(aggregator.Identifier{System: cprSystem, Value: "3002500246"})
	e.anna = access.Principal{Subject: "sub-anna", Roles: []access.Role{access.RolePatient}, Handle: e.annaRef.Handle, Name: "Anna Andersen"}
	e.rasmus = access.Principal{Subject: "sub-rasmus", Roles: []access.Role{access.RolePatient, access.RoleRelative}, Handle: rasmus, Name: "Rasmus"}
	e.klara = access.Principal{Subject: "sub-klara", Roles: []access.Role{access.RoleClinician}, Name: "Klara", Organization: "Aarhus Kommune"}
	// Anna lets Rasmus in, without her restricted entries.
	if _, err := e.acc.Grant(ctx, e.anna, access.GrantRequest{Grantee: rasmus, Label: "Søn"}); err != nil {
		t.Fatal(err)
	}
	e.views = view.New(e.svc, e.pats, view.Options{Access: e.acc, Conflicted: e.svc, ByOrganization: true, Now: clock})
	return e
}

func at(day, h, m int) time.Time {
	loc, _ := time.LoadLocation("Europe/Copenhagen")
	return time.Date(2026, 12, day, h, m, 0, 0, loc)
}

func entry(src *source, id, title string, start time.Time, minutes int, restricted bool) aggregator.Entry {
	e := aggregator.Entry{ID: aggregator.EntryID(src.name, "Appointment", id), Kind: aggregator.KindAppointment,
		Status: aggregator.StatusBooked, Start: start, End: start.Add(time.Duration(minutes) * time.Minute),
		Title: title, Medium: aggregator.MediumInPerson, Sensitivity: aggregator.SensitivityNormal,
		Place: aggregator.Place{Name: title + " sted"}, Organization: src.name}
	if restricted {
		e.Sensitivity = aggregator.SensitivityRestricted
	}
	return e
}

// secret is the restricted entry of the tests and every word it could be
// named by.
var secretWords = []string{"Psykiatri", "hosp/Appointment/psyk"}

func mentionsSecret(s string) bool {
	for _, w := range secretWords {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

func TestRelativeLearnsNothingOfAHiddenEntry(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	psych := entry(e.hosp, "psyk", "Samtale i Psykiatrisk ambulatorium", at(3, 13, 0), 60, true)
	visit := entry(e.kom, "fys", "Genoptræning", at(3, 13, 30), 45, false)
	e.hosp.set(psych)
	e.kom.set(visit)

	own, err := e.views.Open(ctx, view.Request{Principal: e.anna, Handle: e.annaRef.Handle})
	if err != nil {
		t.Fatal(err)
	}
	if len(own.Timeline.Entries) != 2 || len(own.Timeline.Conflicts) != 1 || !mentionsSecret(strings.Join(own.Timeline.Conflicts[0].Entries, " ")) {
		t.Fatalf("Anna sees %d entries and conflicts %+v, want both entries and their overlap", len(own.Timeline.Entries), own.Timeline.Conflicts)
	}
	if own.Name != "Anna Andersen" {
		t.Errorf("Anna's view is named %q", own.Name)
	}

	// The restricted entry moves, and a restricted entry is removed, so
	// there are changes about hidden entries too.
	since := e.now
	e.now = e.now.Add(time.Minute)
	moved := psych
	moved.Start, moved.End = at(3, 13, 15), at(3, 14, 15)
	gone := entry(e.hosp, "psyk-2", "Psykiatri, opfølgning", at(8, 10, 0), 30, true)
	e.hosp.set(moved, gone)
	if _, err := e.svc.Refresh(ctx, e.annaRef); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(time.Minute)
	e.hosp.set(moved)
	if _, err := e.svc.Refresh(ctx, e.annaRef); err != nil {
		t.Fatal(err)
	}

	rel, err := e.views.Open(ctx, view.Request{Principal: e.rasmus, Handle: e.annaRef.Handle, Changes: true, Since: since})
	if err != nil {
		t.Fatal(err)
	}
	if rel.Decision.Role != access.RoleRelative || rel.Name != "Anna Andersen" {
		t.Errorf("the relative's view: role %s, named %q", rel.Decision.Role, rel.Name)
	}
	for _, en := range rel.Timeline.Entries {
		if mentionsSecret(en.ID + en.Title) {
			t.Errorf("the relative sees the restricted entry %s", en.ID)
		}
	}
	if len(rel.Timeline.Conflicts) != 0 {
		t.Errorf("the relative sees conflicts %+v, want none: the only one involves the hidden entry", rel.Timeline.Conflicts)
	}
	for _, c := range rel.Changes {
		if mentionsSecret(c.EntryID + c.Title) {
			t.Errorf("the relative is told of a change %+v to a hidden entry", c)
		}
	}
	for _, st := range rel.Timeline.Sources {
		if st.Name == "hosp" && st.Entries != 0 {
			t.Errorf("the hospital's entry count %d gives the hidden entry away", st.Entries)
		}
	}

	// Anna herself sees what changed.
	own, err = e.views.Open(ctx, view.Request{Principal: e.anna, Handle: e.annaRef.Handle, Changes: true, Since: since})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, c := range own.Changes {
		kinds = append(kinds, c.EntryID+" "+string(c.Kind))
	}
	slices.Sort(kinds)
	// psyk-2 came and went: only its removal names an entry not shown.
	want := []string{"hosp/Appointment/psyk moved", "hosp/Appointment/psyk-2 removed"}
	if !slices.Equal(kinds, want) {
		t.Errorf("Anna's changes = %v, want %v", kinds, want)
	}
}

// A conflict among visible entries stays, found again without the hidden
// one: a heavy day of four visits of which one is hidden is a heavy day of
// three for the relative only if three are too many, and names only those.
func TestConflictsAreFoundAmongVisibleEntries(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a := entry(e.kom, "a", "Fodterapi", at(4, 9, 0), 30, false)
	b := entry(e.kom, "b", "Genoptræning", at(4, 9, 15), 30, false)
	psych := entry(e.hosp, "psyk", "Psykiatri", at(4, 9, 20), 30, true)
	e.kom.set(a, b)
	e.hosp.set(psych)
	rel, err := e.views.Open(ctx, view.Request{Principal: e.rasmus, Handle: e.annaRef.Handle})
	if err != nil {
		t.Fatal(err)
	}
	if len(rel.Timeline.Conflicts) != 1 {
		t.Fatalf("relative's conflicts = %+v, want the overlap of the two visible visits", rel.Timeline.Conflicts)
	}
	c := rel.Timeline.Conflicts[0]
	if c.Rule != aggregator.RuleOverlap || !slices.Equal(c.Entries, []string{a.ID, b.ID}) {
		t.Errorf("conflict %+v, want the overlap of %s and %s alone", c, a.ID, b.ID)
	}
	own, err := e.views.Open(ctx, view.Request{Principal: e.anna, Handle: e.annaRef.Handle})
	if err != nil {
		t.Fatal(err)
	}
	if len(own.Timeline.Conflicts) != 3 {
		t.Errorf("Anna's conflicts = %d, want the three overlaps", len(own.Timeline.Conflicts))
	}
}

func TestTheDecisionComesFirst(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.hosp.set()
	e.kom.set()
	unknown := e.pats.Handle(aggregator.Identifier{System: cprSystem, Value: "3102380127"}) // never registered
	long := strings.Repeat("x", access.MaxReasonLen+1)
	for _, h := range []string{e.annaRef.Handle, unknown} {
		_, err := e.views.Open(ctx, view.Request{Principal: e.klara, Handle: h, Reason: long})
		if !errors.Is(err, access.ErrInvalid) {
			t.Errorf("a %d-byte reason for %s: %v, want ErrInvalid whether the handle is registered or not", len(long), h, err)
		}
		_, err = e.views.Open(ctx, view.Request{Principal: e.rasmus, Handle: h + "x"})
		if !errors.Is(err, access.ErrNotVisible) {
			t.Errorf("relative, stranger: %v, want ErrNotVisible", err)
		}
	}
	if _, err := e.views.Open(ctx, view.Request{Principal: e.klara, Handle: unknown, Reason: "ward round"}); !errors.Is(err, access.ErrNotVisible) {
		t.Errorf("clinician, unregistered handle: %v, want ErrNotVisible", err)
	}
	if _, err := e.views.Open(ctx, view.Request{Principal: e.klara, Handle: e.annaRef.Handle}); !errors.Is(err, access.ErrReasonRequired) {
		t.Errorf("clinician without a reason: %v, want ErrReasonRequired", err)
	}
}

func TestLookupRegistersOnlyWhenAllowed(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	stranger := aggregator.Identifier{System: cprSystem, Value: "3102450133"}
	if _, err := e.views.Lookup(ctx, e.rasmus, stranger, ""); !errors.Is(err, access.ErrNotVisible) {
		t.Fatalf("a relative looks a stranger up: %v, want ErrNotVisible", err)
	}
	if _, ok, _ := e.pats.Resolve(ctx, e.pats.Handle(stranger)); ok {
		t.Error("a refused look-up registered the identifier")
	}
	ref, err := e.views.Lookup(ctx, e.klara, stranger, "referral")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := e.pats.Resolve(ctx, ref.Handle); !ok {
		t.Error("an allowed look-up did not register the identifier")
	}
	evs := auditOf(t, e, access.Principal{Roles: []access.Role{access.RolePatient}, Handle: ref.Handle})
	if len(evs) != 1 || evs[0].Action != access.ActionLookup || evs[0].Reason != "referral" || evs[0].ActorName != "Klara" || evs[0].ActorOrg != "Aarhus Kommune" {
		t.Errorf("the patient's log = %+v, want Klara's look-up, with her workplace and reason", evs)
	}
}

func auditOf(t *testing.T, e *env, p access.Principal) []access.Event {
	t.Helper()
	page, err := e.acc.AuditLog(context.Background(), p, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	return page.Events
}

func TestNoDataWithoutItsAuditRow(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.hosp.set(entry(e.hosp, "x", "Kontrol", at(5, 10, 0), 30, false))
	e.kom.set()
	e.store.mu.Lock()
	e.store.fail = true
	e.store.mu.Unlock()
	v, err := e.views.Open(ctx, view.Request{Principal: e.klara, Handle: e.annaRef.Handle, Reason: "ward round"})
	if err == nil || v != nil {
		t.Fatalf("Open with the audit failing = %v, %v; want no view and an error", v, err)
	}
	e.store.mu.Lock()
	e.store.fail = false
	e.store.mu.Unlock()
	if _, err := e.views.Open(ctx, view.Request{Principal: e.klara, Handle: e.annaRef.Handle, Reason: "ward round"}); err != nil {
		t.Fatal(err)
	}
	var evs []access.Event
	for _, ev := range auditOf(t, e, e.anna) {
		if ev.Action != access.ActionGrant {
			evs = append(evs, ev)
		}
	}
	if len(evs) != 1 || evs[0].Action != access.ActionView || evs[0].Actor != "sub-klara" {
		t.Errorf("Anna's log = %+v, want the one view that was shown", evs)
	}
}

func TestWorklistScopeAndAudit(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	// Anna's visits overlap; so do Bo's, whom Klara never looked up; Cai,
	// whom she did look up, has none.
	e.hosp.set(entry(e.hosp, "x", "Kontrol", at(5, 10, 0), 60, false))
	e.kom.set(entry(e.kom, "y", "Hjemmepleje", at(5, 10, 30), 30, false))
	bo, _ := e.pats.Register(ctx, aggregator.Identifier{System: cprSystem, Value: "3102380127"})
	cai, _ := e.pats.Register(ctx, aggregator.Identifier{System: cprSystem, Value: "3102450133"})
	for _, p := range []aggregator.PatientRef{e.annaRef, bo} {
		if _, err := e.svc.Refresh(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	e.hosp.set()
	e.kom.set()
	if _, err := e.svc.Refresh(ctx, cai); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{e.annaRef.Handle, cai.Handle} {
		if _, err := e.views.Open(ctx, view.Request{Principal: e.klara, Handle: h, Reason: "ward round"}); err != nil {
			t.Fatal(err)
		}
	}
	// Klara as a clinician without an organisation: only whom she looked up.
	klara := e.klara
	klara.Organization = ""
	list, err := e.views.Worklist(ctx, klara, "2026-12-01", "2026-12-31")
	if err != nil {
		t.Fatal(err)
	}
	if got := handles(list); !slices.Equal(got, []string{e.annaRef.Handle}) {
		t.Errorf("worklist = %v, want Anna's alone (Bo was never looked up, Cai has no conflict)", got)
	}
	// With her organisation, the patients with an entry from it too.
	list, err = e.views.Worklist(ctx, access.Principal{Subject: "sub-kim", Roles: []access.Role{access.RoleClinician}, Organization: "KOM"},
		"2026-12-01", "2026-12-31")
	if err != nil {
		t.Fatal(err)
	}
	if got := handles(list); !slices.Equal(got, []string{e.annaRef.Handle, bo.Handle}) && !slices.Equal(got, []string{bo.Handle, e.annaRef.Handle}) {
		t.Errorf("an organisation's worklist = %v, want Anna and Bo, whose visits are from it", got)
	}
	// Each patient shown is in their own log as a worklist view; Cai,
	// not shown, is not.
	var worklist int
	for _, ev := range auditOf(t, e, access.Principal{Roles: []access.Role{access.RolePatient}, Handle: bo.Handle}) {
		if ev.Action == access.ActionWorklist && ev.Actor == "sub-kim" {
			worklist++
		}
	}
	if worklist != 1 {
		t.Errorf("Bo's log has %d worklist rows, want 1", worklist)
	}
	for _, ev := range auditOf(t, e, access.Principal{Roles: []access.Role{access.RolePatient}, Handle: cai.Handle}) {
		if ev.Action == access.ActionWorklist {
			t.Errorf("Cai, not shown on any worklist, has the row %+v", ev)
		}
	}
	// A block takes a patient off the list.
	if err := e.acc.SetBlock(ctx, e.anna, true); err != nil {
		t.Fatal(err)
	}
	list, err = e.views.Worklist(ctx, klara, "2026-12-01", "2026-12-31")
	if err != nil || len(list) != 0 {
		t.Errorf("after Anna's block: %v, %v; want an empty worklist", handles(list), err)
	}
	if _, err := e.views.Worklist(ctx, e.anna, "2026-12-01", "2026-12-31"); !errors.Is(err, access.ErrNotVisible) {
		t.Errorf("a patient's worklist: %v, want ErrNotVisible", err)
	}
}

func handles(vs []*view.View) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Patient.Handle)
	}
	return out
}

func TestAuditOncePerKeyAndInterval(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.hosp.set(entry(e.hosp, "x", "Kontrol", at(5, 10, 0), 30, false))
	e.kom.set()
	feed := view.Request{Principal: e.rasmus, Handle: e.annaRef.Handle, Action: access.ActionCalendar, AuditKey: "feed-1", AuditEvery: time.Hour}
	for range 3 {
		if _, err := e.views.Open(ctx, feed); err != nil {
			t.Fatal(err)
		}
	}
	e.now = e.now.Add(61 * time.Minute)
	if _, err := e.views.Open(ctx, feed); err != nil {
		t.Fatal(err)
	}
	var rows int
	for _, ev := range auditOf(t, e, e.anna) {
		if ev.Action == access.ActionCalendar {
			rows++
			if ev.ActorRole != access.RoleRelative || ev.Actor != "sub-rasmus" {
				t.Errorf("calendar row %+v, want the relative's", ev.LogValue())
			}
		}
	}
	if rows != 2 {
		t.Errorf("%d calendar rows for four fetches over 61 minutes, want 2", rows)
	}
	// A clinician has no calendar of a patient's, and a worklist is no read of one timeline.
	if _, err := e.views.Open(ctx, view.Request{Principal: e.klara, Handle: e.annaRef.Handle, Reason: "x", Action: access.ActionCalendar}); !errors.Is(err, access.ErrNotVisible) {
		t.Errorf("a clinician's calendar: %v, want ErrNotVisible", err)
	}
	if _, err := e.views.Open(ctx, view.Request{Principal: e.klara, Handle: e.annaRef.Handle, Action: access.ActionWorklist}); !errors.Is(err, access.ErrInvalid) {
		t.Errorf("Open as a worklist: %v, want ErrInvalid", err)
	}
}

// A clinician's view names the patient as the sources do; a relative's as
// the delegation does; the patient's own by her login. A clinician who looks
// up someone no source knows is told so, after the look-up is decided and
// audited; anyone else gets the handle, as for anyone.
func TestWhoTheViewerSees(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	views := view.New(e.svc, e.pats, view.Options{Access: e.acc, Now: func() time.Time { return e.now }, Names: e.pats})
	e.pats.SetName(ctx, e.annaRef.Handle, "Anna B. Andersen") // as a source has it
	tests := []struct {
		p      access.Principal
		reason string
		want   string
	}{
		{e.klara, "visit", "Anna B. Andersen"},
		{e.rasmus, "", "Anna Andersen"}, // the name on the delegation
		{e.anna, "", "Anna Andersen"},   // her own login's
	}
	for _, tt := range tests {
		v, err := views.Open(ctx, view.Request{Principal: tt.p, Handle: e.annaRef.Handle, Reason: tt.reason})
		if err != nil {
			t.Fatalf("%s: %v", tt.p.Subject, err)
		}
		if v.Name != tt.want || v.Patient.Identifier != e.annaRef.Identifier {
			t.Errorf("%s sees %q, %+v; want %q", tt.p.Subject, v.Name, v.Patient.Identifier, tt.want)
		}
	}

	nobody := &aggregator.SourceError{Source: "x", Kind: aggregator.NotFound}
	e.hosp.err, e.kom.err = nobody, nobody
	stranger := aggregator.Identifier{System: cprSystem, Value: "0101904321"}
	if _, err := views.Lookup(ctx, e.klara, stranger, "visit"); !errors.Is(err, view.ErrUnknownPerson) {
		t.Errorf("clinician's look-up of someone no source knows: %v", err)
	}
	if rows, _ := e.acc.AuditLog(ctx, access.Principal{Subject: "s", Roles: []access.Role{access.RolePatient}, Handle: e.pats.Handle(stranger)}, "", 10); len(rows.Events) != 1 ||
		rows.Events[0].Action != access.ActionLookup {
		t.Errorf("the look-up of an unknown person is not audited: %+v", rows.Events)
	}
	own := aggregator.Identifier{System: cprSystem, Value: "3002410148"}
	if ref, err := views.Lookup(ctx, e.anna, own, ""); err != nil || ref.Handle != e.annaRef.Handle {
		t.Errorf("a patient's look-up of herself, whom no source knows: %+v, %v", ref, err)
	}
}

// Hidden counts the entries a viewer may not see, and only for the viewer
// who may not see them: the first read of a build and a later one (the
// kept copy) alike, and anew when the build changes.
func TestHiddenCountsWhatTheViewerMayNotSee(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.hosp.set(entry(e.hosp, "psyk", "Psykiatri", at(3, 13, 0), 60, true),
		entry(e.hosp, "psyk-2", "Psykiatri, opfølgning", at(9, 10, 0), 30, true),
		entry(e.hosp, "xray", "Røntgen", at(4, 9, 0), 30, false))
	e.kom.set(entry(e.kom, "fys", "Genoptræning", at(3, 15, 0), 45, false))
	ida := access.Principal{Subject: "sub-ida", Roles: []access.Role{access.RoleRelative},
		Handle: e.pats.Handle(aggregator.Identifier{System: cprSystem, Value: "3102450133"}), Name: "Ida"}
	if _, err := e.acc.Grant(ctx, e.anna, access.GrantRequest{Grantee: ida.Handle, IncludeRestricted: true}); err != nil {
		t.Fatal(err)
	}
	open := func(p access.Principal, reason string) *view.View {
		t.Helper()
		v, err := e.views.Open(ctx, view.Request{Principal: p, Handle: e.annaRef.Handle, Reason: reason})
		if err != nil {
			t.Fatalf("%s: %v", p.Subject, err)
		}
		return v
	}
	tests := []struct {
		p      access.Principal
		reason string
		want   int
	}{
		{e.rasmus, "", 2}, // her delegation leaves restricted entries out
		{e.rasmus, "", 2}, // again, from the copy kept for this build
		{e.anna, "", 0},
		{ida, "", 0}, // her delegation includes them
		{e.klara, "ward round", 0},
	}
	for _, tt := range tests {
		v := open(tt.p, tt.reason)
		if v.Hidden != tt.want || len(v.Timeline.Entries)+v.Hidden != 4 {
			t.Errorf("%s: Hidden = %d with %d entries shown, want %d hidden of 4", tt.p.Subject, v.Hidden, len(v.Timeline.Entries), tt.want)
		}
	}

	e.now = e.now.Add(time.Minute)
	e.hosp.set(entry(e.hosp, "psyk", "Psykiatri", at(3, 13, 0), 60, true),
		entry(e.hosp, "xray", "Røntgen", at(4, 9, 0), 30, false))
	if _, err := e.svc.Refresh(ctx, e.annaRef); err != nil {
		t.Fatal(err)
	}
	if v := open(e.rasmus, ""); v.Hidden != 1 {
		t.Errorf("after a restricted entry went: Hidden = %d, want 1", v.Hidden)
	}
	e.now = e.now.Add(time.Minute)
	e.hosp.set(entry(e.hosp, "xray", "Røntgen", at(4, 9, 0), 30, false))
	if _, err := e.svc.Refresh(ctx, e.annaRef); err != nil {
		t.Fatal(err)
	}
	if v := open(e.rasmus, ""); v.Hidden != 0 {
		t.Errorf("with no restricted entry left: Hidden = %d, want 0", v.Hidden)
	}
}
