package web

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/view"
)

// addDuringAdmission gives tl n more home visits (from the from-th on)
// during its admission, each a during-admission conflict, and returns the
// conflicts' ids.
func addDuringAdmission(t *testing.T, tl *aggregator.Timeline, from, n int) []string {
	t.Helper()
	var ids []string
	loc := cph(t)
	for i := from; i < from+n; i++ {
		id := "kommune/Appointment/care" + string(rune('a'+i))
		start := time.Date(2026, 12, 2+i%2, 8+i, 0, 0, 0, loc)
		tl.Entries = append(tl.Entries, aggregator.Entry{ID: id, Source: "kommune", Sector: aggregator.SectorMunicipality,
			Kind: aggregator.KindAppointment, Status: aggregator.StatusBooked, Start: start, End: start.Add(30 * time.Minute),
			Title: "Hjemmepleje: morgenhjælp", Medium: aggregator.MediumHomeVisit, Organization: "Hjemmeplejen Midtbyen",
			Contact: "0000 2001", Sensitivity: aggregator.SensitivityNormal})
		c := conflict(aggregator.RuleDuringAdmission, aggregator.SeverityHigh, start.Format(time.DateOnly), id, "hospital/Encounter/adm1")
		tl.Conflicts = append(tl.Conflicts, c)
		ids = append(ids, c.ID)
	}
	tl.Version++
	return ids
}

