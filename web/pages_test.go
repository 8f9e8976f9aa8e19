package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// entryHTML returns the rendered <li> of the entry whose title is title.
func entryHTML(t *testing.T, body, title string) string {
	t.Helper()
	for _, li := range strings.Split(body, `<li class="entry `)[1:] {
		li, _, _ = strings.Cut(li, "</li>")
		if strings.Contains(li, title) {
			return li
		}
	}
	t.Fatalf("no entry titled %q in page", title)
	return ""
}

func TestTimelinePage(t *testing.T) {
	tests := []struct {
		lang  string
		wants map[string][]string // entry title -> fragments of its <li>
		page  []string            // fragments of the whole page
	}{
		{
			lang: "da",
			wants: map[string][]string{
				"Indlæggelse til hofteoperation": {`sector-hospital`, `<span class="tag sector">Hospital</span>`,
					"Indlæggelse</span>", "1. dec 10.00 – 4. dec 12.00", "Rigshospitalet, Ortopædkirurgi, <a href=\"https://www.openstreetmap.org/search?query=Blegdamsvej&#43;9%2C&#43;2100&#43;K%C3%B8benhavn&#43;%C3%98\" class=\"action\" rel=\"noopener noreferrer\">Blegdamsvej 9, 2100 København Ø <span class=\"muted\">(kort)</span></a>",
					"Mød fastende fra kl. 24", "Overlæge Jens Hansen, Rigshospitalet", `<a href="tel:35453545" class="action">35 45 35 45</a>`},
				"Hjemmesygepleje": {`sector-municipality`, `<span class="tag sector">Kommune</span>`, "Hele dagen", "Hjemmebesøg"},
				"Svar på blodprøver": {`sector-gp`, ` stale"`, `<span class="tag sector">Egen læge</span>`,
					"Telefonkonsultation", "Ikke opdateret – senest hentet kl. 10.42", "08.30–08.45"},
				"Opfølgning efter operation": {`<a href="` + videoURL + `"`, "Deltag i videomødet", "Videokonsultation"},
				"Genoptræning": {` cancelled"`, "<del>Genoptræning</del>", "<del>13.00–14.00</del>",
					`<span class="tag status status-cancelled">Aflyst</span>`},
			},
			page: []string{`<html lang="da">`, "<title>Dine aftaler – Overblik</title>", "tirsdag 8. december 2026",
				"torsdag 10. december 2026", `<h2 id="today">I dag</h2>`, `<h3 class="date">tirsdag 1. december 2026</h3>`,
				"Vis tidligere aftaler (1)", `href="/p/h-test?lang=en"`, "Øvrige kilder opdateret kl. 11.58."},
		},
		{
			lang: "en",
			wants: map[string][]string{
				"Indlæggelse til hofteoperation": {`<span class="tag sector">Hospital</span>`, "Admission</span>", "1 Dec 10:00 – 4 Dec 12:00"},
				"Hjemmesygepleje":                {`<span class="tag sector">Municipality</span>`, "All day", "Home visit"},
				"Svar på blodprøver":             {`<span class="tag sector">GP</span>`, "Phone call", "Not up to date – last fetched at 10:42"},
				"Opfølgning efter operation":     {"Join the video call"},
				// The sources' Danish words are marked Danish on an English page.
				"Genoptræning": {`<del><span lang="da">Genoptræning</span></del>`, `<span class="tag status status-cancelled">Cancelled</span>`,
					`<dd><span lang="da">Sundhedshuset</span></dd>`},
			},
			page: []string{`<html lang="en">`, "<title>Your appointments – Overblik</title>", "Tuesday 8 December 2026",
				`<h2 id="today">Today</h2>`, `<h3 class="date">Tuesday 1 December 2026</h3>`, "Show earlier appointments (1)",
				`href="/p/h-test?lang=da"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			env := newTestEnv(t, Config{}, nil)
			rec := env.do(t, http.MethodGet, "/p/"+testHandle+"?lang="+tt.lang, "")
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
			}
			body := rec.Body.String()
			for title, frags := range tt.wants {
				li := entryHTML(t, body, title)
				for _, f := range frags {
					if !strings.Contains(li, f) {
						t.Errorf("entry %q lacks %q:\n%s", title, f, li)
					}
				}
			}
			for _, f := range tt.page {
				if !strings.Contains(body, f) {
					t.Errorf("page lacks %q", f)
				}
			}
		})
	}
}

func TestTimelinePageSections(t *testing.T) {
	env := newTestEnv(t, Config{}, nil)
	body := env.do(t, http.MethodGet, "/p/"+testHandle, "").Body.String()
	earlier := between(body, "<details>", "</details>")
	today := between(body, `<section class="today"`, "</section>")
	upcoming := between(body, `<section class="upcoming"`, "<footer")
	tests := []struct {
		title string
		in    string
		name  string
	}{
		{"Blodprøve", earlier, "earlier (collapsed)"},
		{"Indlæggelse til hofteoperation", today, "today"},
		{"Hjemmesygepleje", today, "today"},
		{"Svar på blodprøver", upcoming, "upcoming"},
		{"Genoptræning", upcoming, "upcoming"},
	}
	for _, tt := range tests {
		t.Run(tt.title, func(t *testing.T) {
			if !strings.Contains(tt.in, tt.title) {
				t.Errorf("%q not in the %s section", tt.title, tt.name)
			}
		})
	}
	// Entries keep the order given.
	if i, j := strings.Index(body, "Svar på blodprøver"), strings.Index(body, "Genoptræning"); i < 0 || j < 0 || i > j {
		t.Errorf("entries out of order: %d, %d", i, j)
	}
}

func TestOngoingAdmissionShowsToday(t *testing.T) {
	loc := cph(t)
	tl := &aggregator.Timeline{Entries: []aggregator.Entry{{
		ID: "h/Encounter/1", Sector: aggregator.SectorHospital, Kind: aggregator.KindAdmission, Status: aggregator.StatusInProgress,
		Start: time.Date(2026, 11, 28, 9, 0, 0, 0, loc), End: time.Date(2026, 12, 3, 12, 0, 0, 0, loc), Title: "Indlagt",
	}}}
	env := newTestEnv(t, Config{}, fakeTimelines{tl: tl})
	body := env.do(t, http.MethodGet, "/p/"+testHandle, "").Body.String()
	today := between(body, `<section class="today"`, "</section>")
	if !strings.Contains(today, "Indlagt") || !strings.Contains(today, "28. nov 09.00 – 3. dec 12.00") {
		t.Errorf("ongoing admission not under today with its period:\n%s", today)
	}
	if strings.Contains(body, "<details>") {
		t.Errorf("ongoing admission was filed as earlier")
	}
}

func TestOpenAdmissionShowsToday(t *testing.T) {
	loc := cph(t)
	tl := &aggregator.Timeline{Entries: []aggregator.Entry{{
		ID: "h/Encounter/1", Sector: aggregator.SectorHospital, Kind: aggregator.KindAdmission, Status: aggregator.StatusInProgress,
		Start: time.Date(2026, 11, 20, 9, 0, 0, 0, loc), Title: "Indlagt uden slutdato",
	}, {
		ID: "h/Encounter/2", Sector: aggregator.SectorHospital, Kind: aggregator.KindAdmission, Status: aggregator.StatusCompleted,
		Start: time.Date(2026, 11, 10, 9, 0, 0, 0, loc), Title: "Afsluttet uden slutdato",
	}}}
	env := newTestEnv(t, Config{}, fakeTimelines{tl: tl})
	body := env.do(t, http.MethodGet, "/p/"+testHandle, "").Body.String()
	today := between(body, `<section class="today"`, "</section>")
	if !strings.Contains(today, "Indlagt uden slutdato") || !strings.Contains(today, "fra 20. nov 09.00") {
		t.Errorf("open admission in progress is not under today:\n%s", today)
	}
	if strings.Contains(today, "Afsluttet uden slutdato") {
		t.Errorf("a completed admission without an end is shown as ongoing")
	}
}

func TestLanguageNegotiation(t *testing.T) {
	tests := []struct {
		name       string
		target     string
		headers    []string
		want       string
		wantCookie string // Set-Cookie lang value; "" for none
	}{
		{"default", "/", nil, "da", ""},
		{"query en", "/?lang=en", nil, "en", "en"},
		{"query da beats cookie en", "/?lang=da", []string{"Cookie: lang=en"}, "da", "da"},
		{"query beats accept-language", "/?lang=da", []string{"Accept-Language: en"}, "da", "da"},
		{"unknown query ignored", "/?lang=fr", []string{"Accept-Language: en"}, "en", ""},
		{"cookie en", "/", []string{"Cookie: lang=en"}, "en", ""},
		{"cookie beats accept-language", "/", []string{"Cookie: lang=da", "Accept-Language: en-GB"}, "da", ""},
		{"bad cookie falls to accept-language", "/", []string{"Cookie: lang=xx", "Accept-Language: en"}, "en", ""},
		{"accept-language region", "/", []string{"Accept-Language: en-GB,en;q=0.9"}, "en", ""},
		{"q-values prefer en", "/", []string{"Accept-Language: da;q=0.4, en;q=0.8"}, "en", ""},
		{"q-values prefer da", "/", []string{"Accept-Language: en;q=0.3, da"}, "da", ""},
		{"unsupported first", "/", []string{"Accept-Language: de-DE, en;q=0.5"}, "en", ""},
		{"en refused with q=0", "/", []string{"Accept-Language: en;q=0"}, "da", ""},
		{"only unsupported", "/", []string{"Accept-Language: ja"}, "da", ""},
		{"garbage", "/", []string{"Accept-Language: ;;;=="}, "da", ""},
	}
	env := newTestEnv(t, Config{}, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := env.do(t, http.MethodGet, tt.target, "", tt.headers...)
			if got := between(rec.Body.String(), `<html lang="`, `"`); got != tt.want {
				t.Errorf("lang = %q, want %q", got, tt.want)
			}
			var gotCookie string
			for _, c := range rec.Result().Cookies() {
				if c.Name == "lang" {
					gotCookie = c.Value
				}
			}
			if gotCookie != tt.wantCookie {
				t.Errorf("lang cookie = %q, want %q", gotCookie, tt.wantCookie)
			}
			if other := otherLangs(tt.want)[0]; !strings.Contains(rec.Body.String(), `?lang=`+other+`"`) {
				t.Errorf("no switch link to %s", other)
			}
		})
	}
}

