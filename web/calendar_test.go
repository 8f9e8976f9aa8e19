package web

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
	"github.com/overblik/overblik/internal/icaljs"
	"github.com/overblik/overblik/view"
)

// Calendar feeds on the real parts: the aggregator service (memory cache),
// the access service on SQLite and PostgreSQL, the view, and the feeds read
// by Mozilla's ical.js. Patient A's timeline crosses the change to summer
// time (Sunday 28 March 2027, 02:00 becomes 03:00) and holds a cancelled
// entry recent and one long ago, an all-day entry across the change, a
// video call, a generic GP appointment and a restricted entry, which the
// relative's delegation does not include.

const publicURL = "https://overblik.example.test"

type calEnv struct {
	*secEnv
	srv            *Server
	svc            *aggregator.Service
	hosp, kom, gp  *stubSource
	ref            aggregator.PatientRef
	entries        map[string]aggregator.Entry // as the sources have them, by ID
	moved          aggregator.Entry
	restrictedID   string
	longCancelledD string
}

func newCalEnv(t *testing.T, backend string) *calEnv {
	t.Helper()
	ctx := context.Background()
	base := newSecEnv(t, backend)
	loc := cph(t)
	e := &calEnv{secEnv: base,
		hosp: &stubSource{name: "hosp", sector: aggregator.SectorHospital},
		kom:  &stubSource{name: "kom", sector: aggregator.SectorMunicipality},
		gp:   &stubSource{name: "gp", sector: aggregator.SectorGP},
	}
	clock := func() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return *e.now }
	var err error
	e.svc, err = aggregator.New([]aggregator.Registration{
		{Source: e.hosp, Display: "Aarhus Universitetshospital"}, {Source: e.kom, Display: "Aarhus Kommune"},
		{Source: e.gp, Display: "Lægehuset Trøjborg"},
	}, memcache.NewBackend(0), aggregator.Options{Now: clock, Location: loc, FreshFor: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.svc.Close)

	now := clock() // 1 December 2026, 12:00
	upd := now.Add(-20 * 24 * time.Hour).UTC()
	mk := func(id string, start, end time.Time, title string) aggregator.Entry {
		return aggregator.Entry{ID: id, Kind: aggregator.KindAppointment, Status: aggregator.StatusBooked, Start: start, End: end,
			Title: title, Medium: aggregator.MediumInPerson, Sensitivity: aggregator.SensitivityNormal, Updated: upd,
			Contact: "0000 1000"}
	}
	at := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, loc) }
	before := mk("hosp/Appointment/before", at(2027, 3, 27, 10, 0), at(2027, 3, 27, 10, 30), "Kontrol før sommertid")
	before.Place = aggregator.Place{Name: "Øjenafdelingen", Address: "Palle Juul-Jensens Boulevard 99, 8200 Aarhus N", Lat: ptr(56.191), Lon: ptr(10.1707)}
	before.Organization = "Aarhus Universitetshospital"
	after := mk("hosp/Appointment/after", at(2027, 3, 29, 10, 0), at(2027, 3, 29, 11, 0), "Kontrol efter sommertid")
	video := mk("hosp/Appointment/video", at(2026, 12, 15, 14, 0), at(2026, 12, 15, 14, 20), "Videokonsultation")
	video.Medium, video.VideoURL = aggregator.MediumVideo, videoURL
	psych := mk("hosp/Appointment/psyk", at(2026, 12, 3, 13, 0), at(2026, 12, 3, 14, 0), hiddenTitle)
	psych.Sensitivity, psych.Place = aggregator.SensitivityRestricted, aggregator.Place{Name: hiddenPlace}
	cancelled := mk("kom/Appointment/cancelled", at(2026, 12, 10, 9, 0), at(2026, 12, 10, 9, 30), "Hjemmepleje")
	cancelled.Status, cancelled.Updated = aggregator.StatusCancelled, now.Add(-2*24*time.Hour).UTC()
	old := mk("kom/Appointment/cancelled-long-ago", at(2026, 12, 11, 9, 0), at(2026, 12, 11, 9, 30), "Genoptræning")
	old.Status, old.Updated = aggregator.StatusCancelled, now.Add(-61*24*time.Hour).UTC()
	allDay := mk("kom/Appointment/allday", at(2027, 3, 27, 0, 0), at(2027, 3, 29, 0, 0), "Hjælpemiddel leveres")
	allDay.AllDay = true
	generic := mk("gp/Appointment/generic", at(2026, 12, 4, 9, 0), at(2026, 12, 4, 9, 15), "")
	generic.Generic, generic.Place = true, aggregator.Place{Name: "Lægehuset Trøjborg"}
	e.hosp.set(before, after, video, psych)
	e.kom.set(cancelled, old, allDay)
	e.gp.set(generic)
	e.entries = map[string]aggregator.Entry{}
	for _, en := range []aggregator.Entry{before, after, video, psych, cancelled, old, allDay, generic} {
		e.entries[en.ID] = en
	}
	e.restrictedID, e.longCancelledD = psych.ID, old.ID
	e.moved = after
	e.moved.Start, e.moved.End, e.moved.Updated = at(2027, 3, 29, 13, 0), at(2027, 3, 29, 14, 0), upd.Add(time.Hour)

	e.ref, err = e.pats.Register(ctx, aggregator.Identifier{System: testSystem, Value: cprA})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Refresh(ctx, e.ref); err != nil {
		t.Fatal(err)
	}
	e.logs = &bytes.Buffer{}
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: e.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := New(Config{Location: loc, DefaultIdentifierSystem: testSystem, LoginPath: "/auth/login", PublicURL: publicURL,
		RateLimits: RateLimits{Login: 1000, Lookup: 1000}},
		Deps{Views: view.New(e.svc, e.pats, view.Options{Access: e.secEnv.svc, Conflicted: e.svc, ByOrganization: true, Now: clock}), Patients: e.pats,
			Auth: e.auth, Access: e.secEnv.svc, Logger: log})
	s.now = clock
	e.h, e.srv = s.Handler(), s
	return e
}