// The look-up form and the API check what was typed before anything is
// decided; the form says what is wrong, with what was typed, in the
// reader's language. 300241-0148 is the same person as 3002410148.
func TestLookupChecksTheCPRNumber(t *testing.T) {
	e := newSecEnv(t)
	tests := []struct {
		typed  string
		status int
		msg    string // on the form, Danish
	}{
		{"300241-0148", http.StatusSeeOther, ""},
		{" 3002410148", http.StatusSeeOther, ""},
		{"300241014", http.StatusBadRequest, "Et CPR-nummer har 10 cifre"},
		{"3002410149x", http.StatusBadRequest, "Et CPR-nummer har 10 cifre"},
		{"3213450133", http.StatusBadRequest, "skal være en dato, der findes"},
		{"2902230100", http.StatusBadRequest, "skal være en dato, der findes"},
		{"", http.StatusBadRequest, "Skriv en identifikator."},
	}
	for _, tt := range tests {
		t.Run(tt.typed, func(t *testing.T) {
			rec := e.do(t, "clinician", http.MethodPost, "/lookup", form("identifier", tt.typed, "reason", "henvisning", "csrf", testCSRF), formCT)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %.300s", rec.Code, tt.status, rec.Body)
			}
			if tt.status == http.StatusSeeOther {
				if loc := rec.Header().Get("Location"); loc != "/clinician/p/"+e.a {
					t.Errorf("redirect to %q, want patient A's page", loc)
				}
				return
			}
			body := html.UnescapeString(rec.Body.String())
			errP := between(body, `<p id="identifier-error"`, "</p>")
			if !strings.Contains(errP, tt.msg) || !strings.Contains(errP, `role="alert"`) {
				t.Errorf("form error %q, want %q", errP, tt.msg)
			}
			if !strings.Contains(body, `aria-invalid="true"`) || !strings.Contains(body, `value="`+tt.typed+`"`) ||
				!strings.Contains(body, `value="henvisning"`) {
				t.Errorf("the form lost what was typed or does not mark the field: %.2000s", between(body, `<form method="post" action="/lookup"`, "</form>"))
			}
			// In English too, as the API's error shape.
			api := e.do(t, "clinician-key", http.MethodPost, "/api/v1/patients/lookup?lang=en",
				`{"identifier":"`+tt.typed+`","reason":"referral"}`, "Content-Type: application/json")
			var got apiErrorJSON
			if err := json.Unmarshal(api.Body.Bytes(), &got); err != nil || api.Code != http.StatusBadRequest || got.Error.Message == "" ||
				strings.Contains(got.Error.Message, "CPR-nummer") {
				t.Errorf("API: %d %s", api.Code, api.Body)
			}
		})
	}
	for _, who := range []string{"patientA", "relative"} {
		rec := e.do(t, who, http.MethodPost, "/api/v1/patients/lookup", `{"identifier":"3213450133"}`, "Content-Type: application/json")
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"code":"bad_identifier"`) {
			t.Errorf("%s's look-up of an impossible date: %d %s", who, rec.Code, rec.Body)
		}
	}
}

// A clinician is told, on the form, that no source knows the person: they
// may look people up. Anyone else gets what they got before: their own
// handle, or the 404 of everything they may not see, so nobody learns who
// exists.
func TestLookupOfAPersonNoSourceKnows(t *testing.T) {
	e := newSecEnv(t)
	for i := range e.tl.tl.Sources {
		e.tl.tl.Sources[i].OK, e.tl.tl.Sources[i].ErrorKind = false, aggregator.NotFound
	}
	rec := e.do(t, "clinician", http.MethodPost, "/lookup?lang=en", form("identifier", "3002410149", "reason", "henvisning", "csrf", testCSRF), formCT)
	body := rec.Body.String()
	if rec.Code != http.StatusNotFound || !strings.Contains(between(body, `<p id="identifier-error"`, "</p>"), "None of the sources knows a person with that number") {
		t.Fatalf("form: %d %.600s", rec.Code, between(body, `<main`, "</main>"))
	}
	if !strings.Contains(body, `value="3002410149"`) {
		t.Error("the form lost the number to correct")
	}
	api := e.do(t, "clinician-key", http.MethodPost, "/api/v1/patients/lookup", `{"identifier":"3002410149","reason":"r"}`, "Content-Type: application/json")
	if api.Code != http.StatusNotFound || !strings.Contains(api.Body.String(), `"code":"unknown_person"`) {
		t.Errorf("clinician's API look-up: %d %s", api.Code, api.Body)
	}
	own := e.do(t, "patientA", http.MethodPost, "/api/v1/patients/lookup", `{"identifier":"`+cprA+`"}`, "Content-Type: application/json")
	if own.Code != http.StatusOK || !strings.Contains(own.Body.String(), e.a) {
		t.Errorf("a patient's look-up of herself: %d %s", own.Code, own.Body)
	}
	other := e.do(t, "patientA", http.MethodPost, "/api/v1/patients/lookup", `{"identifier":"3002410149"}`, "Content-Type: application/json")
	if other.Code != http.StatusNotFound || !strings.Contains(other.Body.String(), `"code":"not_found"`) {
		t.Errorf("a patient's look-up of someone no source knows: %d %s", other.Code, other.Body)
	}
	// A timeline no source knows, opened by handle, says so once.
	page := e.doFollow(t, "clinician", http.MethodPost, "/clinician/p/"+e.b, form("reason", "x", "csrf", testCSRF), formCT).Body.String()
	if n := strings.Count(page, `class="banner"`); n != 1 || !strings.Contains(page, "Ingen af kilderne kender en person med det nummer") {
		t.Errorf("the page of an unknown person has %d banners: %.500s", n, between(page, `<main`, "</main>"))
	}
}

// The look-up follows POST with a redirect to the patient's page, whose
// address holds the handle only; the page opens under a banner that says
// who the patient is, and reopens on reload, each time audited with the
// reason the look-up gave. A colleague with the address is asked why.
func TestLookupPostRedirectGet(t *testing.T) {
	e := newSecEnv(t)
	ctx := context.Background()
	e.pats.SetName(ctx, e.a, "Anna Østergaard Andersen")
	rec := e.do(t, "clinician", http.MethodPost, "/lookup", form("identifier", "300241-0148", "reason", "udskrivelse", "csrf", testCSRF), formCT)
	loc := rec.Header().Get("Location")
	if rec.Code != http.StatusSeeOther || loc != "/clinician/p/"+url.PathEscape(e.a) {
		t.Fatalf("look-up: %d to %q", rec.Code, loc)
	}
	if strings.Contains(loc, "0148") || strings.Contains(loc, "udskrivelse") {
		t.Errorf("the address holds the CPR number or the reason: %s", loc)
	}
	for i := range 2 { // the page, then a reload
		e.advance(time.Minute)
		page := e.do(t, "clinician", http.MethodGet, loc, "")
		body := page.Body.String()
		if page.Code != http.StatusOK {
			t.Fatalf("GET %d: %d", i, page.Code)
		}
		banner := html.UnescapeString(between(body, `<section class="patient-banner"`, "</section>"))
		for _, w := range []string{"Anna Østergaard Andersen", "85 år", "CPR 300241-xxxx"} {
			if !strings.Contains(banner, w) {
				t.Errorf("banner lacks %q: %s", w, banner)
			}
		}
		if strings.Contains(body, cprA) || strings.Contains(between(body, "<title>", "</title>"), "Anna") {
			t.Error("the page shows the whole CPR number, or the name in its title")
		}
		if first := strings.Index(body, `class="patient-banner"`); first < 0 || first > strings.Index(body, "<h1") {
			t.Error("the banner does not open the page")
		}
		if got := e.auditRows(t, "patientA")[0]; got.Action != access.ActionView || got.Reason != "udskrivelse" || got.ActorRole != access.RoleClinician {
			t.Errorf("GET %d audited as %+v", i, got.LogValue())
		}
	}
	rows := len(e.auditRows(t, "patientA"))
	e.auth.ids["colleague"] = Identity{Principal: access.Principal{Subject: "sub-k", Roles: []access.Role{access.RoleClinician}, Name: "Karen"},
		CSRF: "another-session", Session: true}
	other := e.do(t, "colleague", http.MethodGet, loc, "")
	if other.Code != http.StatusOK || !strings.Contains(other.Body.String(), `name="reason"`) || strings.Contains(other.Body.String(), "patient-banner") {
		t.Errorf("a colleague's GET of the address: %d %.300s", other.Code, between(other.Body.String(), "<main", "</main>"))
	}
	if n := len(e.auditRows(t, "patientA")); n != rows {
		t.Errorf("the colleague's reason page wrote %d audit rows", n-rows)
	}
	// The reason form follows POST with a redirect too.
	if rec := e.do(t, "colleague", http.MethodPost, loc, form("reason", " ", "csrf", "another-session"), formCT); rec.Code != http.StatusBadRequest ||
		!strings.Contains(rec.Body.String(), `id="reason-error"`) {
		t.Errorf("an empty reason: %d", rec.Code)
	}
	if rec := e.do(t, "colleague", http.MethodPost, loc, form("reason", "vagt", "csrf", "another-session"), formCT); rec.Code != http.StatusSeeOther ||
		rec.Header().Get("Location") != loc {
		t.Errorf("the reason form: %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	// The pass lasts a quarter of an hour.
	e.advance(lookupPassFor)
	if page := e.do(t, "clinician", http.MethodGet, loc, ""); !strings.Contains(page.Body.String(), `name="reason"`) {
		t.Error("the page opened without asking after the pass ran out")
	}
}

// A patient and her relative read the same during-admission conflict as a
// plain note on each visit, to her or about her by name; her clinician
// reads it in the third person with the contacts of the sources involved.
func TestConflictVoices(t *testing.T) {
	e := newSecEnv(t)
	addDuringAdmission(t, e.tl.tl, 0, 2)
	tests := []struct {
		user, path string
		want       []string
		notWant    []string
	}{
		{"patientA", "/p/" + e.a, []string{"Du er indlagt. Hjemmeplejen Midtbyen ved det måske ikke. Ring til Hjemmeplejen Midtbyen på 0000 2001."},
			[]string{"Anna er indlagt", "patienten er indlagt"}},
		{"relative", "/p/" + e.a + "?lang=en", []string{"Anna is in hospital. Hjemmeplejen Midtbyen may not know. Call Hjemmeplejen Midtbyen on 0000 2001."},
			[]string{"You are in hospital"}},
		{"clinician", "/clinician/p/" + e.a, []string{"men patienten er indlagt på Rigshospitalet", "Kontakter hos de involverede kilder:"},
			[]string{"Du er indlagt", "men du er indlagt", "Hvem du kan kontakte"}},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			var rec = e.do(t, tt.user, http.MethodGet, tt.path, "")
			if tt.user == "clinician" {
				rec = e.doFollow(t, tt.user, http.MethodPost, tt.path, form("reason", "x", "csrf", testCSRF), formCT)
			}
			body := html.UnescapeString(rec.Body.String())
			for _, w := range tt.want {
				if n := strings.Count(body, w); n < 2 {
					t.Errorf("%q shown %d times, want on both visits", w, n)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(body, w) {
					t.Errorf("page shows %q", w)
				}
			}
		})
	}
	// The API speaks as the page does.
	rec := e.do(t, "relative", http.MethodGet, "/api/v1/patients/"+e.a+"/conflicts", "")
	if !strings.Contains(rec.Body.String(), "men Anna er indlagt") {
		t.Errorf("relative's API: %s", rec.Body)
	}
}

// The worklist lists patients by name, one card per problem however many
// days it spans; a clinician marks it handled, colleagues see who and when,
// the patient reads it in their log, and a new conflict shows again.
func TestWorklistMarksProblemsHandled(t *testing.T) {
	e := newSecEnv(t)
	ctx := context.Background()
	e.pats.SetName(ctx, e.a, "Anna Andersen")
	ids := addDuringAdmission(t, e.tl.tl, 0, 3)
	// The clinician's scope: the patient she looked up.
	if rec := e.do(t, "clinician", http.MethodPost, "/lookup", form("identifier", cprA, "reason", "r", "csrf", testCSRF), formCT); rec.Code != http.StatusSeeOther {
		t.Fatalf("look-up: %d", rec.Code)
	}
	list := func(user string) string {
		t.Helper()
		rec := e.do(t, user, http.MethodGet, "/clinician/conflicts?from=2026-12-01&to=2026-12-31", "")
		if rec.Code != http.StatusOK {
			t.Fatalf("worklist: %d", rec.Code)
		}
		return html.UnescapeString(rec.Body.String())
	}
	// card is the conflict card of the admission's visits.
	card := func(body string) string {
		t.Helper()
		for _, li := range strings.Split(body, `<li class="conflict`)[1:] {
			if strings.Contains(li, " gange, ") {
				return li
			}
		}
		t.Fatalf("no card of the admission's visits: %.3000s", between(body, "<main", "</main>"))
		return ""
	}
	body := list("clinician")
	if !strings.Contains(body, `<h2 id="p`) || !strings.Contains(body, ">Anna Andersen</a>") || !strings.Contains(body, "300241-xxxx") {
		t.Errorf("the patient is not named: %.1500s", between(body, "<main", "</main>"))
	}
	c := card(body)
	for _, id := range ids {
		if !strings.Contains(c, `name="conflict" value="`+id+`"`) {
			t.Errorf("the card's form lacks conflict %s", id)
		}
	}
	if strings.Count(body, "men patienten er indlagt") < 3 || strings.Count(body, `<li class="conflict`) != 1 || !strings.Contains(c, "3 gange, ") {
		t.Errorf("want one card for the three visits: %d cards", strings.Count(body, `<li class="conflict`))
	}
	// Marking needs the session's token, a clinician and a patient she may see.
	mark := url.Values{"patient": {e.a}, "from": {"2026-12-01"}, "to": {"2026-12-31"}, "conflict": ids, "csrf": {testCSRF}}.Encode()
	if rec := e.do(t, "clinician", http.MethodPost, "/clinician/conflicts/handled", strings.Replace(mark, testCSRF, "forged", 1), formCT); rec.Code != http.StatusForbidden {
		t.Errorf("without the token: %d", rec.Code)
	}
	if rec := e.do(t, "patientA", http.MethodPost, "/clinician/conflicts/handled", mark, formCT); rec.Code != http.StatusNotFound {
		t.Errorf("by a patient: %d", rec.Code)
	}
	if rec := e.do(t, "clinician", http.MethodPost, "/clinician/conflicts/handled", form("patient", e.a, "conflict", "<script>", "csrf", testCSRF), formCT); rec.Code != http.StatusBadRequest {
		t.Errorf("a bad conflict id: %d", rec.Code)
	}
	e.advance(time.Minute)
	rec := e.do(t, "clinician", http.MethodPost, "/clinician/conflicts/handled", mark, formCT)
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/clinician/conflicts?from=2026-12-01&to=2026-12-31#p") {
		t.Fatalf("mark: %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	// A colleague sees who handled it, and when; no button is left.
	e.auth.ids["colleague"] = Identity{Principal: access.Principal{Subject: "sub-k", Roles: []access.Role{access.RoleClinician}, Name: "Karen"},
		CSRF: "another-session", Session: true}
	if rec := e.do(t, "colleague", http.MethodPost, "/lookup", form("identifier", cprA, "reason", "r", "csrf", "another-session"), formCT); rec.Code != http.StatusSeeOther {
		t.Fatalf("colleague's look-up: %d", rec.Code)
	}
	c = card(list("colleague"))
	if !strings.Contains(c, "Markeret som håndteret af Dr. Clausen, kl. 12.01") || strings.Contains(c, "<form") {
		t.Errorf("the handled card: %s", c)
	}
	// And on the patient's own page.
	if page := e.do(t, "colleague", http.MethodGet, "/clinician/p/"+e.a, "").Body.String(); strings.Count(html.UnescapeString(page), "Markeret som håndteret af Dr. Clausen, kl. 12.01") != 3 {
		t.Errorf("the patient's page does not say which conflicts were handled: %.3000s", between(page, `<section class="conflicts"`, "</section>"))
	}
	// The patient reads it in her log, in her language.
	log := html.UnescapeString(e.do(t, "patientA", http.MethodGet, "/account/log", "").Body.String())
	if strings.Count(log, "markerede et koordineringsproblem i dine aftaler som håndteret") != 3 {
		t.Errorf("the patient's log: %.2000s", between(log, "<main", "</main>"))
	}
	// A new visit in the same admission is a new conflict: the card asks again, for it alone.
	fresh := addDuringAdmission(t, e.tl.tl, 3, 1)[0]
	c = card(list("colleague"))
	if !strings.Contains(c, `name="conflict" value="`+fresh+`"`) || strings.Contains(c, `value="`+ids[0]+`"`) ||
		!strings.Contains(c, "Markeret som håndteret af Dr. Clausen") || !strings.Contains(c, "4 gange, ") {
		t.Errorf("the card after a new conflict: %s", c)
	}
	// A patient who blocks clinicians is no one's to mark.
	if err := e.svc.SetBlock(ctx, e.principals["patientA"], true); err != nil {
		t.Fatal(err)
	}
	if rec := e.do(t, "clinician", http.MethodPost, "/clinician/conflicts/handled", mark, formCT); rec.Code != http.StatusNotFound {
		t.Errorf("marking a blocking patient's conflicts: %d", rec.Code)
	}
}