func TestLookupForm(t *testing.T) {
	tests := []struct {
		name       string
		form       url.Values
		wantStatus int
		wantID     aggregator.Identifier
	}{
		{"cpr", url.Values{"identifier": {fakeCPR}}, http.StatusSeeOther, aggregator.Identifier{System: testSystem, Value: fakeCPR}},
		{"system and value", url.Values{"identifier": {"urn:x|77"}}, http.StatusSeeOther, aggregator.Identifier{System: "urn:x", Value: "77"}},
		{"empty", url.Values{"identifier": {"  "}}, http.StatusBadRequest, aggregator.Identifier{}},
		{"missing", url.Values{}, http.StatusBadRequest, aggregator.Identifier{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t, Config{DefaultIdentifierSystem: testSystem}, nil)
			rec := env.do(t, http.MethodPost, "/lookup", tt.form.Encode(), "Content-Type: application/x-www-form-urlencoded")
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantStatus != http.StatusSeeOther {
				if !strings.Contains(rec.Body.String(), `role="alert">Skriv en identifikator.</p>`) {
					t.Errorf("form error not shown")
				}
				return
			}
			loc := rec.Header().Get("Location")
			if !strings.HasPrefix(loc, "/p/") {
				t.Fatalf("Location = %q, want /p/{handle}", loc)
			}
			if got := env.pats.lastRegistered(); got != tt.wantID {
				t.Errorf("registered %+v, want %+v", got, tt.wantID)
			}
			if rec := env.do(t, http.MethodGet, loc, ""); rec.Code != http.StatusOK {
				t.Errorf("GET %s: status %d", loc, rec.Code)
			}
		})
	}
	t.Run("identifier in the query is not read", func(t *testing.T) {
		env := newTestEnv(t, Config{}, nil)
		rec := env.do(t, http.MethodPost, "/lookup?identifier="+fakeCPR, "", "Content-Type: application/x-www-form-urlencoded")
		if rec.Code != http.StatusBadRequest {
			t.Errorf("status = %d, want 400", rec.Code)
		}
	})
}