const jsonCT = "Content-Type: application/json"

// createFeed makes user's feed of patient A through the API and returns
// its path on the server.
func (e *calEnv) createFeed(t *testing.T, user string) (path, url string) {
	t.Helper()
	rec := e.do(t, user, http.MethodPost, "/api/v1/patients/"+e.ref.Handle+"/calendar", "{}", jsonCT)
	if rec.Code != http.StatusOK {
		t.Fatalf("POST calendar as %s: %d %s", user, rec.Code, rec.Body)
	}
	var out struct{ URL, Webcal string }
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	path, ok := strings.CutPrefix(out.URL, publicURL)
	if !ok || !strings.HasPrefix(path, "/calendar/") || !strings.HasSuffix(path, ".ics") {
		t.Fatalf("feed URL %q is not under %s/calendar/", out.URL, publicURL)
	}
	if out.Webcal != "webcal://"+strings.TrimPrefix(out.URL, "https://") {
		t.Errorf("webcal address %q for %q", out.Webcal, out.URL)
	}
	return path, out.URL
}

// fetch gets a feed as a calendar app does: no cookie, no credentials.
func (e *calEnv) fetch(t *testing.T, path string, headers ...string) (int, http.Header, []byte) {
	t.Helper()
	rec := e.do(t, "", http.MethodGet, path, "", headers...)
	return rec.Code, rec.Header(), rec.Body.Bytes()
}

func (e *calEnv) refresh(t *testing.T) {
	t.Helper()
	if _, err := e.svc.Refresh(context.Background(), e.ref); err != nil {
		t.Fatal(err)
	}
}

func TestCalendarFeedReadByICalJS(t *testing.T) {
	for _, b := range []string{"sqlite", "postgres"} {
		t.Run(b, func(t *testing.T) {
			e := newCalEnv(t, b)
			for _, user := range []string{"patientA", "relative"} {
				t.Run(user, func(t *testing.T) {
					path, _ := e.createFeed(t, user)
					code, h, body := e.fetch(t, path)
					if code != http.StatusOK {
						t.Fatalf("GET feed: %d %s", code, body)
					}
					if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/calendar") {
						t.Errorf("Content-Type %q", ct)
					}
					if cc := h.Get("Cache-Control"); !strings.Contains(cc, "private") || strings.Contains(cc, "public") {
						t.Errorf("Cache-Control %q, want private", cc)
					}
					e.checkFeed(t, user, icaljs.Parse(t, body), body)
				})
			}
		})
	}
}

