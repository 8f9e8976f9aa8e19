package web

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/access"
)

// "Hvem har set mit overblik" on the real access service and store.

var logRow = regexp.MustCompile(`(?s)<li class="log-row[^"]*">(.*?)</li>`)

// logRows are the rows of a log page, as their text without tags.
func logRows(body string) []string {
	tags := regexp.MustCompile(`<[^>]+>`)
	var out []string
	for _, m := range logRow.FindAllStringSubmatch(body, -1) {
		text := strings.Join(strings.Fields(tags.ReplaceAllString(m[1], " ")), " ")
		out = append(out, strings.ReplaceAll(text, " ,", ","))
	}
	return out
}

func TestLogLeavesOutOwnViewsUnlessAsked(t *testing.T) {
	e := newSecEnv(t)
	for range 3 {
		e.advance(time.Minute)
		if rec := e.do(t, "patientA", http.MethodGet, "/p/"+e.a, ""); rec.Code != 200 {
			t.Fatalf("own view: %d", rec.Code)
		}
	}
	e.advance(time.Minute)
	if rec := e.do(t, "relative", http.MethodGet, "/p/"+e.a, ""); rec.Code != 200 {
		t.Fatalf("relative's view: %d", rec.Code)
	}

	page := e.do(t, "patientA", http.MethodGet, "/account/log", "").Body.String()
	rows := logRows(page)
	// The relative's view and A's own grant to them: A's views are left out.
	if len(rows) != 2 {
		t.Fatalf("%d rows by default, want 2 (the relative's view, A's grant): %q", len(rows), rows)
	}
	for _, r := range rows {
		if strings.Contains(r, "Dig") && strings.Contains(r, "så overblikket") {
			t.Errorf("an own view is shown by default: %s", r)
		}
	}
	if !strings.Contains(rows[1], "Dig") || !strings.Contains(rows[1], "gav Søn adgang") {
		t.Errorf("A's own grant is not shown by default: %s", rows[1])
	}
	if !strings.Contains(page, "Dine egne besøg er ikke med.") || !strings.Contains(page, `<a href="/account/log?own=1">Vis også dine egne besøg</a>`) {
		t.Errorf("the page does not say own visits are left out, with the way to show them")
	}

	own := e.do(t, "patientA", http.MethodGet, "/account/log?own=1", "").Body.String()
	rows = logRows(own)
	if len(rows) != 5 {
		t.Fatalf("%d rows with ?own=1, want 5: %q", len(rows), rows)
	}
	if n := strings.Count(strings.Join(rows, "\n"), "Hvem Dig Hvad så overblikket"); n != 3 {
		t.Errorf("%d own views with ?own=1, want 3: %q", n, rows)
	}
	if !strings.Contains(own, `<a href="/account/log">Skjul dine egne besøg</a>`) {
		t.Errorf("no way back to the log without own visits")
	}

	// Every row has its date and time, the same way whatever the day.
	e.advance(3 * 24 * time.Hour)
	for _, u := range []string{"/account/log", "/account/log?own=1", "/account/log?lang=en"} {
		body := e.do(t, "patientA", http.MethodGet, u, "").Body.String()
		rows := logRow.FindAllStringSubmatch(body, -1)
		if len(rows) == 0 {
			t.Fatalf("%s: no rows", u)
		}
		date := regexp.MustCompile(`<time datetime="2026-12-01T1\d:\d\d:00(\+|&#43;)01:00">(tirsdag 1\. december 2026 kl\. 1\d\.\d\d|Tuesday 1 December 2026 at 1\d:\d\d)</time>`)
		for _, r := range rows {
			if !date.MatchString(r[1]) {
				t.Errorf("%s: a row without its date and time: %s", u, r[1])
			}
		}
	}
}

