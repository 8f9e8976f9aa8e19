package web

import (
	"context"
	"html"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/aggregator"
)

// The head of a timeline page says whose it is: a relative reads the
// patient's name in the title and the heading, and how many entries she is
// not shown (a count, nothing else of them); the patient sees which of her
// entries her relatives cannot see; a printout names her and the day.

// page gets path as user and fails on anything but 200; the body is
// unescaped, so a test reads it as a person would.
func (e *realEnv) page(t *testing.T, user, path string) string {
	t.Helper()
	rec := e.do(t, user, http.MethodGet, path, "")
	if rec.Code != http.StatusOK {
		t.Fatalf("%s as %s: status %d", path, user, rec.Code)
	}
	return html.UnescapeString(rec.Body.String())
}

// shareRestricted replaces patient A's grant to the relative with one that
// includes her confidential entries: a person has one current grant.
func (e *realEnv) shareRestricted(t *testing.T) access.Delegation {
	t.Helper()
	ctx, a := context.Background(), e.principals["patientA"]
	given, err := e.secEnv.svc.Grants(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range given {
		if g.Grantee == e.r {
			if err := e.secEnv.svc.Revoke(ctx, a, g.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	d, err := e.secEnv.svc.Grant(ctx, a, access.GrantRequest{Grantee: e.r, IncludeRestricted: true})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// restrictTwo gives patient A two restricted entries (the psychiatric
// appointment and a follow-up) beside her visible ones.
func (e *realEnv) restrictTwo(t *testing.T) {
	t.Helper()
	loc := cph(t)
	psych := aggregator.Entry{ID: hiddenID, Kind: aggregator.KindAppointment, Status: aggregator.StatusBooked,
		Start: time.Date(2026, 12, 3, 13, 0, 0, 0, loc), End: time.Date(2026, 12, 3, 14, 0, 0, 0, loc),
		Title: hiddenTitle, Place: aggregator.Place{Name: hiddenPlace}, Organization: "Aarhus Universitetshospital",
		Sensitivity: aggregator.SensitivityRestricted}
	again := psych
	again.ID, again.Title = goneID, goneTitle
	again.Start, again.End = time.Date(2026, 12, 10, 10, 0, 0, 0, loc), time.Date(2026, 12, 10, 10, 30, 0, 0, loc)
	xray := aggregator.Entry{ID: "hosp/Appointment/xray", Kind: aggregator.KindAppointment, Status: aggregator.StatusBooked,
		Start: time.Date(2026, 12, 7, 9, 0, 0, 0, loc), End: time.Date(2026, 12, 7, 9, 30, 0, 0, loc),
		Title: "Røntgen af knæ", Sensitivity: aggregator.SensitivityNormal}
	e.hosp.set(psych, again, xray)
	e.advance(time.Minute)
	if _, err := e.svc.Refresh(context.Background(), e.ref); err != nil {
		t.Fatal(err)
	}
}

// card is the entry titled title, up to the next entry: notes inside a
// card name other entries, so the title is matched as its heading.
func card(t *testing.T, body, title string) string {
	t.Helper()
	for _, li := range strings.Split(body, `<li class="entry `)[1:] {
		if strings.Contains(li, `">`+title+`</h4>`) {
			return li
		}
	}
	t.Fatalf("no entry titled %q in the page", title)
	return ""
}

func TestRelativePageSaysWhoseAndHowManyAreHidden(t *testing.T) {
	e := newRealEnv(t)
	path := "/p/" + e.ref.Handle
	// The environment's build has one restricted entry.
	one := e.page(t, "relative", path)
	if want := "1 fortrolig aftale vises ikke, fordi Anna ikke har delt den med dig."; !strings.Contains(one, want) {
		t.Errorf("the relative's page does not say %q:\n%s", want, between(one, "<main", "</h1>"))
	}

	e.restrictTwo(t)
	for _, tc := range []struct{ lang, title, h1, note string }{
		{"da", "Aftaler for Anna – Overblik", "Aftaler for Anna",
			"2 fortrolige aftaler vises ikke, fordi Anna ikke har delt dem med dig."},
		{"en", "Appointments of Anna – Overblik", "Appointments of Anna",
			"2 confidential appointments are not shown, because Anna has not shared them with you."},
	} {
		body := e.page(t, "relative", path+"?lang="+tc.lang)
		if got := between(body, "<title>", "</title>"); got != tc.title {
			t.Errorf("%s: title %q, want %q", tc.lang, got, tc.title)
		}
		if got := between(body, "<h1>", "</h1>"); got != tc.h1 {
			t.Errorf("%s: heading %q, want %q", tc.lang, got, tc.h1)
		}
		if got := between(body, `<p class="hidden-note">`, "</p>"); got != tc.note {
			t.Errorf("%s: the note on hidden entries is %q, want %q", tc.lang, got, tc.note)
		}
		// Nothing of the hidden entries but their number: not in the
		// title, the note, the cards or anywhere else.
		if w := hidden(body); len(w) > 0 {
			t.Errorf("%s: the page tells the relative %v of the hidden entries", tc.lang, w)
		}
		if strings.Contains(body, "13.00") || strings.Contains(body, "10.00–10.30") {
			t.Errorf("%s: the page shows the time of a hidden entry", tc.lang)
		}
		if strings.Contains(body, `class="tag only-you"`) {
			t.Errorf("%s: the relative's page carries the patient's own label", tc.lang)
		}
	}

	// The patient herself is told of nothing hidden, and her title is her own.
	own := e.page(t, "patientA", path)
	if strings.Contains(own, "hidden-note") || between(own, "<title>", "</title>") != "Dine aftaler – Overblik" {
		t.Errorf("the patient's own page: title %q, note %q", between(own, "<title>", "</title>"), between(own, `<p class="hidden-note">`, "</p>"))
	}

	// Once she shares her confidential entries with him, he sees them and
	// no note.
	e.shareRestricted(t)
	all := e.page(t, "relative", path)
	if strings.Contains(all, "hidden-note") || !strings.Contains(all, hiddenTitle) {
		t.Errorf("with confidential entries shared: note %q, hidden entry shown %v",
			between(all, `<p class="hidden-note">`, "</p>"), strings.Contains(all, hiddenTitle))
	}
}

func TestOwnPageMarksWhatRelativesCannotSee(t *testing.T) {
	e := newRealEnv(t)
	e.restrictTwo(t)
	path := "/p/" + e.ref.Handle
	const only = "Kun for dig – dine pårørende kan ikke se den"
	const shared = "Fortrolig – kun pårørende, du har givet adgang til fortrolige aftaler, kan se den"
	check := func(label string) {
		t.Helper()
		// Twice: the second page's days come from the render cache.
		for range 2 {
			body := e.page(t, "patientA", path)
			for _, title := range []string{hiddenTitle, goneTitle} {
				if li := card(t, body, title); !strings.Contains(li, `<span class="tag only-you">`+label+`</span>`) {
					t.Errorf("the restricted entry %q is not marked %q:\n%s", title, label, li)
				}
			}
			for _, title := range []string{"Røntgen af knæ", "Hjemmepleje"} {
				if li := card(t, body, title); strings.Contains(li, "only-you") {
					t.Errorf("the visible entry %q is marked as hidden from relatives:\n%s", title, li)
				}
			}
		}
	}
	check(only)
	if body := e.page(t, "patientA", path+"?lang=en"); strings.Count(body, "Only for you – your relatives cannot see this") != 2 {
		t.Errorf("the English page does not mark both restricted entries:\n%s", body)
	}

	// A relative who may see confidential entries makes "only for you" untrue.
	d := e.shareRestricted(t)
	check(shared)
	if body := e.page(t, "relative", path); strings.Contains(body, "only-you") {
		t.Error("the relative's page carries the patient's own labels")
	}
	if err := e.secEnv.svc.Revoke(context.Background(), e.principals["patientA"], d.ID); err != nil {
		t.Fatal(err)
	}
	check(only)
}

func TestPrintedLineNamesThePatientAndTheDay(t *testing.T) {
	e := newRealEnv(t)
	path := "/p/" + e.ref.Handle
	for _, tc := range []struct{ user, query, want string }{
		{"patientA", "", "Udskrift for Anna, tirsdag 1. december 2026"},
		{"patientA", "?lang=en", "Printout for Anna, Tuesday 1 December 2026"},
		{"relative", "", "Udskrift for Anna, tirsdag 1. december 2026"},
	} {
		body := e.page(t, tc.user, path+tc.query)
		if got := between(body, `<p class="printed">`, "</p>"); got != tc.want {
			t.Errorf("%s%s: the printed line is %q, want %q", tc.user, tc.query, got, tc.want)
		}
	}
}