// checkFeed: every entry the user may see, and nothing else, with the
// right instants and local times.
func (e *calEnv) checkFeed(t *testing.T, user string, cal *icaljs.Calendar, body []byte) {
	t.Helper()
	loc := cph(t)
	wantName := "Aftaler for Anna (Overblik)" // the patient's own name, and the name on the relative's delegation
	if cal.Name != wantName || cal.CalName != wantName {
		t.Errorf("calendar name %q / %q, want %q", cal.Name, cal.CalName, wantName)
	}
	if len(cal.Timezones) != 1 || cal.Timezones[0] != "Europe/Copenhagen" {
		t.Errorf("VTIMEZONEs %v", cal.Timezones)
	}
	// The feed's UIDs are its own: find each entry by its times and title.
	byStart := map[string]*icaljs.Event{}
	for i := range cal.Events {
		ev := &cal.Events[i]
		if ev.Start.Date { // a date is no instant: found by the day
			byStart[ev.Start.Local] = ev
		} else {
			byStart[ev.Start.Instant().Format(time.RFC3339)] = ev
		}
	}
	want := 0
	for id, en := range e.entries {
		ev := byStart[en.Start.UTC().Format(time.RFC3339)]
		if en.AllDay {
			ev = byStart[en.Start.In(loc).Format(time.DateOnly)]
		}
		switch {
		case id == e.longCancelledD:
			if ev != nil {
				t.Errorf("%s: an entry cancelled 61 days ago is in the feed", id)
			}
			continue
		case id == e.restrictedID && user == "relative":
			if ev != nil {
				t.Errorf("the relative's feed holds the restricted entry: %+v", ev)
			}
			continue
		}
		want++
		if ev == nil {
			t.Errorf("%s: not in %s's feed", id, user)
			continue
		}
		if en.AllDay {
			if !ev.Start.Date || ev.Start.Local != "2027-03-27" || ev.End == nil || ev.End.Local != "2027-03-29" {
				t.Errorf("%s: all day %+v to %+v, want 2027-03-27 to 2027-03-29 (exclusive)", id, ev.Start, ev.End)
			}
		} else {
			wantLocal := en.Start.In(loc).Format("2006-01-02T15:04:05")
			if ev.Start.Zone != "Europe/Copenhagen" || ev.Start.Local != wantLocal || ev.End == nil || !ev.End.Instant().Equal(en.End) {
				t.Errorf("%s: %+v to %+v, want %s in Europe/Copenhagen to %v", id, ev.Start, ev.End, wantLocal, en.End)
			}
		}
		status := "CONFIRMED"
		if en.Status == aggregator.StatusCancelled {
			status = "CANCELLED"
		}
		if ev.Status != status {
			t.Errorf("%s: STATUS %q, want %s", id, ev.Status, status)
		}
		switch id {
		case "hosp/Appointment/before":
			// 10:00 in standard time is 09:00 UTC, 10:00 in summer time 08:00.
			if got := ev.Start.Instant(); got != time.Date(2027, 3, 27, 9, 0, 0, 0, time.UTC) {
				t.Errorf("before the change: starts %v", got)
			}
			if len(ev.Geo) != 2 || ev.Location != "Øjenafdelingen, Palle Juul-Jensens Boulevard 99, 8200 Aarhus N" ||
				!strings.Contains(ev.Description, "Kontakt: 0000 1000") || !strings.Contains(ev.Description, "Fra: Aarhus Universitetshospital") {
				t.Errorf("before: location %q geo %v description %q", ev.Location, ev.Geo, ev.Description)
			}
		case "hosp/Appointment/after":
			if got := ev.Start.Instant(); got != time.Date(2027, 3, 29, 8, 0, 0, 0, time.UTC) {
				t.Errorf("after the change: starts %v", got)
			}
		case "hosp/Appointment/video":
			if ev.URL != videoURL {
				t.Errorf("video: URL %q, want %s", ev.URL, videoURL)
			}
		case "gp/Appointment/generic":
			if ev.Summary != "Aftale hos egen læge" {
				t.Errorf("generic: SUMMARY %q", ev.Summary)
			}
		case "kom/Appointment/cancelled":
			if ev.Summary != "Aflyst: Hjemmepleje" {
				t.Errorf("cancelled: SUMMARY %q", ev.Summary)
			}
		case e.restrictedID:
			if ev.Class != "CONFIDENTIAL" || ev.Summary != hiddenTitle {
				t.Errorf("restricted, for the patient: CLASS %q SUMMARY %q", ev.Class, ev.Summary)
			}
		}
	}
	if len(cal.Events) != want {
		t.Errorf("%s's feed has %d events, want %d", user, len(cal.Events), want)
	}
	if user == "relative" {
		if w := hidden(string(body)); len(w) > 0 {
			t.Errorf("the relative's feed names the restricted entry: %v", w)
		}
	}
	for _, bad := range []string{cprA, e.ref.Handle, "hosp/Appointment"} {
		if bytes.Contains(body, []byte(bad)) {
			t.Errorf("the feed holds %q", bad)
		}
	}
}