func TestNoCPRInPageOrLogs(t *testing.T) {
	tl := &swapTimelines{Timelines: fakeTimelines{tl: testTimeline(t)}}
	env := newTestEnv(t, Config{DefaultIdentifierSystem: testSystem, NoAccessControl: true}, tl)
	rec := env.do(t, http.MethodPost, "/lookup", "identifier="+fakeCPR, "Content-Type: application/x-www-form-urlencoded")
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("status = %d, want 303", rec.Code)
	}
	loc := rec.Header().Get("Location")
	page := env.do(t, http.MethodGet, loc, "")
	if page.Code != http.StatusOK {
		t.Fatalf("GET %s: status %d", loc, page.Code)
	}
	apiRec := env.do(t, http.MethodPost, "/api/v1/patients/lookup", `{"identifier":"`+fakeCPR+`"}`)
	// A failing timeline goes through the error handler and its log line.
	tl.swap(fakeTimelines{err: errors.New("cache down")})
	failed := env.do(t, http.MethodGet, loc, "")

	for name, s := range map[string]string{
		"Location":    loc,
		"page":        page.Body.String(),
		"api answer":  apiRec.Body.String(),
		"error page":  failed.Body.String(),
		"server logs": env.logs.String(),
	} {
		for _, digits := range []string{fakeCPR, fakeCPR[:6], fakeCPR[6:]} {
			if strings.Contains(s, digits) {
				t.Errorf("%s contains CPR digits %q", name, digits)
			}
		}
	}
	if title := between(page.Body.String(), "<title>", "</title>"); title != "Dine aftaler – Overblik" {
		t.Errorf("title = %q", title)
	}
}