func TestLogSaysWhoWhatAndWhy(t *testing.T) {
	e := newSecEnv(t)
	nurse := access.Principal{Subject: "sub-n", Roles: []access.Role{access.RoleClinician}, Name: "Klara Kliniker", Organization: "Hjemmeplejen Midtbyen"}
	e.auth.ids["nurse"] = Identity{Principal: nurse, CSRF: testCSRF, Session: true}
	steps := []struct{ user, reason string }{
		{"nurse", "code:discharge"},
		{"nurse", "ringede om medicin"},
		{"clinician-key", "code:bogus"},
	}
	for _, st := range steps {
		e.advance(time.Minute)
		rec := e.do(t, st.user, http.MethodGet, "/api/v1/patients/"+e.a+"/timeline", "", ReasonHeader+": "+st.reason)
		if rec.Code != 200 {
			t.Fatalf("%s: %d", st.user, rec.Code)
		}
	}
	e.advance(time.Minute)
	e.do(t, "relative", http.MethodGet, "/p/"+e.a, "")
	e.advance(time.Minute)
	if rec := postGrant(t, e, "identifier", "310238-0127", "label", "Nabo"); rec.Code != http.StatusSeeOther {
		t.Fatalf("grant: %d", rec.Code)
	}
	var nabo string
	for _, g := range e.grantsOf(t, "patientA") {
		if g.Label == "Nabo" {
			nabo = g.ID
		}
	}
	e.advance(time.Minute)
	e.do(t, "patientA", http.MethodPost, "/account/grants/"+nabo+"/revoke", form("csrf", testCSRF), formCT)

	for _, tc := range []struct {
		lang string
		want []string // newest first
	}{
		{"da", []string{
			"Hvem Dig Hvad tilbagekaldte adgangen for Nabo (CPR 310238-xxxx)",
			"Hvem Dig Hvad gav Nabo (CPR 310238-xxxx) adgang",
			"Hvem Rasmus, pårørende, som du kalder Søn Hvad så overblikket",
			"Hvem apikey:journal, sundhedsperson Hvad så overblikket Begrundelse code:bogus",
			"Hvem Klara Kliniker, sundhedsperson, Hjemmeplejen Midtbyen Hvad så overblikket Begrundelse ringede om medicin",
			"Hvem Klara Kliniker, sundhedsperson, Hjemmeplejen Midtbyen Hvad så overblikket Begrundelse Opfølgning efter udskrivelse",
		}},
		{"en", []string{
			"Who You What revoked access for Nabo (CPR 310238-xxxx)",
			"Who You What gave Nabo (CPR 310238-xxxx) access",
			"Who Rasmus, relative, whom you call Søn What viewed the overview",
			"Who apikey:journal, clinician What viewed the overview Reason code:bogus",
			"Who Klara Kliniker, clinician, Hjemmeplejen Midtbyen What viewed the overview Reason ringede om medicin",
			"Who Klara Kliniker, clinician, Hjemmeplejen Midtbyen What viewed the overview Reason Follow-up after discharge",
		}},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			rows := logRows(e.do(t, "patientA", http.MethodGet, "/account/log?lang="+tc.lang, "").Body.String())
			if len(rows) < len(tc.want) {
				t.Fatalf("%d rows, want at least %d: %q", len(rows), len(tc.want), rows)
			}
			for i, w := range tc.want {
				// Each row starts with its date and time.
				if _, rest, ok := strings.Cut(rows[i], " Hvem "); ok && tc.lang == "da" {
					rows[i] = "Hvem " + rest
				} else if _, rest, ok := strings.Cut(rows[i], " Who "); ok {
					rows[i] = "Who " + rest
				}
				if rows[i] != w {
					t.Errorf("row %d:\n got %s\nwant %s", i, rows[i], w)
				}
			}
		})
	}
}

// TestLogOlderPagesKeepTheChoice: the link to older rows keeps showing (or
// hiding) the patient's own views.
func TestLogOlderPagesKeepTheChoice(t *testing.T) {
	e := newSecEnv(t)
	for range auditPageSize + 1 {
		e.advance(time.Second)
		e.do(t, "patientA", http.MethodGet, "/p/"+e.a, "")
	}
	page := e.do(t, "patientA", http.MethodGet, "/account/log?own=1", "").Body.String()
	next := regexp.MustCompile(`<a href="(/account/log\?[^"]+)">Ældre</a>`).FindStringSubmatch(page)
	if next == nil || !strings.Contains(next[1], "own=1") {
		t.Fatalf("the link to older rows = %v, want one that keeps own=1", next)
	}
	older := e.do(t, "patientA", http.MethodGet, strings.ReplaceAll(next[1], "&amp;", "&"), "").Body.String()
	// 51 own views and the grant: 2 left for the second page.
	if rows := logRows(older); len(rows) != 2 {
		t.Errorf("the second page has %d rows, want 2", len(rows))
	}
	if rows := logRows(e.do(t, "patientA", http.MethodGet, "/account/log", "").Body.String()); len(rows) != 1 {
		t.Errorf("without own views: %d rows, want only the grant", len(rows))
	}
}
