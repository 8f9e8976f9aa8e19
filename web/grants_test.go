package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/access/sqlstore"
)

// The grant form of /account on the real access service and store: what is
// wrong is said next to its field, with the form as typed; a grant or its
// revoking is confirmed after the redirect; the list says whom each grant
// is for. The env's patient A has granted the relative R ("Søn").

// grantsOf is how many grants p has given.
func (e *secEnv) grantsOf(t *testing.T, who string) []access.Delegation {
	t.Helper()
	gs, err := e.svc.Grants(context.Background(), e.principals[who])
	if err != nil {
		t.Fatal(err)
	}
	return gs
}

func postGrant(t *testing.T, e *secEnv, kv ...string) *httptest.ResponseRecorder {
	t.Helper()
	return e.do(t, "patientA", http.MethodPost, "/account/grants", form(append(kv, "csrf", testCSRF)...), formCT)
}

func TestGrantFormSaysWhatIsWrongByTheField(t *testing.T) {
	e := newSecEnv(t)
	tests := []struct {
		name       string
		kv         []string
		status     int
		field      string // the field whose error it is
		want       string // the message, in Danish
		keepValues []string
	}{
		{"three digits", []string{"identifier", "123", "label", "Søn"}, 400, "identifier",
			"Et CPR-nummer har 10 cifre", []string{`value="123"`, `value="Søn"`}},
		{"nothing", []string{"identifier", " ", "label", "Mor"}, 400, "identifier", "Skriv personens CPR-nummer", []string{`value="Mor"`}},
		{"letters", []string{"identifier", "300241-01x8"}, 400, "identifier", "Et CPR-nummer har 10 cifre", []string{`value="300241-01x8"`}},
		{"31 April", []string{"identifier", "310490-1234", "label", "Nabo"}, 400, "identifier",
			"skal være en dato, der findes", []string{`value="310490-1234"`, `value="Nabo"`}},
		{"month 13", []string{"identifier", "0113901234"}, 400, "identifier", "skal være en dato, der findes", nil},
		{"own number", []string{"identifier", cprA}, 400, "identifier", "Det er dit eget CPR-nummer", nil},
		{"the same person again", []string{"identifier", "300250-0246", "label", "Søn igen", "restricted", "1"}, 409, "identifier",
			"Du har allerede givet den person adgang", []string{`value="300250-0246"`, `value="Søn igen"`, `value="1" checked`}},
		{"label too long", []string{"identifier", cprB, "label", strings.Repeat("æ", 101)}, 400, "label", "højst 100 tegn", nil},
		{"end date passed", []string{"identifier", cprB, "until", "2026-11-30"}, 400, "until", "Den dato er gået", []string{`value="2026-11-30"`}},
		{"end date unreadable", []string{"identifier", cprB, "until", "30/11"}, 400, "until", "ÅÅÅÅ-MM-DD", nil},
	}
	before := len(e.grantsOf(t, "patientA"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := postGrant(t, e, tt.kv...)
			body := rec.Body.String()
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %.300s", rec.Code, tt.status, body)
			}
			errP := regexp.MustCompile(`<p id="` + tt.field + `-error" class="form-error">([^<]*)</p>`).FindStringSubmatch(body)
			if errP == nil || !strings.Contains(errP[1], tt.want) {
				t.Fatalf("no error %q beside %s: %v", tt.want, tt.field, errP)
			}
			input := regexp.MustCompile(`<input id="` + tt.field + `"[^>]*>`).FindString(body)
			if !strings.Contains(input, `aria-invalid="true"`) || !regexp.MustCompile(`aria-describedby="[^"]*\b`+tt.field+`-error\b`).MatchString(input) {
				t.Errorf("the field is not tied to its error: %s", input)
			}
			if strings.Count(body, `aria-invalid="true"`) != 1 {
				t.Errorf("%d fields marked invalid, want 1", strings.Count(body, `aria-invalid="true"`))
			}
			if !strings.Contains(body, "Adgangen er ikke givet") || !strings.Contains(body, `role="alert"`) {
				t.Errorf("no summary above the form")
			}
			for _, v := range tt.keepValues {
				if !strings.Contains(body, v) {
					t.Errorf("the form does not keep %s", v)
				}
			}
			if loc := rec.Header().Get("Location"); loc != "" {
				t.Errorf("an error answer redirects to %s", loc)
			}
		})
	}
	if after := len(e.grantsOf(t, "patientA")); after != before {
		t.Errorf("A has %d grants after the refused forms, want %d", after, before)
	}
	// The relative is offered A once, however often A tried.
	if n := strings.Count(e.do(t, "relative", http.MethodGet, "/", "").Body.String(), `href="/p/`+e.a+`"`); n != 1 {
		t.Errorf("the relative's front page links A's timeline %d times, want 1", n)
	}
}

// flashCookieOf is the confirmation cookie rec sets, as a request header.
func flashCookieOf(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	for _, c := range rec.Result().Cookies() {
		if c.Name == flashCookie && c.MaxAge > 0 {
			if strings.Contains(c.Value, cprB) || strings.Contains(c.Value, "310238") {
				t.Errorf("the confirmation cookie holds the number: %q", c.Value)
			}
			return "Cookie: " + c.Name + "=" + c.Value
		}
	}
	t.Fatalf("no confirmation cookie in %v", rec.Header().Values("Set-Cookie"))
	return ""
}