func TestCalendarFeedAnswers304UntilSomethingChanges(t *testing.T) {
	e := newCalEnv(t, "sqlite")
	path, _ := e.createFeed(t, "patientA")
	code, h, first := e.fetch(t, path)
	etag, lastMod := h.Get("ETag"), h.Get("Last-Modified")
	if code != http.StatusOK || etag == "" || lastMod == "" {
		t.Fatalf("first fetch: %d, ETag %q, Last-Modified %q", code, etag, lastMod)
	}
	// The same build, and a rebuild in which nothing changed: 304 to both
	// kinds of conditional request, with the validators again.
	for _, step := range []string{"same build", "rebuilt"} {
		if step == "rebuilt" {
			e.advance(10 * time.Minute)
			e.refresh(t)
		}
		for _, hdr := range []string{"If-None-Match: " + etag, "If-Modified-Since: " + lastMod, "If-None-Match: \"other\", W/" + etag} {
			code, h, body := e.fetch(t, path, hdr)
			if code != http.StatusNotModified || len(body) != 0 || h.Get("ETag") != etag {
				t.Errorf("%s, %s: %d (ETag %q, %d bytes), want 304", step, hdr, code, h.Get("ETag"), len(body))
			}
		}
	}
	if code, _, _ := e.fetch(t, path, `If-None-Match: "stale"`); code != http.StatusOK {
		t.Errorf("another ETag: %d, want 200", code)
	}

	// An appointment moves at the source: 200, with new validators and
	// the new time.
	e.advance(10 * time.Minute)
	e.hosp.set(e.entries["hosp/Appointment/before"], e.moved, e.entries["hosp/Appointment/video"], e.entries[e.restrictedID])
	e.refresh(t)
	for _, hdr := range []string{"If-None-Match: " + etag, "If-Modified-Since: " + lastMod} {
		code, h, body := e.fetch(t, path, hdr)
		if code != http.StatusOK || h.Get("ETag") == etag || h.Get("Last-Modified") == lastMod {
			t.Fatalf("after a move, %s: %d, ETag %q, Last-Modified %q; want 200 with new ones", hdr, code, h.Get("ETag"), h.Get("Last-Modified"))
		}
		cal := icaljs.Parse(t, body)
		found := false
		for _, ev := range cal.Events {
			found = found || ev.Start.Instant().Equal(e.moved.Start)
		}
		if !found || bytes.Equal(body, first) {
			t.Errorf("after a move the feed lacks the new time %v", e.moved.Start)
		}
	}
}

