package web

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/access/sqlstore"
	"github.com/overblik/overblik/access/storetest"
	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
	"github.com/overblik/overblik/view"
)

// The web side of access control, on the real access.Service over a real
// SQLite store. Who is calling comes from a test Authenticator that reads
// the X-Test-User header: the login itself is tested in package auth.

const (
	cprA     = "3002410148" // patient A, who delegates to the relative
	cprB     = "3102380127" // patient B, nobody's relative
	cprR     = "3002500246" // the relative (also a patient of their own)
	testCSRF = "csrf-token-of-the-session"
)

type headerAuth struct{ ids map[string]Identity }

func (h headerAuth) Identify(_ context.Context, r *http.Request) (Identity, bool, error) {
	name := r.Header.Get("X-Test-User")
	if name == "" {
		return Identity{}, false, nil
	}
	if name == "bad" {
		return Identity{}, false, ErrBadCredentials
	}
	id, ok := h.ids[name]
	return id, ok, nil
}

// failingStore is a real store whose audit writes fail when told to.
type failingStore struct {
	access.Store
	mu   sync.Mutex
	fail bool
}

func (f *failingStore) Audit(ctx context.Context, ev access.Event) error {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail {
		return errors.New("disk full")
	}
	return f.Store.Audit(ctx, ev)
}

func (f *failingStore) setFail(v bool) {
	f.mu.Lock()
	f.fail = v
	f.mu.Unlock()
}

type secEnv struct {
	h                http.Handler
	tl               fakeTimelines
	pats             *aggregator.Patients
	auth             headerAuth
	svc              *access.Service
	store            *failingStore
	a, b, r          string // handles
	principals       map[string]access.Principal
	now              *time.Time
	mu               *sync.Mutex
	logs             *bytes.Buffer
	delegationFromA  access.Delegation
	restrictedTitles []string
}

// backends open the access store on SQLite and on PostgreSQL.
var backends = map[string]func(t *testing.T) *sqlstore.Store{
	"sqlite": func(t *testing.T) *sqlstore.Store {
		st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "access.db"), sqlstore.Options{})
		if err != nil {
			t.Fatalf("OpenSQLite: %v", err)
		}
		return st
	},
	"postgres": func(t *testing.T) *sqlstore.Store {
		st, err := sqlstore.OpenPostgres(context.Background(), postgresSchema(t), sqlstore.Options{})
		if err != nil {
			t.Fatalf("OpenPostgres: %v", err)
		}
		return st
	},
}

// postgresSchema creates a schema of the test's own, dropped at the end,
// and returns a URL whose connections use it. PostgreSQL at 127.0.0.1:5432
// (or OVERBLIK_TEST_DATABASE_URL) must be there: the test fails otherwise.
func postgresSchema(t *testing.T) string {
	t.Helper()
	return storetest.PostgresURL(t, "web_test_")
}