type fakeStates []aggregator.SourceState

func (f fakeStates) SourceStates() []aggregator.SourceState { return f }

// The admin page shows each source's own state, not the last patient's,
// and says the service is not ready while one is down.
func TestAdminShowsEachSourcesOwnState(t *testing.T) {
	now := testNow(t)
	states := fakeStates{
		{Name: "hosp", Display: "Aarhus Universitetshospital", Sector: aggregator.SectorHospital, LastSuccess: now.Add(-time.Minute)},
		{Name: "gp", Display: "Lægehuset", Sector: aggregator.SectorGP, LastSuccess: now.Add(-time.Hour), LastFailure: now.Add(-30 * time.Second),
			FailureKind: aggregator.Timeout, Down: true},
		{Name: "kom", Display: "Aarhus Kommune", Sector: aggregator.SectorMunicipality},
	}
	e := newSecEnv(t)
	s := New(Config{Location: cph(t)}, Deps{Views: view.New(e.tl, e.pats, view.Options{Access: e.svc}), Patients: e.pats,
		Auth: e.auth, Access: e.svc, Sources: states})
	s.now = func() time.Time { return now }
	req := httptest.NewRequest(http.MethodGet, "/admin?lang=en", nil)
	req.Header.Set("X-Test-User", "admin")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	page := html.UnescapeString(rec.Body.String())
	if rec.Code != http.StatusOK {
		t.Fatalf("admin: %d", rec.Code)
	}
	for _, w := range []string{"The service is not ready: 1 of 3 sources are not answering.", "Aarhus Universitetshospital (hosp)", "not asked yet"} {
		if !strings.Contains(page, w) {
			t.Errorf("admin page lacks %q: %.2000s", w, between(page, "<main", "</main>"))
		}
	}
	row := between(page, "Lægehuset (gp)", "</tr>")
	if !strings.Contains(row, "Lægehuset is not answering</td><td>at 11:00</td><td>at 11:59") {
		t.Errorf("the down source's row: %s", row)
	}
}