func TestCalendarFetchesAuditedOncePerHour(t *testing.T) {
	for _, b := range []string{"sqlite", "postgres"} {
		t.Run(b, func(t *testing.T) {
			e := newCalEnv(t, b)
			own, _ := e.createFeed(t, "patientA")
			rel, _ := e.createFeed(t, "relative")
			fetches := func(n int) {
				for range n {
					for _, p := range []string{own, rel} {
						if code, _, _ := e.fetch(t, p); code != http.StatusOK {
							t.Fatalf("fetch: %d", code)
						}
					}
					e.advance(5 * time.Minute)
				}
			}
			count := func() map[access.Role]int {
				out := map[access.Role]int{}
				for _, ev := range e.auditRows(t, "patientA") {
					if ev.Action == access.ActionCalendar {
						out[ev.ActorRole]++
						if ev.ActorRole == access.RoleRelative && ev.ActorName != "Rasmus" {
							t.Errorf("the relative's fetch is in the log as %q", ev.ActorName)
						}
					}
				}
				return out
			}
			fetches(6) // half an hour of polling every five minutes
			if got := count(); got[access.RolePatient] != 1 || got[access.RoleRelative] != 1 {
				t.Errorf("after 30 minutes the log holds %v calendar fetches, want one per feed", got)
			}
			e.advance(35 * time.Minute)
			fetches(1)
			if got := count(); got[access.RolePatient] != 2 || got[access.RoleRelative] != 2 {
				t.Errorf("after an hour and more the log holds %v calendar fetches, want two per feed", got)
			}
			// The patient reads them, and who made the feeds, on her log page.
			page := html.UnescapeString(e.do(t, "patientA", http.MethodGet, "/account/log", "").Body.String())
			for _, w := range []string{"kalenderabonnement", "oprettede et kalenderabonnement på dine aftaler", "Rasmus"} {
				if !strings.Contains(page, w) {
					t.Errorf("the log page lacks %q", w)
				}
			}
		})
	}
}

func TestCalendarFeedRevokedIs404(t *testing.T) {
	e := newCalEnv(t, "postgres")
	path, _ := e.createFeed(t, "patientA")
	if code, _, _ := e.fetch(t, path); code != http.StatusOK {
		t.Fatalf("fetch: %d", code)
	}
	// A new address replaces the old.
	newPath, _ := e.createFeed(t, "patientA")
	if newPath == path {
		t.Fatal("the new address is the old one")
	}
	if code, _, _ := e.fetch(t, path); code != http.StatusNotFound {
		t.Errorf("the replaced address: %d, want 404", code)
	}
	if code, _, _ := e.fetch(t, newPath); code != http.StatusOK {
		t.Errorf("the new address: %d, want 200", code)
	}
	// Revoked through the API: 404, and revoking again is 404 too.
	if rec := e.do(t, "patientA", http.MethodDelete, "/api/v1/patients/"+e.ref.Handle+"/calendar", "", jsonCT); rec.Code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", rec.Code, rec.Body)
	}
	if code, _, _ := e.fetch(t, newPath); code != http.StatusNotFound {
		t.Errorf("the revoked address: %d, want 404", code)
	}
	if rec := e.do(t, "patientA", http.MethodDelete, "/api/v1/patients/"+e.ref.Handle+"/calendar", "", jsonCT); rec.Code != http.StatusNotFound {
		t.Errorf("DELETE again: %d, want 404", rec.Code)
	}

	// The relative's feed ends with the delegation.
	relPath, _ := e.createFeed(t, "relative")
	if code, _, _ := e.fetch(t, relPath); code != http.StatusOK {
		t.Fatalf("the relative's feed: %d", code)
	}
	if err := e.secEnv.svc.Revoke(context.Background(), e.principals["patientA"], e.delegationFromA.ID); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := e.fetch(t, relPath); code != http.StatusNotFound {
		t.Errorf("the relative's feed after the delegation ended: %d, want 404", code)
	}
	// Addresses that were never made, or are malformed, are 404 as well.
	for _, p := range []string{"/calendar/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.ics", "/calendar/x.ics", "/calendar/" + strings.TrimSuffix(strings.TrimPrefix(newPath, "/calendar/"), ".ics")} {
		if code, _, _ := e.fetch(t, p); code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}
	// No secret reached the log, though every failure was logged.
	logs := e.logs.String()
	for _, p := range []string{path, newPath, relPath} {
		secret := strings.TrimSuffix(strings.TrimPrefix(p, "/calendar/"), ".ics")
		if strings.Contains(logs, secret) {
			t.Errorf("a feed's secret is in the log:\n%s", logs)
		}
	}
	if !strings.Contains(logs, "route=/calendar/:file") {
		t.Errorf("the failed fetches were not logged by route: %s", logs)
	}
}