func newSecEnv(t *testing.T, backend ...string) *secEnv {
	t.Helper()
	ctx := context.Background()
	open := backends["sqlite"]
	if len(backend) > 0 {
		open = backends[backend[0]]
	}
	st := open(t)
	t.Cleanup(func() { st.Close() })
	store := &failingStore{Store: st}
	now := testNow(t)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	svc := access.NewService(store, access.Options{Now: clock})

	pats, err := aggregator.NewPatients([]byte("0123456789abcdef0123456789abcdef"), memcache.NewDirectory())
	if err != nil {
		t.Fatal(err)
	}
	reg := func(cpr string) string {
		p, err := pats.Register(ctx, aggregator.Identifier{System: testSystem, Value: cpr})
		if err != nil {
			t.Fatal(err)
		}
		return p.Handle
	}
	e := &secEnv{svc: svc, store: store, a: reg(cprA), b: reg(cprB), r: reg(cprR), now: &now, mu: &mu}
	e.principals = map[string]access.Principal{
		"patientA":  {Subject: "sub-a", Roles: []access.Role{access.RolePatient}, Handle: e.a, Name: "Anna"},
		"relative":  {Subject: "sub-r", Roles: []access.Role{access.RolePatient, access.RoleRelative}, Handle: e.r, Name: "Rasmus"},
		"clinician": {Subject: "sub-c", Roles: []access.Role{access.RoleClinician}, Name: "Dr. Clausen"},
		"admin":     {Subject: "sub-adm", Roles: []access.Role{access.RoleAdmin}, Name: "Admin"},
	}
	ids := map[string]Identity{}
	for k, p := range e.principals {
		ids[k] = Identity{Principal: p, CSRF: testCSRF, Session: true}
	}
	ids["clinician-key"] = Identity{Principal: access.Principal{Subject: "apikey:journal", Roles: []access.Role{access.RoleClinician}}}
	e.delegationFromA, err = svc.Grant(ctx, e.principals["patientA"], access.GrantRequest{Grantee: e.r, Label: "Søn"})
	if err != nil {
		t.Fatalf("Grant: %v", err)
	}
	tl := testTimeline(t)
	secret := tl.Entries[0]
	secret.ID, secret.Title, secret.Sensitivity = secret.ID+"-restricted", "Fortrolig samtale", aggregator.SensitivityRestricted
	tl.Entries = append(tl.Entries, secret)
	for _, en := range tl.Entries {
		if en.Sensitivity == aggregator.SensitivityRestricted {
			e.restrictedTitles = append(e.restrictedTitles, en.Title)
		}
	}
	e.logs = &bytes.Buffer{}
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: e.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.tl, e.pats, e.auth = fakeTimelines{tl: tl}, pats, headerAuth{ids: ids}
	s := New(Config{Location: cph(t), DefaultIdentifierSystem: testSystem, LoginPath: "/auth/login", RateLimits: RateLimits{Login: 1000, Lookup: 1000}},
		Deps{
			Views: view.New(e.tl, pats, view.Options{Access: svc, Now: clock, Names: pats}), Patients: pats,
			Auth: headerAuth{ids: ids}, Access: svc, Marks: svc, Logger: log,
			Checks: func(context.Context) []SourceCheck {
				return []SourceCheck{{Source: "hosp", Check: "metadata", Detail: "connection refused"}}
			},
		})
	s.now = clock
	e.h = s.Handler()
	return e
}

// doFollow is do, and after a POST that answers with a clinician page's
// Post/Redirect/Get, the GET of that page.
func (e *secEnv) doFollow(t *testing.T, user, method, target, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	rec := e.do(t, user, method, target, body, headers...)
	if loc := rec.Header().Get("Location"); method == http.MethodPost && rec.Code == http.StatusSeeOther && strings.HasPrefix(loc, clinicianPrefix+"/p/") {
		return e.do(t, user, http.MethodGet, loc, "")
	}
	return rec
}

func (e *secEnv) advance(d time.Duration) {
	e.mu.Lock()
	*e.now = e.now.Add(d)
	e.mu.Unlock()
}

