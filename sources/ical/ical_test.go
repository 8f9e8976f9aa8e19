package ical

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
)

var cph = mustZone("Europe/Copenhagen")

func mustZone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

const cprSystem = "urn:oid:1.2.208.176.1.2"

var anna = aggregator.PatientRef{Handle: "anna", Identifier: aggregator.Identifier{System: cprSystem, Value: "3002991234"}}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// serveFile serves testdata/name at /ical/{anna's CPR}.ics and 404 elsewhere,
// and counts requests.
func serveFile(t *testing.T, name string) (string, *atomic.Int64) {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/ical/"+anna.Identifier.Value+".ics" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/calendar; charset=utf-8")
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/ical/{identifier}.ics", &hits
}

func fetchFile(t *testing.T, name string, w aggregator.Window) aggregator.Batch {
	t.Helper()
	url, _ := serveFile(t, name)
	s, err := New(Config{Name: "kommune", Sector: aggregator.SectorMunicipality, URL: url, Location: cph}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Fetch(context.Background(), anna, w)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func byTitle(t *testing.T, b aggregator.Batch) map[string]aggregator.Entry {
	t.Helper()
	out := map[string]aggregator.Entry{}
	for _, e := range b.Entries {
		if _, dup := out[e.Title]; dup {
			t.Fatalf("title %q twice", e.Title)
		}
		out[e.Title] = e
	}
	return out
}

func check[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func checkTime(t *testing.T, what string, got time.Time, want string) {
	t.Helper()
	if !got.Equal(ts(want)) {
		t.Errorf("%s = %v, want %s", what, got, want)
	}
}

var december = aggregator.Window{From: time.Date(2026, 12, 1, 0, 0, 0, 0, cph), To: time.Date(2027, 1, 1, 0, 0, 0, 0, cph)}

func TestBasicFeed(t *testing.T) {
	b := fetchFile(t, "basic.ics", december)
	got := byTitle(t, b)
	var titles []string
	for title := range got {
		titles = append(titles, title)
	}
	slices.Sort(titles)
	want := []string{"Aflastningsophold", "Fodterapi", "Genoptræning, hold 2", "Hjælpemiddeldepot: levering af kørestol",
		"Morgenbesøg", "Opfølgning", "Skærmbesøg", "Ukendt zone", "Videosamtale med sygeplejerske"}
	if !slices.Equal(titles, want) {
		t.Fatalf("titles = %q\nwant     %q (outside the window and broken events left out)", titles, want)
	}
	if b.Skipped != 3 {
		t.Errorf("skipped = %d (%q), want 3: no DTSTART, ends before start, no UID", b.Skipped, b.Notes)
	}
	if b.Warnings != 1 {
		t.Errorf("warnings = %d (%q), want 1 for the unknown TZID", b.Warnings, b.Notes)
	}

	tests := []struct {
		title string
		check func(t *testing.T, e aggregator.Entry)
	}{
		{"Genoptræning, hold 2", func(t *testing.T, e aggregator.Entry) {
			checkTime(t, "start", e.Start, "2026-12-01T10:00:00+01:00")
			checkTime(t, "end", e.End, "2026-12-01T11:00:00+01:00")
			check(t, "description", e.Description, "Medbring træningstøj; håndklæde og vandflaske.\nMød 10 minutter før. Bemærk: omklædning i kælderen\\bad.")
			check(t, "place", e.Place.Name, "Sundhedshuset, Vestergade 12, 8000 Aarhus C")
			if e.Place.Lat == nil || *e.Place.Lat != 56.1572 || *e.Place.Lon != 10.2107 {
				t.Errorf("coordinates = %v, %v", e.Place.Lat, e.Place.Lon)
			}
			check(t, "organization", e.Organization, "Træning: Aarhus Kommune")
			check(t, "status", e.Status, aggregator.StatusBooked)
			check(t, "raw status", e.FHIRStatus, "CONFIRMED")
			check(t, "kind", e.Kind, aggregator.KindAppointment)
			check(t, "sector", e.Sector, aggregator.SectorMunicipality)
			check(t, "medium", e.Medium, aggregator.MediumInPerson)
			check(t, "sensitivity", e.Sensitivity, aggregator.SensitivityNormal)
			checkTime(t, "updated", e.Updated, "2026-11-19T14:30:00Z")
			if len(e.Provenance) != 1 || e.Provenance[0].Version != "2" || e.Provenance[0].Type != "VEVENT" {
				t.Errorf("provenance = %+v", e.Provenance)
			}
			if strings.Contains(e.ID, "kommune.example") || !strings.HasPrefix(e.ID, "kommune/VEVENT/") {
				t.Errorf("id = %q, want kommune/VEVENT/ and a hash of the UID", e.ID)
			}
		}},
		{"Morgenbesøg", func(t *testing.T, e aggregator.Entry) {
			checkTime(t, "start", e.Start, "2026-12-02T07:00:00Z")
			checkTime(t, "end", e.End, "2026-12-02T07:45:00Z")
			check(t, "medium", e.Medium, aggregator.MediumHomeVisit)
			check(t, "sensitivity", e.Sensitivity, aggregator.SensitivityRestricted)
		}},
		{"Fodterapi", func(t *testing.T, e aggregator.Entry) {
			checkTime(t, "floating start", e.Start, "2026-12-03T09:00:00+01:00")
			check(t, "status", e.Status, aggregator.StatusCancelled)
		}},
		{"Hjælpemiddeldepot: levering af kørestol", func(t *testing.T, e aggregator.Entry) {
			check(t, "all day", e.AllDay, true)
			checkTime(t, "start", e.Start, "2026-12-04T00:00:00+01:00")
			checkTime(t, "end", e.End, "2026-12-05T00:00:00+01:00")
			check(t, "status", e.Status, aggregator.StatusTentative)
		}},
		{"Aflastningsophold", func(t *testing.T, e aggregator.Entry) {
			check(t, "all day", e.AllDay, true)
			checkTime(t, "end (exclusive DATE)", e.End, "2026-12-10T00:00:00+01:00")
		}},
		{"Videosamtale med sygeplejerske", func(t *testing.T, e aggregator.Entry) {
			checkTime(t, "start (Windows zone)", e.Start, "2026-12-08T13:00:00+01:00")
			check(t, "medium", e.Medium, aggregator.MediumVideo)
			check(t, "video", e.VideoURL, "https://video.kommune.example/r/abc123")
		}},
		{"Opfølgning", func(t *testing.T, e aggregator.Entry) {
			checkTime(t, "start (mozilla TZID)", e.Start, "2026-12-09T09:00:00+01:00")
			check(t, "medium", e.Medium, aggregator.MediumPhone)
		}},
		{"Skærmbesøg", func(t *testing.T, e aggregator.Entry) {
			check(t, "medium", e.Medium, aggregator.MediumVideo)
			check(t, "video", e.VideoURL, "https://video.kommune.example/r/def456")
		}},
		{"Ukendt zone", func(t *testing.T, e aggregator.Entry) {
			checkTime(t, "start (configured zone)", e.Start, "2026-12-10T09:00:00+01:00")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.title, func(t *testing.T) { tc.check(t, got[tc.title]) })
	}
}

func TestDSTCrossing(t *testing.T) {
	w := aggregator.Window{From: time.Date(2026, 10, 1, 0, 0, 0, 0, cph), To: time.Date(2026, 11, 1, 0, 0, 0, 0, cph)}
	got := byTitle(t, fetchFile(t, "dst.ics", w))
	tests := []struct{ title, start, end string }{
		// PT12H is exact: 12 real hours, 07:00 on the clock after the change.
		{"Nattevagt i hjemmet", "2026-10-24T20:00:00+02:00", "2026-10-25T07:00:00+01:00"},
		// P1D is nominal: the same wall-clock time the next day, 25 hours later.
		{"Døgnobservation", "2026-10-24T10:00:00+02:00", "2026-10-25T10:00:00+01:00"},
		{"Søvnmåling", "2026-10-25T01:30:00+02:00", "2026-10-25T04:30:00+01:00"},
	}
	for _, tc := range tests {
		t.Run(tc.title, func(t *testing.T) {
			e, ok := got[tc.title]
			if !ok {
				t.Fatal("missing")
			}
			checkTime(t, "start", e.Start, tc.start)
			checkTime(t, "end", e.End, tc.end)
		})
	}
}

func TestRecurringEvents(t *testing.T) {
	w := aggregator.Window{From: time.Date(2026, 10, 1, 0, 0, 0, 0, cph), To: time.Date(2026, 12, 1, 0, 0, 0, 0, cph)}
	b := fetchFile(t, "recurring.ics", w)
	var got []string
	ids := map[string]bool{}
	for _, e := range b.Entries {
		got = append(got, e.Start.In(cph).Format(time.RFC3339)+" "+e.End.In(cph).Format("15:04")+" "+e.Title)
		if ids[e.ID] {
			t.Errorf("id %s twice", e.ID)
		}
		ids[e.ID] = true
	}
	slices.Sort(got)
	want := []string{
		"2026-10-19T08:00:00+02:00 08:30 Morgenpleje",
		"2026-10-21T08:00:00+02:00 08:30 Morgenpleje",
		// 23rd: EXDATE. After the DST change the wall clock stays 08:00.
		"2026-10-26T08:00:00+01:00 08:30 Morgenpleje",
		"2026-10-28T10:00:00+01:00 10:30 Morgenpleje (flyttet)", // RECURRENCE-ID replaces the 08:00 instance
		"2026-10-30T08:00:00+01:00 08:30 Morgenpleje",           // the sixth counted, with the excluded 23rd
		"2026-10-31T00:00:00+01:00 00:00 Månedlig samtale",      // then 31 December: outside
		"2026-11-01T20:00:00+01:00 20:10 Medicingivning",
		"2026-11-03T20:00:00+01:00 20:10 Medicingivning",
		"2026-11-05T20:00:00+01:00 20:10 Medicingivning",
		"2026-11-07T20:00:00+01:00 20:10 Medicingivning",
	}
	if !slices.Equal(got, want) {
		t.Errorf("instances:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if b.Skipped != 1 || len(b.Notes) != 1 || !strings.Contains(b.Notes[0], "not supported") {
		t.Errorf("skipped %d, notes %q; want the BYSETPOS rule skipped with a note", b.Skipped, b.Notes)
	}
}

func TestFeedURL(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	tests := []struct {
		name string
		tpl  string
		key  []byte
		id   string
		want string
	}{
		{"plain in path", "https://k.example/ical/{identifier}.ics", nil, "3002991234", "https://k.example/ical/3002991234.ics"},
		{"plain in query, escaped", "https://k.example/ical?p={identifier}", nil, "07 03+92/1&VJ4", "https://k.example/ical?p=07%2003%2B92%2F1%26VJ4"},
		// echo -n 3002991234 | openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef
		{"hmac", "https://k.example/ical/{identifier}", key, "3002991234", "https://k.example/ical/" + hmacHex(key, "3002991234")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(Config{Name: "k", URL: tc.tpl, IdentifierKey: tc.key}, nil)
			if err != nil {
				t.Fatal(err)
			}
			check(t, "url", s.feedURL(tc.id), tc.want)
		})
	}
	if hmacHex(key, "3002991234") == "3002991234" || len(hmacHex(key, "x")) != 64 {
		t.Error("hmacHex is not a hex HMAC")
	}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no name", Config{URL: "https://k.example/{identifier}"}},
		{"no placeholder", Config{Name: "k", URL: "https://k.example/feed.ics"}},
		{"placeholder in host", Config{Name: "k", URL: "https://{identifier}.k.example/feed.ics"}},
		{"not http", Config{Name: "k", URL: "ftp://k.example/{identifier}"}},
		{"relative", Config{Name: "k", URL: "/ical/{identifier}"}},
		{"credentials", Config{Name: "k", URL: "https://u:p@k.example/{identifier}"}},
		{"short key", Config{Name: "k", URL: "https://k.example/{identifier}", IdentifierKey: []byte("short")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg, nil); err == nil {
				t.Error("New accepted it")
			}
		})
	}
}

func TestOtherIdentifierSystemIsNotFound(t *testing.T) {
	url, hits := serveFile(t, "basic.ics")
	s, err := New(Config{Name: "k", URL: url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ecpr := aggregator.PatientRef{Identifier: aggregator.Identifier{System: "urn:oid:1.2.208.176.1.6.1.1", Value: "0703921VJ4"}}
	_, err = s.Fetch(context.Background(), ecpr, december)
	var se *aggregator.SourceError
	if !errors.As(err, &se) || se.Kind != aggregator.NotFound {
		t.Fatalf("err = %v, want NotFound", err)
	}
	if hits.Load() != 0 {
		t.Errorf("%d requests, want none: the feed would not know the identifier", hits.Load())
	}
}

// TestErrorsHideTheURL makes the transport fail with the URL in its error.
func TestErrorsHideTheURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close() // connection refused from here on
	s, err := New(Config{Name: "k", URL: base + "/ical/{identifier}.ics"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Fetch(context.Background(), anna, december)
	var se *aggregator.SourceError
	if !errors.As(err, &se) || se.Kind != aggregator.Unavailable {
		t.Fatalf("err = %v, want Unavailable", err)
	}
	if strings.Contains(err.Error(), anna.Identifier.Value) || strings.Contains(err.Error(), "/ical/") {
		t.Errorf("error %q holds the feed URL", err)
	}
}

func TestRepeatedUID(t *testing.T) {
	feed := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" +
		"BEGIN:VEVENT\r\nUID:x@k\r\nSEQUENCE:2\r\nDTSTART:20261201T100000Z\r\nSUMMARY:Version 2\r\nEND:VEVENT\r\n" +
		"BEGIN:VEVENT\r\nUID:x@k\r\nSEQUENCE:1\r\nDTSTART:20261201T090000Z\r\nSUMMARY:Version 1\r\nEND:VEVENT\r\n" +
		"BEGIN:VEVENT\r\nUID:y@k\r\nDTSTART:20261202T090000Z\r\nSUMMARY:Andet\r\nEND:VEVENT\r\n" +
		"END:VCALENDAR\r\n"
	cals, err := parse([]byte(feed))
	if err != nil {
		t.Fatal(err)
	}
	n := normaliser{cfg: &Config{Name: "k", Location: cph}, zones: &zones{fallback: cph}}
	b := n.batch(cals, december)
	var titles []string
	for _, e := range b.Entries {
		titles = append(titles, e.Title)
	}
	if !slices.Equal(titles, []string{"Version 2", "Andet"}) || b.Skipped != 1 {
		t.Errorf("titles %q, skipped %d; want the higher SEQUENCE kept and one skipped", titles, b.Skipped)
	}
}

func TestRuleTooLongToExpand(t *testing.T) {
	feed := "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x@k\r\nDTSTART:17000101T100000Z\r\nRRULE:FREQ=DAILY\r\nSUMMARY:Dagligt\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	cals, err := parse([]byte(feed))
	if err != nil {
		t.Fatal(err)
	}
	n := normaliser{cfg: &Config{Name: "k", Location: cph}, zones: &zones{fallback: cph}}
	b := n.batch(cals, december)
	if len(b.Entries) != 0 || b.Skipped != 1 {
		t.Errorf("%d entries, skipped %d (%q); want the event skipped with a note, not silently empty", len(b.Entries), b.Skipped, b.Notes)
	}
}

func TestGeneric(t *testing.T) {
	url, _ := serveFile(t, "basic.ics")
	s, err := New(Config{Name: "k", URL: url, Location: cph, Generic: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Fetch(context.Background(), anna, december)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Entries) == 0 {
		t.Fatal("no entries")
	}
	for _, e := range b.Entries {
		if !e.Generic || e.Title != "" || e.Description != "" || e.Organization != "" || e.Start.IsZero() {
			t.Errorf("entry %s: generic %v, title %q, description %q, organisation %q, start %v; want only time and place",
				e.ID, e.Generic, e.Title, e.Description, e.Organization, e.Start)
		}
		if e.Start.Equal(ts("2026-12-01T10:00:00+01:00")) && e.Place.Name == "" {
			t.Errorf("entry %s lost its place", e.ID)
		}
	}
}

func TestCalendarZoneAndRDATE(t *testing.T) {
	feed := "BEGIN:VCALENDAR\r\nX-WR-TIMEZONE:America/New_York\r\n" +
		"BEGIN:VEVENT\r\nUID:x@k\r\nDTSTART:20261201T100000\r\nSUMMARY:Flydende\r\nEND:VEVENT\r\n" +
		"BEGIN:VEVENT\r\nUID:y@k\r\nDTSTART;VALUE=DATE:20261202\r\nRDATE;VALUE=DATE:20261209\r\nSUMMARY:Heldag\r\nEND:VEVENT\r\n" +
		"END:VCALENDAR\r\n"
	cals, err := parse([]byte(feed))
	if err != nil {
		t.Fatal(err)
	}
	n := normaliser{cfg: &Config{Name: "k", Location: cph}, zones: &zones{fallback: cph}}
	b := n.batch(cals, december)
	got := byTitle(t, b)
	checkTime(t, "floating time in X-WR-TIMEZONE", got["Flydende"].Start, "2026-12-01T10:00:00-05:00")
	checkTime(t, "a DATE stays in the configured zone", got["Heldag"].Start, "2026-12-02T00:00:00+01:00")
	if b.Warnings != 1 || len(b.Notes) != 1 || !strings.Contains(b.Notes[0], "RDATE") {
		t.Errorf("warnings %d, notes %q; want one about RDATE", b.Warnings, b.Notes)
	}
}

func TestNotesAreBounded(t *testing.T) {
	feed := "BEGIN:VCALENDAR\r\n" + strings.Repeat("BEGIN:VEVENT\r\nDTSTART:20261201T100000Z\r\nEND:VEVENT\r\n", 30) + "END:VCALENDAR\r\n"
	cals, err := parse([]byte(feed))
	if err != nil {
		t.Fatal(err)
	}
	n := normaliser{cfg: &Config{Name: "k", Location: cph}, zones: &zones{fallback: cph}}
	b := n.batch(cals, december)
	if b.Skipped != 30 || len(b.Notes) != aggregator.MaxNotes+1 {
		t.Errorf("skipped %d with %d notes; want 30 counted and %d notes", b.Skipped, len(b.Notes), aggregator.MaxNotes+1)
	}
}

// TestOnlySafeLinks: a hostile feed's links never become a video URL.
func TestOnlySafeLinks(t *testing.T) {
	tests := []struct {
		name, props string
		want        aggregator.Medium
		wantURL     string
	}{
		{"https conference", "CONFERENCE;VALUE=URI;FEATURE=VIDEO:https://v.example/r/1", aggregator.MediumVideo, "https://v.example/r/1"},
		{"javascript conference", "CONFERENCE;VALUE=URI;FEATURE=VIDEO:javascript:alert(document.domain)", aggregator.MediumInPerson, ""},
		{"javascript conference, video category", "CONFERENCE;VALUE=URI:javascript:alert(1)\r\nCATEGORIES:Video", aggregator.MediumVideo, ""},
		{"credentials in a Teams link", "X-MICROSOFT-SKYPETEAMSMEETINGURL:https://user:pw@teams.example/l/1", aggregator.MediumInPerson, ""},
		{"data: as the URL of a video event", "CATEGORIES:Videokonsultation\r\nURL:data:text/html,<script>alert(1)</script>", aggregator.MediumVideo, ""},
		{"https URL of a video event", "CATEGORIES:Videokonsultation\r\nURL:https://v.example/r/2", aggregator.MediumVideo, "https://v.example/r/2"},
		{"an unsafe conference before a safe one", "CONFERENCE;VALUE=URI:http://v.example/plain\r\nCONFERENCE;VALUE=URI:https://v.example/r/3", aggregator.MediumVideo, "https://v.example/r/3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			feed := "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x@k\r\nDTSTART:20261201T100000Z\r\nSUMMARY:Samtale\r\n" + tc.props + "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
			cals, err := parse([]byte(feed))
			if err != nil {
				t.Fatal(err)
			}
			n := normaliser{cfg: &Config{Name: "k", Location: cph}, zones: &zones{fallback: cph}}
			b := n.batch(cals, december)
			if len(b.Entries) != 1 {
				t.Fatalf("%d entries, want 1 (%q)", len(b.Entries), b.Notes)
			}
			check(t, "medium", b.Entries[0].Medium, tc.want)
			check(t, "video url", b.Entries[0].VideoURL, tc.wantURL)
		})
	}
}

// TestTransportErrorsAreRedacted: a proxy or transport error that quotes a
// CPR number (not the one asked for, so no secret names it) loses it, as
// the FHIR connector's errors do.
func TestTransportErrorsAreRedacted(t *testing.T) {
	s, err := New(Config{Name: "k", URL: "https://kommune.example/ical/{identifier}.ics"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cause := errors.New("proxy: no feed for 010101-7777 or 0202027777 at /ical/3002991234.ics")
	got := s.transportErr(context.Background(), "GET feed", cause, []string{"/ical/3002991234.ics"}).Error()
	for _, leak := range []string{"010101-7777", "0202027777", "3002991234"} {
		if strings.Contains(got, leak) {
			t.Errorf("error %q holds %s", got, leak)
		}
	}
	if !strings.Contains(got, "proxy: no feed for") {
		t.Errorf("error %q lost its cause", got)
	}
}

// TestOtherPatientsEventsAreDropped: a feed that says whose events they are
// (X-PATIENT-ID) and names someone else loses those events, counted.
func TestOtherPatientsEventsAreDropped(t *testing.T) {
	key := []byte("0123456789abcdef0123")
	event := func(summary, props string) string {
		return "BEGIN:VEVENT\r\nUID:" + summary + "@k\r\nDTSTART:20261201T100000Z\r\nSUMMARY:" + summary + "\r\n" + props + "END:VEVENT\r\n"
	}
	tests := []struct {
		name     string
		key      []byte
		calendar string // calendar-level properties
		events   string
		want     []string // titles
		dropped  int
	}{
		{name: "calendar names the patient", calendar: "X-PATIENT-ID:3002991234\r\n",
			events: event("Egen", "") + event("Andens", "X-PATIENT-ID:0101017777\r\n") + event("Også egen", "X-PATIENT-ID:300299-1234\r\n"),
			want:   []string{"Egen", "Også egen"}, dropped: 1},
		{name: "calendar names another", calendar: "X-PATIENT-ID:0101017777\r\n",
			events: event("Andens", "") + event("Egen", "X-PATIENT-ID:3002991234\r\n"),
			want:   []string{"Egen"}, dropped: 1},
		{name: "nobody named", events: event("Egen", "") + event("Også egen", ""), want: []string{"Egen", "Også egen"}},
		{name: "by HMAC, in capitals", key: key,
			events: event("Egen", "X-PATIENT-ID:"+strings.ToUpper(hmacHex(key, "3002991234"))+"\r\n") + event("Andens", "X-PATIENT-ID:"+hmacHex(key, "0101017777")+"\r\n"),
			want:   []string{"Egen"}, dropped: 1},
		{name: "one of two named", events: event("Fælles", "X-PATIENT-ID:0101017777\r\nX-PATIENT-ID:3002991234\r\n"), want: []string{"Fælles"}},
		{name: "a recurring event of another", events: event("Andens", "RRULE:FREQ=DAILY;COUNT=5\r\nX-PATIENT-ID:0101017777\r\n"), dropped: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			feed := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" + tc.calendar + tc.events + "END:VCALENDAR\r\n"
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/calendar")
				w.Write([]byte(feed))
			}))
			t.Cleanup(srv.Close)
			s, err := New(Config{Name: "k", URL: srv.URL + "/ical/{identifier}.ics", IdentifierKey: tc.key, Location: cph}, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := s.Fetch(context.Background(), anna, december)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range b.Entries {
				got = append(got, e.Title)
			}
			if !slices.Equal(got, tc.want) || b.Skipped != tc.dropped {
				t.Errorf("titles %q, skipped %d (%q); want %q and %d", got, b.Skipped, b.Notes, tc.want, tc.dropped)
			}
			if tc.dropped > 0 && (len(b.Notes) == 0 || !strings.Contains(b.Notes[0], "dropped as belonging to another patient")) {
				t.Errorf("notes %q: the first must say events were another patient's", b.Notes)
			}
			for _, n := range b.Notes {
				if strings.Contains(n, "0101017777") || strings.Contains(n, "3002991234") {
					t.Errorf("note %q holds an identifier", n)
				}
			}
		})
	}
}