func TestCalendarAPI(t *testing.T) {
	e := newCalEnv(t, "sqlite")
	feed := "/api/v1/patients/" + e.ref.Handle + "/calendar"
	other := "/api/v1/patients/" + e.b + "/calendar"
	tests := []struct {
		name, user, method, path, ct string
		want                         int
	}{
		{"patient, own", "patientA", http.MethodPost, feed, jsonCT, 200},
		{"relative, delegated", "relative", http.MethodPost, feed, jsonCT, 200},
		{"relative, own", "relative", http.MethodPost, "/api/v1/patients/" + e.r + "/calendar", jsonCT, 200},
		{"patient, someone else's", "patientA", http.MethodPost, other, jsonCT, 404},
		{"relative, not delegated", "relative", http.MethodPost, other, jsonCT, 404},
		{"clinician", "clinician", http.MethodPost, feed, jsonCT, 404},
		{"clinician's key", "clinician-key", http.MethodPost, feed, jsonCT, 404},
		{"admin", "admin", http.MethodPost, feed, jsonCT, 404},
		{"nobody", "", http.MethodPost, feed, jsonCT, 401},
		{"session without JSON", "patientA", http.MethodPost, feed, formCT, 403},
		{"revoke someone else's", "patientA", http.MethodDelete, other, jsonCT, 404},
		{"revoke, nobody", "", http.MethodDelete, feed, jsonCT, 401},
		{"revoke own", "patientA", http.MethodDelete, feed, jsonCT, 204},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.do(t, tt.user, tt.method, tt.path, "{}", tt.ct)
			if rec.Code != tt.want {
				t.Fatalf("%s %s as %q: %d, want %d: %s", tt.method, tt.path, tt.user, rec.Code, tt.want, rec.Body)
			}
			if rec.Code != http.StatusOK {
				return
			}
			var out struct{ URL string }
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
				t.Fatal(err)
			}
			secret := regexp.MustCompile(`^https://overblik\.example\.test/calendar/([A-Za-z0-9_-]{43})\.ics$`).FindStringSubmatch(out.URL)
			if secret == nil {
				t.Fatalf("url %q: want https, the public URL and 32 random bytes", out.URL)
			}
			for _, bad := range []string{cprA, cprR, e.a, e.r} {
				if strings.Contains(out.URL, bad) {
					t.Errorf("the address %q holds %q", out.URL, bad)
				}
			}
		})
	}
	// Without a public URL there are no feeds to make.
	s := New(Config{Location: cph(t)}, Deps{Views: view.New(e.svc, e.pats, view.Options{Access: e.secEnv.svc}), Patients: e.pats,
		Auth: e.auth, Access: e.secEnv.svc})
	e.h = s.Handler()
	if rec := e.do(t, "patientA", http.MethodPost, feed, "{}", jsonCT); rec.Code == http.StatusOK {
		t.Errorf("a feed made without a public URL: %s", rec.Body)
	}
}