func TestAccessControlNotice(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(map[bool]string{true: "on", false: "off"}[on], func(t *testing.T) {
			env := newTestEnv(t, Config{NoAccessControl: on}, nil)
			for _, path := range []string{"/", "/p/" + testHandle, "/p/unknown"} {
				body := env.do(t, http.MethodGet, path, "").Body.String()
				if got := strings.Contains(body, `<p class="notice">Bemærk: adgangskontrol er endnu ikke slået til.`); got != on {
					t.Errorf("%s: notice shown = %v, want %v", path, got, on)
				}
			}
		})
	}
}

func TestHealthAndReady(t *testing.T) {
	tests := []struct {
		name   string
		path   string
		ready  func(context.Context) error
		status int
		body   string
	}{
		{name: "healthz", path: "/healthz", status: http.StatusOK},
		{name: "healthz while not ready", path: "/healthz", ready: notReady, status: http.StatusOK},
		{name: "readyz without check", path: "/readyz", status: http.StatusOK},
		{name: "readyz ready", path: "/readyz", ready: ready, status: http.StatusOK},
		{name: "readyz not ready", path: "/readyz", ready: notReady, status: http.StatusServiceUnavailable},
		{name: "readyz degraded stays in rotation", path: "/readyz", ready: func(context.Context) error {
			return fmt.Errorf("%w: redis is down", ErrDegraded)
		}, status: http.StatusOK, body: "degraded\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t, Config{}, nil, func(d *Deps) { d.Ready = tt.ready })
			rec := env.do(t, http.MethodGet, tt.path, "")
			if rec.Code != tt.status {
				t.Errorf("status = %d, want %d", rec.Code, tt.status)
			}
			if tt.path == "/healthz" && rec.Body.String() != "ok\n" {
				t.Errorf("body = %q, want ok", rec.Body)
			}
			if tt.body != "" && rec.Body.String() != tt.body {
				t.Errorf("body = %q, want %q", rec.Body, tt.body)
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	env := newTestEnv(t, Config{Demo: []DemoPatient{{Handle: "d", Name: "D"}}}, nil)
	paths := []string{"/", "/p/" + testHandle, "/p/unknown", "/api/v1/patients", "/api/v1/patients/" + testHandle + "/timeline",
		"/api/v1/patients/x/timeline", "/static/overblik.css", "/no/such/page", "/healthz"}
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			rec := env.do(t, http.MethodGet, p, "")
			want := map[string]string{
				"X-Content-Type-Options": "nosniff",
				"Referrer-Policy":        "no-referrer",
			}
			for k, v := range want {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if got := rec.Header().Get("Content-Security-Policy"); !strings.HasPrefix(got, "default-src 'self'; frame-ancestors 'none'") {
				t.Errorf("CSP = %q", got)
			}
			if strings.HasPrefix(p, "/static/") {
				return
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store for personal data", got)
			}
		})
	}
}

func TestNoInlineStyleOrScript(t *testing.T) {
	env := newTestEnv(t, Config{Demo: []DemoPatient{{Handle: "d", Name: "D"}}, NoAccessControl: true}, nil)
	inline := regexp.MustCompile(`(?i)<script|<style|\sstyle=|\son[a-z]+=|javascript:|https?://[^"]*\.(css|js)`)
	for _, p := range []string{"/", "/p/" + testHandle, "/p/unknown"} {
		if m := inline.FindString(env.do(t, http.MethodGet, p, "").Body.String()); m != "" {
			t.Errorf("%s: %q breaks the CSP or loads from outside", p, m)
		}
	}
}

func TestStatic(t *testing.T) {
	env := newTestEnv(t, Config{}, nil)
	page := env.do(t, http.MethodGet, "/", "").Body.String()
	href := between(page, `<link rel="stylesheet" href="`, `"`)
	if !strings.HasPrefix(href, "/static/overblik.css?v=") {
		t.Fatalf("stylesheet href = %q", href)
	}
	rec := env.do(t, http.MethodGet, href, "")
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	if got := rec.Header().Get("Content-Type"); !strings.HasPrefix(got, "text/css") {
		t.Errorf("Content-Type = %q", got)
	}
	if got := rec.Header().Get("Cache-Control"); !strings.Contains(got, "max-age=") {
		t.Errorf("Cache-Control = %q, want a max-age", got)
	}
	etag := rec.Header().Get("ETag")
	if rec := env.do(t, http.MethodGet, href, "", "If-None-Match: "+etag); rec.Code != http.StatusNotModified {
		t.Errorf("conditional GET: status %d, want 304", rec.Code)
	}
	if rec := env.do(t, http.MethodGet, "/static/missing.css", ""); rec.Code != http.StatusNotFound {
		t.Errorf("missing file: status %d, want 404", rec.Code)
	}
}

func TestGenericEntryGetsAGenericTitle(t *testing.T) {
	loc := cph(t)
	tl := &aggregator.Timeline{Entries: []aggregator.Entry{{
		ID: "gp/Appointment/1", Source: "gp", Sector: aggregator.SectorGP, Kind: aggregator.KindAppointment, Status: aggregator.StatusBooked,
		Start: time.Date(2026, 12, 3, 9, 0, 0, 0, loc), End: time.Date(2026, 12, 3, 9, 15, 0, 0, loc), Generic: true,
	}}}
	env := newTestEnv(t, Config{}, fakeTimelines{tl: tl})
	for lang, want := range map[string]string{"da": "Aftale hos egen læge", "en": "Appointment with your GP"} {
		body := env.do(t, http.MethodGet, "/p/"+testHandle+"?lang="+lang, "").Body.String()
		if !strings.Contains(body, want) {
			t.Errorf("%s page lacks the generic title %q", lang, want)
		}
	}
	rec := env.do(t, http.MethodGet, "/api/v1/patients/"+testHandle+"/timeline", "")
	var got struct {
		Entries []struct {
			Title   string `json:"title"`
			Generic bool   `json:"generic"`
		} `json:"entries"`
	}
	decodeJSON(t, rec, &got)
	if len(got.Entries) != 1 || !got.Entries[0].Generic || got.Entries[0].Title != "" {
		t.Errorf("JSON entries = %+v, want one generic entry without a title", got.Entries)
	}
}

// TestJointMeeting: an entry two systems booked shows both organisations,
// and each source whose booking differs ("aflyst hos Aarhus Kommune"), on
// the page and in the JSON.
func TestJointMeeting(t *testing.T) {
	loc := cph(t)
	tl := &aggregator.Timeline{GeneratedAt: testNow(t), Entries: []aggregator.Entry{{
		ID: "auh/Appointment/1", Source: "auh", Sector: aggregator.SectorHospital, Kind: aggregator.KindAppointment,
		Status: aggregator.StatusBooked, Start: time.Date(2026, 12, 1, 14, 0, 0, 0, loc), End: time.Date(2026, 12, 1, 15, 0, 0, 0, loc),
		Title: "Udskrivningssamtale", Organization: "Aarhus Universitetshospital", Medium: aggregator.MediumVideo,
		Parts: []aggregator.Part{
			{Source: "auh", Sector: aggregator.SectorHospital, Organization: "Aarhus Universitetshospital", Status: aggregator.StatusBooked},
			{Source: "aarhus", Sector: aggregator.SectorMunicipality, Organization: "Aarhus Kommune", Status: aggregator.StatusCancelled},
		},
	}}}
	env := newTestEnv(t, Config{}, fakeTimelines{tl: tl})
	for lang, want := range map[string][]string{
		"da": {"aflyst hos Aarhus Kommune", "Aarhus Universitetshospital, Aarhus Kommune"},
		"en": {"cancelled at Aarhus Kommune", "Aarhus Universitetshospital, Aarhus Kommune"},
	} {
		body := env.do(t, http.MethodGet, "/p/"+testHandle+"?lang="+lang, "").Body.String()
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s page lacks %q", lang, w)
			}
		}
		if strings.Contains(body, "<del>Udskrivningssamtale</del>") {
			t.Errorf("%s: the meeting is struck through while the hospital's booking stands", lang)
		}
	}
	var got struct {
		Entries []struct {
			Status string `json:"status"`
			Parts  []struct{ Source, Sector, Organization, Status string }
		} `json:"entries"`
	}
	decodeJSON(t, env.do(t, http.MethodGet, "/api/v1/patients/"+testHandle+"/timeline", ""), &got)
	if len(got.Entries) != 1 || got.Entries[0].Status != "booked" || len(got.Entries[0].Parts) != 2 ||
		got.Entries[0].Parts[1].Organization != "Aarhus Kommune" || got.Entries[0].Parts[1].Status != "cancelled" ||
		got.Entries[0].Parts[1].Sector != "municipality" {
		t.Errorf("JSON entries %+v, want one booked entry with the municipality's part cancelled", got.Entries)
	}
}