func (e *secEnv) do(t *testing.T, user, method, target, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if user != "" {
		req.Header.Set("X-Test-User", user)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

func (e *secEnv) handle(which string) string {
	switch which {
	case "A":
		return e.a
	case "B":
		return e.b
	}
	return e.r
}

func form(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v.Encode()
}

const formCT = "Content-Type: application/x-www-form-urlencoded"

// TestAuthorizationMatrix: every role (and nobody) × every route × the
// caller's own timeline (A for patient A, R for the relative), a delegated
// one (A for the relative) and another patient's (B).
func TestAuthorizationMatrix(t *testing.T) {
	for _, b := range []string{"sqlite", "postgres"} {
		t.Run(b, func(t *testing.T) { testAuthorizationMatrix(t, b) })
	}
}

func testAuthorizationMatrix(t *testing.T, backend string) {
	e := newSecEnv(t, backend)
	users := []string{"", "patientA", "relative", "clinician", "admin"}
	type route struct {
		name    string
		method  string
		path    func(h string) string
		body    func(cpr string) string
		headers []string
		want    map[string]map[string]int // user -> target -> status
	}
	cprOf := map[string]string{"A": cprA, "B": cprB, "R": cprR}
	all := func(status int) map[string]int { return map[string]int{"A": status, "B": status, "R": status} }
	routes := []route{
		{
			name: "timeline page", method: http.MethodGet, path: func(h string) string { return "/p/" + h },
			want: map[string]map[string]int{
				"":          all(http.StatusSeeOther),
				"patientA":  {"A": 200, "B": 404, "R": 404},
				"relative":  {"A": 200, "B": 404, "R": 200},
				"clinician": all(http.StatusSeeOther), // to the page that asks why
				"admin":     all(http.StatusNotFound),
			},
		},
		{
			name: "timeline API", method: http.MethodGet, path: func(h string) string { return "/api/v1/patients/" + h + "/timeline" },
			headers: []string{ReasonHeader + ": follow-up after discharge"},
			want: map[string]map[string]int{
				"":          all(http.StatusUnauthorized),
				"patientA":  {"A": 200, "B": 404, "R": 404},
				"relative":  {"A": 200, "B": 404, "R": 200},
				"clinician": all(http.StatusOK),
				"admin":     all(http.StatusNotFound),
			},
		},
		{
			name: "conflicts API", method: http.MethodGet, path: func(h string) string { return "/api/v1/patients/" + h + "/conflicts" },
			want: map[string]map[string]int{
				"":          all(http.StatusUnauthorized),
				"patientA":  {"A": 200, "B": 404, "R": 404},
				"relative":  {"A": 200, "B": 404, "R": 200},
				"clinician": all(http.StatusBadRequest),
				"admin":     all(http.StatusNotFound),
			},
		},
		{
			name: "lookup API", method: http.MethodPost, path: func(string) string { return "/api/v1/patients/lookup" },
			body:    func(cpr string) string { return `{"identifier":"` + cpr + `","reason":"referral"}` },
			headers: []string{"Content-Type: application/json"},
			want: map[string]map[string]int{
				"":          all(http.StatusUnauthorized),
				"patientA":  {"A": 200, "B": 404, "R": 404},
				"relative":  {"A": 200, "B": 404, "R": 200},
				"clinician": all(http.StatusOK),
				"admin":     all(http.StatusNotFound),
			},
		},
		{
			name: "clinician page with reason", method: http.MethodPost, path: func(h string) string { return "/clinician/p/" + h },
			body: func(string) string { return form("reason", "ward round", "csrf", testCSRF) }, headers: []string{formCT},
			want: map[string]map[string]int{
				"":          all(http.StatusUnauthorized),
				"patientA":  all(http.StatusNotFound),
				"relative":  all(http.StatusNotFound),
				"clinician": all(http.StatusOK),
				"admin":     all(http.StatusNotFound),
			},
		},
		{
			name: "clinician reason form", method: http.MethodGet, path: func(h string) string { return "/clinician/p/" + h },
			want: map[string]map[string]int{
				"":          all(http.StatusSeeOther),
				"patientA":  all(http.StatusNotFound),
				"relative":  all(http.StatusNotFound),
				"clinician": all(http.StatusOK),
				"admin":     all(http.StatusNotFound),
			},
		},
		{
			name: "lookup form", method: http.MethodPost, path: func(string) string { return "/lookup" },
			body:    func(cpr string) string { return form("identifier", cpr, "reason", "referral", "csrf", testCSRF) },
			headers: []string{formCT},
			want: map[string]map[string]int{
				"":          all(http.StatusUnauthorized),
				"patientA":  all(http.StatusNotFound),
				"relative":  all(http.StatusNotFound),
				"clinician": all(http.StatusOK),
				"admin":     all(http.StatusNotFound),
			},
		},
		{
			name: "worklist", method: http.MethodGet, path: func(string) string { return "/clinician/conflicts" },
			want: map[string]map[string]int{"": all(303), "patientA": all(404), "relative": all(404), "clinician": all(200), "admin": all(404)},
		},
		{
			name: "account", method: http.MethodGet, path: func(string) string { return "/account" },
			want: map[string]map[string]int{"": all(303), "patientA": all(200), "relative": all(200), "clinician": all(404), "admin": all(404)},
		},
		{
			name: "audit log", method: http.MethodGet, path: func(string) string { return "/account/log" },
			want: map[string]map[string]int{"": all(303), "patientA": all(200), "relative": all(200), "clinician": all(404), "admin": all(404)},
		},
		{
			name: "admin", method: http.MethodGet, path: func(string) string { return "/admin" },
			want: map[string]map[string]int{"": all(303), "patientA": all(404), "relative": all(404), "clinician": all(404), "admin": all(200)},
		},
		{
			name: "front page", method: http.MethodGet, path: func(string) string { return "/" },
			want: map[string]map[string]int{"": all(200), "patientA": all(200), "relative": all(200), "clinician": all(200), "admin": all(200)},
		},
		{
			name: "demo patient list", method: http.MethodGet, path: func(string) string { return "/api/v1/patients" },
			want: map[string]map[string]int{"": all(401), "patientA": all(404), "relative": all(404), "clinician": all(404), "admin": all(404)},
		},
	}
	for _, rt := range routes {
		for _, u := range users {
			for _, target := range []string{"A", "B", "R"} {
				name := rt.name + "/" + u + "/" + target
				if u == "" {
					name = rt.name + "/nobody/" + target
				}
				t.Run(name, func(t *testing.T) {
					body := ""
					if rt.body != nil {
						body = rt.body(cprOf[target])
					}
					rec := e.doFollow(t, u, rt.method, rt.path(e.handle(target)), body, rt.headers...)
					if got, want := rec.Code, rt.want[u][target]; got != want {
						t.Fatalf("status = %d, want %d; body %.300s", got, want, rec.Body)
					}
					if rec.Code == http.StatusSeeOther {
						want := "/auth/login?next="
						if u == "clinician" {
							want = "/clinician/p/" + e.handle(target)
						}
						if loc := rec.Header().Get("Location"); !strings.HasPrefix(loc, want) {
							t.Errorf("redirect to %q, want %s", loc, want)
						}
					}
				})
			}
		}
	}
}

// auditRows is patient h's log as the access service reads it.
func (e *secEnv) auditRows(t *testing.T, who string) []access.Event {
	t.Helper()
	pg, err := e.svc.AuditLog(context.Background(), e.principals[who], "", 100)
	if err != nil {
		t.Fatalf("AuditLog: %v", err)
	}
	return pg.Events
}

func TestEveryViewIsAuditedWithRoleAndReason(t *testing.T) {
	for _, b := range []string{"sqlite", "postgres"} {
		t.Run(b, func(t *testing.T) { testEveryViewIsAudited(t, b) })
	}
}

func testEveryViewIsAudited(t *testing.T, backend string) {
	e := newSecEnv(t, backend)
	steps := []struct {
		user, method, target, body string
		headers                    []string
		wantRole                   access.Role
		wantAction                 access.Action
		wantReason                 string
	}{
		{"patientA", http.MethodGet, "/p/" + e.a, "", nil, access.RolePatient, access.ActionView, ""},
		{"relative", http.MethodGet, "/p/" + e.a, "", nil, access.RoleRelative, access.ActionView, ""},
		{"clinician", http.MethodPost, "/clinician/p/" + e.a, form("reason", "ward round", "csrf", testCSRF), []string{formCT}, access.RoleClinician, access.ActionView, "ward round"},
		{"clinician-key", http.MethodPost, "/api/v1/patients/lookup", `{"identifier":"` + cprA + `","reason":"referral"}`, []string{"Content-Type: application/json"}, access.RoleClinician, access.ActionLookup, "referral"},
		{"clinician-key", http.MethodGet, "/api/v1/patients/" + e.a + "/timeline", "", []string{ReasonHeader + ": referral"}, access.RoleClinician, access.ActionView, "referral"},
	}
	for i, st := range steps {
		e.advance(time.Minute)
		rec := e.doFollow(t, st.user, st.method, st.target, st.body, st.headers...)
		if rec.Code != http.StatusOK {
			t.Fatalf("step %d: status %d; %s", i, rec.Code, rec.Body)
		}
		rows := e.auditRows(t, "patientA")
		got := rows[0] // newest first
		if got.ActorRole != st.wantRole || got.Action != st.wantAction || got.Reason != st.wantReason || got.Outcome != access.OutcomeAllowed {
			t.Errorf("step %d: newest row = %+v, want role %s action %s reason %q", i, got.LogValue(), st.wantRole, st.wantAction, st.wantReason)
		}
	}

	// The patient reads it on "who has looked at my overview", newest first.
	rec := e.do(t, "patientA", http.MethodGet, "/account/log?lang=en", "")
	body := rec.Body.String()
	if !strings.Contains(body, "Who has looked at my overview") {
		t.Fatalf("log page lacks its heading: %s", body)
	}
	iKey, iWard, iRel := strings.Index(body, "apikey:journal"), strings.Index(body, "ward round"), strings.Index(body, "Rasmus")
	if iKey < 0 || iWard < 0 || iRel < 0 || iKey >= iWard || iWard >= iRel {
		t.Errorf("log page not newest first (key %d, clinician %d, relative %d)", iKey, iWard, iRel)
	}
}

func TestAuditFailureRefusesTheRequest(t *testing.T) {
	e := newSecEnv(t)
	e.store.setFail(true)
	for _, tc := range []struct{ user, method, target, body, header string }{
		{"patientA", http.MethodGet, "/p/" + e.a, "", ""},
		{"relative", http.MethodGet, "/api/v1/patients/" + e.a + "/timeline", "", ""},
		{"clinician", http.MethodPost, "/clinician/p/" + e.b, form("reason", "x", "csrf", testCSRF), formCT},
	} {
		t.Run(tc.user, func(t *testing.T) {
			var hs []string
			if tc.header != "" {
				hs = append(hs, tc.header)
			}
			rec := e.doFollow(t, tc.user, tc.method, tc.target, tc.body, hs...)
			if rec.Code != http.StatusInternalServerError {
				t.Fatalf("status = %d, want 500", rec.Code)
			}
			if strings.Contains(rec.Body.String(), "Kontrol") || strings.Contains(rec.Body.String(), "MR-scanning") {
				t.Errorf("timeline data sent although the audit failed: %.400s", rec.Body)
			}
		})
	}
}

func TestDelegationEndDateAndRevocation(t *testing.T) {
	e := newSecEnv(t)
	ctx := context.Background()
	// B grants the relative access until tomorrow (exclusive end).
	until := e.now.Add(24 * time.Hour)
	g, err := e.svc.Grant(ctx, access.Principal{Subject: "sub-b", Roles: []access.Role{access.RolePatient}, Handle: e.b, Name: "Bo"},
		access.GrantRequest{Grantee: e.r, Until: until})
	if err != nil {
		t.Fatal(err)
	}
	_ = g
	if rec := e.do(t, "relative", http.MethodGet, "/p/"+e.b, ""); rec.Code != 200 {
		t.Fatalf("before the end date: %d", rec.Code)
	}
	if home := e.do(t, "relative", http.MethodGet, "/?lang=en", "").Body.String(); !strings.Contains(home, "/p/"+e.b) {
		t.Errorf("front page does not offer the delegated timeline")
	}
	e.advance(25 * time.Hour)
	if rec := e.do(t, "relative", http.MethodGet, "/p/"+e.b, ""); rec.Code != 404 {
		t.Fatalf("after the end date: %d, want 404", rec.Code)
	}
	if home := e.do(t, "relative", http.MethodGet, "/", "").Body.String(); strings.Contains(home, "/p/"+e.b) {
		t.Errorf("front page still offers an expired delegation")
	}

	// A revokes through the account page's form.
	if rec := e.do(t, "relative", http.MethodGet, "/p/"+e.a, ""); rec.Code != 200 {
		t.Fatalf("before revocation: %d", rec.Code)
	}
	rec := e.do(t, "patientA", http.MethodPost, "/account/grants/"+e.delegationFromA.ID+"/revoke", form("csrf", testCSRF), formCT)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
	if rec := e.do(t, "relative", http.MethodGet, "/p/"+e.a, ""); rec.Code != 404 {
		t.Fatalf("after revocation: %d, want 404", rec.Code)
	}
}

func TestGrantFormLetsTheRelativeIn(t *testing.T) {
	e := newSecEnv(t)
	if rec := e.do(t, "relative", http.MethodGet, "/p/"+e.b, ""); rec.Code != 404 {
		t.Fatalf("before the grant: %d", rec.Code)
	}
	// B is not a principal of the env; log B in as a patient.
	bAuth := e.principals["patientA"]
	bAuth.Handle, bAuth.Subject = e.b, "sub-b"
	e.principals["patientB"] = bAuth
	ctx := context.Background()
	if _, err := e.svc.Grant(ctx, bAuth, access.GrantRequest{Grantee: e.r, Label: "x"}); err != nil {
		t.Fatal(err)
	}
	if rec := e.do(t, "relative", http.MethodGet, "/p/"+e.b, ""); rec.Code != 200 {
		t.Fatalf("after the grant: %d", rec.Code)
	}

	// Through the form, A grants B; the form needs its CSRF token.
	if rec := e.do(t, "patientA", http.MethodPost, "/account/grants", form("identifier", cprB, "label", "Nabo"), formCT); rec.Code != http.StatusForbidden {
		t.Fatalf("grant without CSRF token: %d, want 403", rec.Code)
	}
	rec := e.do(t, "patientA", http.MethodPost, "/account/grants", form("identifier", cprB, "label", "Nabo", "until", "2099-01-31", "csrf", testCSRF), formCT)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("grant: %d %s", rec.Code, rec.Body)
	}
	gs, err := e.svc.Grants(ctx, e.principals["patientA"])
	if err != nil || len(gs) != 2 {
		t.Fatalf("grants after the form = %+v, %v", gs, err)
	}
	if i := slices.IndexFunc(gs, func(d access.Delegation) bool { return d.Grantee == e.b }); i < 0 || gs[i].Label != "Nabo" || gs[i].Until.IsZero() {
		t.Errorf("grants after the form = %+v", gs)
	}
	if page := e.do(t, "patientA", http.MethodGet, "/account", "").Body.String(); !strings.Contains(page, "Nabo") || !strings.Contains(page, testCSRF) {
		t.Errorf("account page does not list the grant with its revoke form")
	}
}

func TestBlockAgainstClinicians(t *testing.T) {
	e := newSecEnv(t)
	reason := []string{ReasonHeader + ": triage"}
	if rec := e.do(t, "clinician", http.MethodGet, "/api/v1/patients/"+e.a+"/timeline", "", reason...); rec.Code != 200 {
		t.Fatalf("before the block: %d", rec.Code)
	}
	if rec := e.do(t, "patientA", http.MethodPost, "/account/block", form("blocked", "1", "csrf", testCSRF), formCT); rec.Code != http.StatusSeeOther {
		t.Fatalf("block: %d", rec.Code)
	}
	rec := e.do(t, "clinician", http.MethodGet, "/api/v1/patients/"+e.a+"/timeline", "", reason...)
	assertAPIError(t, rec, http.StatusNotFound, "not_found")
	if got := e.auditRows(t, "patientA")[0]; got.Outcome != access.OutcomeBlocked || got.ActorRole != access.RoleClinician {
		t.Errorf("newest row = %+v, want the refused clinician", got.LogValue())
	}
	// The relative is not a clinician: the block does not touch them.
	if rec := e.do(t, "relative", http.MethodGet, "/p/"+e.a, ""); rec.Code != 200 {
		t.Errorf("relative after the block: %d", rec.Code)
	}
	if rec := e.do(t, "patientA", http.MethodPost, "/account/block", form("blocked", "0", "csrf", testCSRF), formCT); rec.Code != http.StatusSeeOther {
		t.Fatalf("unblock: %d", rec.Code)
	}
	if rec := e.do(t, "clinician", http.MethodGet, "/api/v1/patients/"+e.a+"/timeline", "", reason...); rec.Code != 200 {
		t.Fatalf("after lifting the block: %d", rec.Code)
	}
}

func TestRestrictedEntriesOnlyWhenDelegated(t *testing.T) {
	e := newSecEnv(t)
	if len(e.restrictedTitles) == 0 {
		t.Fatal("test timeline has no restricted entry")
	}
	own := e.do(t, "patientA", http.MethodGet, "/p/"+e.a, "").Body.String()
	rel := e.do(t, "relative", http.MethodGet, "/p/"+e.a, "").Body.String()
	if !strings.Contains(rel, "<h1>Aftaler for Anna</h1>") || !strings.Contains(own, "<h1>Dine aftaler</h1>") {
		t.Errorf("headings do not say whose timeline it is")
	}
	for _, title := range e.restrictedTitles {
		if !strings.Contains(own, title) {
			t.Errorf("patient does not see their restricted entry %q", title)
		}
		if strings.Contains(rel, title) {
			t.Errorf("relative without restricted access sees %q", title)
		}
	}
}

func TestSecurityHeadersCSRFAndRateLimit(t *testing.T) {
	e := newSecEnv(t)
	rec := e.do(t, "patientA", http.MethodGet, "/", "")
	for k, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
	} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if csp := rec.Header().Get("Content-Security-Policy"); strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP = %q", csp)
	}
	if rec.Header().Get("Strict-Transport-Security") != "" {
		t.Errorf("HSTS sent over plain HTTP")
	}
	req := httptest.NewRequest(http.MethodGet, "https://overblik.test/", nil)
	tls := httptest.NewRecorder()
	e.h.ServeHTTP(tls, req)
	if tls.Header().Get("Strict-Transport-Security") == "" {
		t.Errorf("no HSTS over TLS")
	}

	// A session's JSON API call must be JSON; a form post from elsewhere is refused.
	rec = e.do(t, "patientA", http.MethodPost, "/api/v1/patients/lookup", `{"identifier":"`+cprA+`"}`, "Content-Type: text/plain")
	assertAPIError(t, rec, http.StatusForbidden, "forbidden")
	// A bad bearer credential is 401 on the API.
	assertAPIError(t, e.do(t, "bad", http.MethodGet, "/api/v1/patients/"+e.a+"/timeline", ""), http.StatusUnauthorized, "unauthorized")

	// Look-ups are rate limited per principal (more in ratelimit_test.go).
	fp := newFakePatients()
	s := New(Config{Location: cph(t), RateLimits: RateLimits{Lookup: 2}}, Deps{
		Views: view.New(fakeTimelines{tl: testTimeline(t)}, fp, view.Options{Access: e.svc}), Patients: fp,
		Auth: headerAuth{ids: map[string]Identity{"c": {Principal: e.principals["clinician"]}}}, Access: e.svc})
	var codes []int
	for range 3 {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/patients/lookup", strings.NewReader(`{"identifier":"`+cprA+`","reason":"r"}`))
		req.Header.Set("X-Test-User", "c")
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		codes = append(codes, rec.Code)
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != http.StatusTooManyRequests {
		t.Errorf("statuses = %v, want 200 200 429", codes)
	}
}

func TestAdminRunsSourceChecks(t *testing.T) {
	e := newSecEnv(t)
	if rec := e.do(t, "admin", http.MethodPost, "/admin/checks", form("csrf", testCSRF), formCT); rec.Code != 200 || !strings.Contains(rec.Body.String(), "connection refused") {
		t.Errorf("admin's checks: %d %.300s", rec.Code, rec.Body)
	}
	if rec := e.do(t, "admin", http.MethodPost, "/admin/checks", "", formCT); rec.Code != http.StatusForbidden {
		t.Errorf("checks without CSRF token: %d, want 403", rec.Code)
	}
	if rec := e.do(t, "clinician", http.MethodPost, "/admin/checks", form("csrf", testCSRF), formCT); rec.Code != http.StatusNotFound {
		t.Errorf("clinician runs checks: %d, want 404", rec.Code)
	}
}