func TestAccountPageMakesShowsAndStopsFeeds(t *testing.T) {
	e := newCalEnv(t, "sqlite")
	page := func(user string) string {
		t.Helper()
		rec := e.do(t, user, http.MethodGet, "/account", "")
		if rec.Code != http.StatusOK {
			t.Fatalf("account: %d", rec.Code)
		}
		return html.UnescapeString(rec.Body.String())
	}
	// The relative (a patient too) may make one of her own timeline and
	// one of Anna's.
	p := page("relative")
	if !strings.Contains(p, "Aftalerne i din egen kalender") || !strings.Contains(p, "Dine egne aftaler") || !strings.Contains(p, "Anna") ||
		strings.Count(p, "intet abonnement") != 2 {
		t.Fatalf("the relative's account page does not offer her two feeds:\n%s", p)
	}
	rec := e.do(t, "relative", http.MethodPost, "/account/calendar", form("handle", e.a, "csrf", testCSRF), formCT)
	if rec.Code != http.StatusOK {
		t.Fatalf("POST /account/calendar: %d %s", rec.Code, rec.Body)
	}
	made := html.UnescapeString(rec.Body.String())
	m := regexp.MustCompile(`value="(https://overblik\.example\.test(/calendar/[A-Za-z0-9_-]{43}\.ics))"`).FindStringSubmatch(made)
	if m == nil || !strings.Contains(made, `href="webcal://overblik.example.test/calendar/`) {
		t.Fatalf("the page after making a feed shows no address:\n%s", made)
	}
	cal := icaljs.Parse(t, e.mustFetch(t, m[2]))
	if cal.Name != "Aftaler for Anna (Overblik)" {
		t.Errorf("the feed made on the page is named %q", cal.Name)
	}
	p = page("relative")
	if strings.Count(p, "intet abonnement") != 1 || !strings.Contains(p, "abonnement oprettet") || strings.Contains(p, m[2]) {
		t.Errorf("after making one the page shows %d without a subscription, or shows the address again", strings.Count(p, "intet abonnement"))
	}
	// A form for a timeline that is not hers is refused.
	if rec := e.do(t, "relative", http.MethodPost, "/account/calendar", form("handle", e.b, "csrf", testCSRF), formCT); rec.Code != http.StatusNotFound {
		t.Errorf("a feed of someone else's timeline: %d, want 404", rec.Code)
	}
	if rec := e.do(t, "relative", http.MethodPost, "/account/calendar", form("handle", e.a), formCT); rec.Code != http.StatusForbidden {
		t.Errorf("a form without the CSRF token: %d, want 403", rec.Code)
	}
	rec = e.do(t, "relative", http.MethodPost, "/account/calendar/revoke", form("handle", e.a, "csrf", testCSRF), formCT)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("revoke form: %d", rec.Code)
	}
	if code, _, _ := e.fetch(t, m[2]); code != http.StatusNotFound {
		t.Errorf("the feed stopped on the page: %d, want 404", code)
	}
	if p := page("relative"); strings.Count(p, "intet abonnement") != 2 {
		t.Error("after stopping it the page still shows the feed")
	}
}

func (e *calEnv) mustFetch(t *testing.T, path string) []byte {
	t.Helper()
	code, _, body := e.fetch(t, path)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d", path, code)
	}
	return body
}