func TestGrantFormConfirmsAfterTheRedirect(t *testing.T) {
	e := newSecEnv(t)
	rec := postGrant(t, e, "identifier", "310238-0127", "label", "Nabo", "until", "2027-01-31")
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("grant: %d %.300s", rec.Code, rec.Body)
	}
	loc := rec.Header().Get("Location")
	if loc != "/account#grants" {
		t.Errorf("redirect to %q, want /account#grants", loc)
	}
	ck := flashCookieOf(t, rec)
	page := e.do(t, "patientA", http.MethodGet, "/account", "", ck)
	body := page.Body.String()
	done := regexp.MustCompile(`<p class="done" role="status">([^<]*)</p>`).FindStringSubmatch(body)
	if done == nil || done[1] != "Gemt: Nabo (CPR 310238-xxxx) kan nu se dit overblik." {
		t.Fatalf("confirmation after the redirect = %v", done)
	}
	cleared := false
	for _, c := range page.Result().Cookies() {
		cleared = cleared || (c.Name == flashCookie && c.MaxAge < 0)
	}
	if !cleared {
		t.Errorf("the confirmation cookie is not cleared, so a reload says it again")
	}
	if again := e.do(t, "patientA", http.MethodGet, "/account", "").Body.String(); strings.Contains(again, `class="done"`) {
		t.Errorf("a page without the cookie confirms")
	}
	// Someone else's grant id in the cookie confirms nothing.
	if other := e.do(t, "relative", http.MethodGet, "/account", "", ck).Body.String(); strings.Contains(other, `class="done"`) {
		t.Errorf("another person's page confirms A's grant")
	}

	// The list: whom each grant is for, by the masked number, and the name
	// once they have signed in; never the whole number.
	grant := between(body, `<ul class="grants">`, `</ul>`)
	if !strings.Contains(grant, "<strong>Nabo</strong>, CPR 310238-xxxx, har ikke logget ind endnu") {
		t.Errorf("the list does not say whom the grant is for: %s", grant)
	}
	if strings.Contains(body, cprB) || strings.Contains(body, "310238-0127") {
		t.Errorf("the account page shows the whole number")
	}
	bo := access.Principal{Subject: "sub-b", Roles: []access.Role{access.RolePatient, access.RoleRelative}, Handle: e.b, Name: "Bo Bæk"}
	if err := e.svc.SignedIn(context.Background(), bo); err != nil {
		t.Fatal(err)
	}
	grant = between(e.do(t, "patientA", http.MethodGet, "/account", "").Body.String(), `<ul class="grants">`, `</ul>`)
	if !strings.Contains(grant, "<strong>Nabo</strong>, Bo Bæk, CPR 310238-xxxx</p>") {
		t.Errorf("the list does not name the grantee who signed in: %s", grant)
	}
	if !strings.Contains(grant, `aria-label="Tilbagekald adgangen for Nabo"`) {
		t.Errorf("the revoke button does not say whose access it revokes: %s", grant)
	}

	// Revoking confirms too.
	var id string
	for _, g := range e.grantsOf(t, "patientA") {
		if g.Grantee == e.b {
			id = g.ID
		}
	}
	rec = e.do(t, "patientA", http.MethodPost, "/account/grants/"+id+"/revoke", form("csrf", testCSRF), formCT)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/account#grants" {
		t.Fatalf("revoke: %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	body = e.do(t, "patientA", http.MethodGet, "/account", "", flashCookieOf(t, rec)).Body.String()
	done = regexp.MustCompile(`<p class="done" role="status">([^<]*)</p>`).FindStringSubmatch(body)
	if done == nil || done[1] != "Gemt: Nabo (Bo Bæk, CPR 310238-xxxx) kan ikke længere se dit overblik." {
		t.Errorf("confirmation of the revoking = %v", done)
	}
	// Once revoked, A may grant Bo again.
	if rec := postGrant(t, e, "identifier", cprB); rec.Code != http.StatusSeeOther {
		t.Errorf("grant after revoking: %d", rec.Code)
	}
}

// TestSwitcherShowsEachPersonOnce: two delegations from A to the relative,
// as stored before a second was refused, still put A once in the
// relative's switcher and on their front page.
func TestSwitcherShowsEachPersonOnce(t *testing.T) {
	for _, b := range []string{"sqlite", "postgres"} {
		t.Run(b, func(t *testing.T) {
			e := newSecEnv(t, b)
			if rec := postGrant(t, e, "identifier", cprR); rec.Code != http.StatusConflict {
				t.Fatalf("a second grant to R: %d, want 409", rec.Code)
			}
			db := e.store.Store.(*sqlstore.Store).DB()
			if _, err := db.SQL.Exec(db.Dialect.Bind(`INSERT INTO delegations (id, patient, grantee, patient_name, include_restricted, created_us)
				VALUES ('legacy', ?, ?, 'Anna', ?, ?)`), e.a, e.r, false, e.now.Add(-1).UnixMicro()); err != nil {
				t.Fatal(err)
			}
			page := e.do(t, "relative", http.MethodGet, "/p/"+e.r, "").Body.String()
			nav := between(page, `<nav class="switch"`, `</nav>`)
			if n := strings.Count(nav, `href="/p/`+e.a+`"`); n != 1 {
				t.Errorf("the switcher links A %d times, want once: %s", n, nav)
			}
			if n := strings.Count(nav, "Anna"); n != 1 {
				t.Errorf("the switcher names Anna %d times, want once: %s", n, nav)
			}
			if n := strings.Count(e.do(t, "relative", http.MethodGet, "/", "").Body.String(), `href="/p/`+e.a+`"`); n != 1 {
				t.Errorf("the front page links A %d times, want once", n)
			}
		})
	}
}