func TestAddToCalendarDownloadsOneEvent(t *testing.T) {
	e := newCalEnv(t, "sqlite")
	links := regexp.MustCompile(`href="(/p/[^"]+/entries/[0-9a-f]{16}\.ics)"`)
	for _, user := range []string{"patientA", "relative"} {
		t.Run(user, func(t *testing.T) {
			page := e.do(t, user, http.MethodGet, "/p/"+e.ref.Handle, "").Body.String()
			hrefs := links.FindAllStringSubmatch(page, -1)
			want := len(e.entries)
			if user == "relative" {
				want-- // not the restricted entry
			}
			if len(hrefs) != want || !strings.Contains(page, "Tilføj til kalender") {
				t.Fatalf("%d links to add an entry to a calendar, want one per entry (%d)", len(hrefs), want)
			}
			for _, h := range hrefs {
				rec := e.do(t, user, http.MethodGet, h[1], "")
				if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/calendar") ||
					!strings.HasPrefix(rec.Header().Get("Content-Disposition"), "attachment;") {
					t.Fatalf("%s: %d %q %q", h[1], rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Content-Disposition"))
				}
				cal := icaljs.Parse(t, rec.Body.Bytes())
				if len(cal.Events) != 1 {
					t.Fatalf("%s: %d events", h[1], len(cal.Events))
				}
				found := false
				for id, en := range e.entries {
					if entryKey(id) == strings.TrimSuffix(h[1][strings.LastIndex(h[1], "/")+1:], ".ics") {
						found = true
						if !en.AllDay && !cal.Events[0].Start.Instant().Equal(en.Start) {
							t.Errorf("%s: starts %v, want %v", id, cal.Events[0].Start.Instant(), en.Start)
						}
					}
				}
				if !found {
					t.Errorf("%s names no entry", h[1])
				}
			}
		})
	}
	restricted := entryCalendarPath(e.ref.Handle, e.restrictedID)
	tests := []struct {
		user, path string
		want       int
	}{
		{"patientA", restricted, 200},
		{"relative", restricted, 404}, // the view does not give her the entry
		{"patientA", entryCalendarPath(e.b, e.restrictedID), 404},
		{"clinician", restricted, 404},
		{"patientA", "/p/" + e.ref.Handle + "/entries/0000000000000000.ics", 404},
		{"patientA", "/p/" + e.ref.Handle + "/entries/" + entryKey(e.restrictedID), 404},
	}
	for _, tt := range tests {
		if rec := e.do(t, tt.user, http.MethodGet, tt.path, ""); rec.Code != tt.want {
			t.Errorf("%s as %s: %d, want %d", tt.path, tt.user, rec.Code, tt.want)
		}
	}
	// A download is a view, in the patient's log like the page.
	views := 0
	for _, ev := range e.auditRows(t, "patientA") {
		if ev.Action == access.ActionView && ev.ActorRole == access.RoleRelative {
			views++
		}
	}
	if views < len(e.entries) {
		t.Errorf("the relative's downloads left %d views in the log", views)
	}
	// A clinician's page offers no download.
	page := e.do(t, "clinician", http.MethodPost, "/clinician/p/"+e.ref.Handle, form("reason", "ward round", "csrf", testCSRF), formCT).Body.String()
	if links.MatchString(page) {
		t.Error("the clinician's page links to downloads")
	}
}

// TestFeedUIDsAreTheFeeds: two feeds of one timeline share no UID, and a
// feed's UIDs survive rebuilds.
func TestFeedUIDsAreTheFeeds(t *testing.T) {
	e := newCalEnv(t, "sqlite")
	own, _ := e.createFeed(t, "patientA")
	rel, _ := e.createFeed(t, "relative")
	uids := func(path string) []string {
		var out []string
		for _, ev := range icaljs.Parse(t, e.mustFetch(t, path)).Events {
			out = append(out, ev.UID)
		}
		slices.Sort(out)
		return out
	}
	a, r := uids(own), uids(rel)
	for _, u := range r {
		if slices.Contains(a, u) {
			t.Errorf("UID %s in both feeds", u)
		}
	}
	e.advance(time.Hour)
	e.refresh(t)
	if got := uids(own); !slices.Equal(got, a) {
		t.Error("a rebuild changed the feed's UIDs")
	}
}

// TestFeedIsACachedRead: a fetch of a build already rendered for the feed
// writes the cached bytes; rendering happens once per build, feed and day.
func TestFeedIsACachedRead(t *testing.T) {
	e := newCalEnv(t, "sqlite")
	path, _ := e.createFeed(t, "patientA")
	e.mustFetch(t, path)
	var keys []renderKey
	e.srv.renders.mu.Lock()
	for k := range e.srv.renders.items {
		if strings.HasPrefix(k.view, "ics:") {
			keys = append(keys, k)
		}
	}
	e.srv.renders.mu.Unlock()
	if len(keys) != 1 {
		t.Fatalf("%d feed renderings cached, want 1", len(keys))
	}
	marked := []byte("BEGIN:VCALENDAR\r\nX-CACHED:1\r\nEND:VCALENDAR\r\n")
	e.srv.renders.put(keys[0], marked)
	if got := e.mustFetch(t, path); !bytes.Equal(got, marked) {
		t.Errorf("the second fetch rendered again instead of writing the cached bytes")
	}
	e.advance(time.Minute)
	e.refresh(t)
	if got := e.mustFetch(t, path); bytes.Equal(got, marked) {
		t.Errorf("a new build was answered from the old build's rendering")
	}
}

// TestWrongFeedSecretsAreLimited: unknown addresses count against the
// client as wrong bearer credentials do.
func TestWrongFeedSecretsAreLimited(t *testing.T) {
	e := newCalEnv(t, "sqlite")
	path, _ := e.createFeed(t, "patientA")
	wrong := "/calendar/" + strings.Repeat("A", 43) + ".ics"
	for i := range 20 { // rate_limits.failed_bearer's default
		if code, _, _ := e.fetch(t, wrong); code != http.StatusNotFound {
			t.Fatalf("wrong secret %d: %d, want 404", i, code)
		}
	}
	if code, h, _ := e.fetch(t, wrong); code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Errorf("the 21st wrong secret in a minute: %d, want 429 with Retry-After", code)
	}
	e.advance(time.Minute)
	if code, _, _ := e.fetch(t, path); code != http.StatusOK {
		t.Errorf("the right secret a minute later: %d, want 200", code)
	}
}
