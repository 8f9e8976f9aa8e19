package calendar

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/internal/icaljs"
	"github.com/overblik/overblik/view"
)

var update = flag.Bool("update", false, "rewrite the golden calendars in testdata/")

func cph(tb testing.TB) *time.Location {
	tb.Helper()
	loc, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		tb.Fatal(err)
	}
	return loc
}

func ptr(f float64) *float64 { return &f }

// built is when the fixture's timeline was built: the day before the
// entries, two days before summer time ends (Sunday 25 October 2026, 03:00
// summer time becomes 02:00 standard time).
var built = time.Date(2026, 10, 23, 12, 0, 0, 0, time.UTC)

var texts = Texts{
	Title: func(e *aggregator.Entry) string {
		switch {
		case e.Title != "":
			return e.Title
		case e.Generic:
			return "Aftale hos egen læge"
		}
		return "Aftale"
	},
	Medium: func(m aggregator.Medium) string {
		switch m {
		case aggregator.MediumVideo:
			return "Video"
		case aggregator.MediumPhone:
			return "Telefon"
		}
		return ""
	},
	Name: "Aftaler for %[1]s", NameNone: "Overblik", Cancelled: "Aflyst: %[1]s",
	Instruction: "Husk", With: "Hos", Contact: "Kontakt", Source: "Fra", Video: "Videolink",
}

// fixture is a patient's view with every kind of entry a feed must write:
// times on both sides of the change to standard time and one in the hour
// that happens twice, a cancelled entry recent and one long ago, all-day
// entries (one across the change), video links safe and not, a generic
// entry, a restricted one (the patient sees it), an admission still going
// on, and text that needs escaping and folding.
func fixture(tb testing.TB) *view.View {
	tb.Helper()
	loc := cph(tb)
	at := func(d, h, m int) time.Time { return time.Date(2026, 10, d, h, m, 0, 0, loc) }
	day := func(d int) time.Time { return time.Date(2026, 10, d, 0, 0, 0, 0, loc) }
	upd := time.Date(2026, 10, 1, 8, 0, 0, 0, time.UTC)
	es := []aggregator.Entry{
		{ID: "hosp/Encounter/adm", Source: "hosp", Sector: aggregator.SectorHospital, Kind: aggregator.KindAdmission,
			Status: aggregator.StatusInProgress, Start: at(22, 14, 0), Title: "Indlæggelse", Place: aggregator.Place{Name: "Afsnit 3"},
			Updated: upd, Sensitivity: aggregator.SensitivityNormal},
		{ID: "hosp/Appointment/before", Source: "hosp", Sector: aggregator.SectorHospital, Kind: aggregator.KindAppointment,
			Status: aggregator.StatusBooked, Start: at(24, 10, 0), End: at(24, 10, 30), Title: "Kontrol, øjenafdelingen",
			Description: "Undersøgelse af synet; tag briller med.\nVarer ca. en halv time.", Instruction: "Mød 10 minutter før",
			Place: aggregator.Place{Name: "Øjenafdelingen", Address: "Palle Juul-Jensens Boulevard 99, 8200 Aarhus N",
				Lat: ptr(56.191), Lon: ptr(10.1707)},
			People: []string{"Dr. Hansen"}, Organization: "Aarhus Universitetshospital", Contact: "0000 1000",
			Medium: aggregator.MediumInPerson, Updated: upd, Sensitivity: aggregator.SensitivityNormal},
		{ID: "kom/Appointment/allday-dst", Source: "kom", Sector: aggregator.SectorMunicipality, Kind: aggregator.KindAppointment,
			Status: aggregator.StatusBooked, Start: day(24), End: day(26), AllDay: true, Title: "Hjælpemiddel leveres",
			Updated: upd, Sensitivity: aggregator.SensitivityNormal},
		{ID: "kom/Appointment/night", Source: "kom", Sector: aggregator.SectorMunicipality, Kind: aggregator.KindAppointment,
			Status: aggregator.StatusBooked, Start: time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC),
			End: time.Date(2026, 10, 25, 2, 0, 0, 0, time.UTC), Title: "Natligt tilsyn", Medium: aggregator.MediumHomeVisit,
			Organization: "Hjemmeplejen Midtbyen", Contact: "0000 2001", Updated: upd, Sensitivity: aggregator.SensitivityNormal},
		{ID: "hosp/Appointment/psyk", Source: "hosp", Sector: aggregator.SectorHospital, Kind: aggregator.KindAppointment,
			Status: aggregator.StatusBooked, Start: at(25, 13, 0), End: at(25, 14, 0), Title: "Samtale i psykiatrisk ambulatorium",
			Place: aggregator.Place{Name: "Psykiatrisk ambulatorium"}, Updated: upd, Sensitivity: aggregator.SensitivityRestricted},
		{ID: "hosp/Appointment/after", Source: "hosp", Sector: aggregator.SectorHospital, Kind: aggregator.KindAppointment,
			Status: aggregator.StatusBooked, Start: at(26, 10, 0), End: at(26, 11, 0),
			Title:   "Forundersøgelse før operation i knæ – anæstesi, blodprøver og samtale med kirurg og sygeplejerske",
			Place:   aggregator.Place{Name: "Ortopædkirurgi", Address: "Ortopædkirurgi, Palle Juul-Jensens Boulevard 99"},
			Updated: upd.Add(time.Hour), Sensitivity: aggregator.SensitivityNormal},
		{ID: "kom/Appointment/cancelled", Source: "kom", Sector: aggregator.SectorMunicipality, Kind: aggregator.KindAppointment,
			Status: aggregator.StatusCancelled, Start: at(27, 8, 0), End: at(27, 8, 30), Title: "Hjemmepleje",
			Updated: time.Date(2026, 10, 20, 9, 0, 0, 0, time.UTC), Sensitivity: aggregator.SensitivityNormal},
		{ID: "kom/Appointment/cancelled-long-ago", Source: "kom", Sector: aggregator.SectorMunicipality, Kind: aggregator.KindAppointment,
			Status: aggregator.StatusCancelled, Start: at(27, 9, 0), End: at(27, 9, 30), Title: "Genoptræning",
			Updated: time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC), Sensitivity: aggregator.SensitivityNormal},
		{ID: "gp/Appointment/generic", Source: "gp", Sector: aggregator.SectorGP, Kind: aggregator.KindAppointment,
			Status: aggregator.StatusBooked, Start: at(28, 9, 0), End: at(28, 9, 15), Generic: true,
			Place: aggregator.Place{Name: "Lægehuset Trøjborg"}, Updated: upd, Sensitivity: aggregator.SensitivityNormal},
		{ID: "hosp/Appointment/video", Source: "hosp", Sector: aggregator.SectorHospital, Kind: aggregator.KindAppointment,
			Status: aggregator.StatusTentative, Start: at(29, 14, 0), End: at(29, 14, 20), Title: "Videokonsultation",
			Medium: aggregator.MediumVideo, VideoURL: "https://video.example.test/room/42?pin=1,2;3", Updated: upd,
			Sensitivity: aggregator.SensitivityNormal},
		{ID: "hosp/Appointment/video-unsafe", Source: "hosp", Sector: aggregator.SectorHospital, Kind: aggregator.KindAppointment,
			Status: aggregator.StatusBooked, Start: at(29, 15, 0), End: at(29, 15, 20), Title: "Opfølgning på video",
			Medium: aggregator.MediumVideo, VideoURL: "javascript:alert(1)", Sensitivity: aggregator.SensitivityNormal},
		{ID: "kom/Appointment/allday", Source: "kom", Sector: aggregator.SectorMunicipality, Kind: aggregator.KindAppointment,
			Status: aggregator.StatusBooked, Start: day(30), End: day(31), AllDay: true, Title: "Rengøring",
			Updated: upd, Sensitivity: aggregator.SensitivityNormal},
	}
	return &view.View{
		Patient:  aggregator.PatientRef{Handle: "h-birthe"},
		Name:     "Birthe Østergaard Madsen",
		Decision: access.Decision{Role: access.RolePatient, Restricted: true},
		Timeline: &aggregator.Timeline{
			Patient: "h-birthe", GeneratedAt: built, Version: 7,
			Window:  aggregator.Window{From: built.AddDate(0, 0, -90), To: built.AddDate(0, 0, 180)},
			Entries: es,
			Sources: []aggregator.SourceStatus{
				{Name: "hosp", Display: "Aarhus Universitetshospital", Sector: aggregator.SectorHospital, OK: true},
				{Name: "kom", Display: "Aarhus Kommune", Sector: aggregator.SectorMunicipality, OK: true},
				{Name: "gp", Display: "Lægehuset Trøjborg", Sector: aggregator.SectorGP, OK: true},
			},
		},
	}
}

func options(tb testing.TB) Options {
	return Options{Location: cph(tb), Scope: "feed-1", Texts: texts}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update after an intended change):\n%s", name, got)
	}
}

func TestFeedGolden(t *testing.T) {
	golden(t, "feed.ics", Feed(fixture(t), options(t)))
	o := options(t)
	o.UTC = true
	golden(t, "feed-utc.ics", Feed(fixture(t), o))
}

func TestEventGolden(t *testing.T) {
	got, ok := Event(fixture(t), "kom/Appointment/cancelled", options(t))
	if !ok {
		t.Fatal("no event for an entry of the timeline")
	}
	golden(t, "event.ics", got)
	cal := icaljs.Parse(t, got)
	if len(cal.Events) != 1 || cal.Events[0].Status != "CANCELLED" || cal.Events[0].UID != UID("feed-1", "kom/Appointment/cancelled") {
		t.Errorf("the one event as ical.js reads it: %+v", cal.Events)
	}
	if cal.Refresh != nil || cal.Name != "" {
		t.Errorf("a download with a refresh interval (%v) or a calendar name (%q)", cal.Refresh, cal.Name)
	}
	// Cancelled long ago, it is still the event asked for.
	if _, ok := Event(fixture(t), "kom/Appointment/cancelled-long-ago", options(t)); !ok {
		t.Error("no event for an entry cancelled long ago")
	}
	if _, ok := Event(fixture(t), "kom/Appointment/nope", options(t)); ok {
		t.Error("an event for an entry the timeline does not hold")
	}
}

// TestFeedReadByICalJS reads the feed with ical.js and checks what a
// calendar app gets of every entry: the instant ical.js computes through
// the feed's own VTIMEZONE is the entry's, on both sides of the change to
// standard time and in the hour that happens twice.
func TestFeedReadByICalJS(t *testing.T) {
	for _, utc := range []bool{false, true} {
		name := "local"
		if utc {
			name = "utc"
		}
		t.Run(name, func(t *testing.T) {
			v := fixture(t)
			o := options(t)
			o.UTC = utc
			cal := icaljs.Parse(t, Feed(v, o))
			checkFeed(t, v, o, cal)
		})
	}
}

func checkFeed(t *testing.T, v *view.View, o Options, cal *icaljs.Calendar) {
	t.Helper()
	loc := cph(t)
	if cal.Version != "2.0" || cal.Name != "Aftaler for Birthe Østergaard Madsen" || cal.CalName != cal.Name {
		t.Errorf("calendar: version %q, name %q, X-WR-CALNAME %q", cal.Version, cal.Name, cal.CalName)
	}
	if cal.Refresh == nil || *cal.Refresh != 3600 {
		t.Errorf("REFRESH-INTERVAL = %v s, want 3600", cal.Refresh)
	}
	if got := len(cal.Timezones); (got == 1) == o.UTC {
		t.Errorf("%d VTIMEZONEs with UTC %v", got, o.UTC)
	}
	want := map[string]bool{}
	for i := range v.Timeline.Entries {
		e := &v.Timeline.Entries[i]
		if e.ID == "kom/Appointment/cancelled-long-ago" {
			if cal.Event(UID(o.Scope, e.ID)) != nil {
				t.Error("an entry cancelled 52 days ago is in the feed")
			}
			continue
		}
		want[UID(o.Scope, e.ID)] = true
		ev := cal.Event(UID(o.Scope, e.ID))
		if ev == nil {
			t.Errorf("%s: not in the feed", e.ID)
			continue
		}
		if e.AllDay {
			if !ev.Start.Date || ev.End == nil || !ev.End.Date {
				t.Errorf("%s: start %+v end %+v, want DATE values", e.ID, ev.Start, ev.End)
				continue
			}
			if got, want := ev.Start.Local, e.Start.In(loc).Format(time.DateOnly); got != want {
				t.Errorf("%s: first day %s, want %s", e.ID, got, want)
			}
			if got, want := ev.End.Local, e.End.In(loc).Format(time.DateOnly); got != want {
				t.Errorf("%s: end (exclusive) %s, want %s", e.ID, got, want)
			}
		} else {
			if !ev.Start.Instant().Equal(e.Start) {
				t.Errorf("%s: starts %v (%s in %s), want %v", e.ID, ev.Start.Instant(), ev.Start.Local, ev.Start.Zone, e.Start)
			}
			wantZone := "Europe/Copenhagen"
			if o.UTC || e.ID == "kom/Appointment/night" {
				wantZone = "UTC" // the hour that happens twice is written in UTC
			}
			if ev.Start.Zone != wantZone {
				t.Errorf("%s: zone %q, want %s", e.ID, ev.Start.Zone, wantZone)
			}
			if wantZone == "Europe/Copenhagen" {
				if got, want := ev.Start.Local, e.Start.In(loc).Format("2006-01-02T15:04:05"); got != want {
					t.Errorf("%s: local start %s, want %s", e.ID, got, want)
				}
			}
			switch {
			case e.End.IsZero() && ev.End != nil:
				t.Errorf("%s: an end %+v for an admission still going on", e.ID, ev.End)
			case !e.End.IsZero() && (ev.End == nil || !ev.End.Instant().Equal(e.End)):
				t.Errorf("%s: ends %+v, want %v", e.ID, ev.End, e.End)
			}
		}
		wantStatus := map[aggregator.Status]string{aggregator.StatusCancelled: "CANCELLED", aggregator.StatusTentative: "TENTATIVE"}[e.Status]
		if wantStatus == "" {
			wantStatus = "CONFIRMED"
		}
		if ev.Status != wantStatus {
			t.Errorf("%s: STATUS %q, want %s", e.ID, ev.Status, wantStatus)
		}
		if ev.Sequence != Sequence(e) {
			t.Errorf("%s: SEQUENCE %d, want %d", e.ID, ev.Sequence, Sequence(e))
		}
		if !e.Updated.IsZero() && ev.DTStamp != e.Updated.Unix() {
			t.Errorf("%s: DTSTAMP %d, want the last update %d", e.ID, ev.DTStamp, e.Updated.Unix())
		}
		wantClass := "PRIVATE"
		if e.Sensitivity == aggregator.SensitivityRestricted {
			wantClass = "CONFIDENTIAL"
		}
		if ev.Class != wantClass {
			t.Errorf("%s: CLASS %q, want %s", e.ID, ev.Class, wantClass)
		}
	}
	if len(cal.Events) != len(want) {
		t.Errorf("%d events, want %d", len(cal.Events), len(want))
	}

	byID := func(id string) *icaljs.Event { return cal.Event(UID(o.Scope, id)) }
	if ev := byID("hosp/Appointment/before"); ev != nil {
		if ev.Summary != "Kontrol, øjenafdelingen" ||
			ev.Location != "Øjenafdelingen, Palle Juul-Jensens Boulevard 99, 8200 Aarhus N" ||
			len(ev.Geo) != 2 || ev.Geo[0] != 56.191 || ev.Geo[1] != 10.1707 {
			t.Errorf("before: summary %q location %q geo %v", ev.Summary, ev.Location, ev.Geo)
		}
		wantDesc := "Undersøgelse af synet; tag briller med.\nVarer ca. en halv time.\nHusk: Mød 10 minutter før\n" +
			"Hos: Dr. Hansen, Aarhus Universitetshospital\nKontakt: 0000 1000\nFra: Aarhus Universitetshospital"
		if ev.Description != wantDesc {
			t.Errorf("before: DESCRIPTION\n%q, want\n%q", ev.Description, wantDesc)
		}
		if ev.URL != "" {
			t.Errorf("before: URL %q for an entry in person", ev.URL)
		}
	}
	if ev := byID("hosp/Appointment/after"); ev != nil && ev.Location != "Ortopædkirurgi, Palle Juul-Jensens Boulevard 99" {
		t.Errorf("after: LOCATION %q: the place's name twice", ev.Location)
	}
	if ev := byID("hosp/Appointment/video"); ev != nil {
		if ev.URL != "https://video.example.test/room/42?pin=1,2;3" || !strings.Contains(ev.Description, "Videolink: https://video.example.test/room/42?pin=1,2;3") {
			t.Errorf("video: URL %q, DESCRIPTION %q", ev.URL, ev.Description)
		}
	}
	if ev := byID("hosp/Appointment/video-unsafe"); ev != nil && (ev.URL != "" || strings.Contains(ev.Description, "javascript")) {
		t.Errorf("a javascript: link went out: URL %q, DESCRIPTION %q", ev.URL, ev.Description)
	}
	if ev := byID("gp/Appointment/generic"); ev != nil && ev.Summary != "Aftale hos egen læge" {
		t.Errorf("generic: SUMMARY %q, want the generic title", ev.Summary)
	}
	if ev := byID("kom/Appointment/cancelled"); ev != nil && ev.Summary != "Aflyst: Hjemmepleje" {
		t.Errorf("cancelled: SUMMARY %q", ev.Summary)
	}
	if ev := byID("kom/Appointment/night"); ev != nil && strings.Contains(ev.Description, "home-visit") {
		t.Errorf("night: a raw medium in DESCRIPTION %q", ev.Description)
	}
}

func TestLinesAreFoldedAt75Octets(t *testing.T) {
	ics := Feed(fixture(t), options(t))
	if !bytes.HasSuffix(ics, []byte("END:VCALENDAR\r\n")) {
		t.Fatal("the calendar does not end with END:VCALENDAR and CRLF")
	}
	lines := strings.Split(strings.TrimSuffix(string(ics), "\r\n"), "\r\n")
	folded := 0
	for i, l := range lines {
		if strings.ContainsAny(l, "\r\n") {
			t.Errorf("line %d holds a bare CR or LF: %q", i, l)
		}
		if len(l) > 75 {
			t.Errorf("line %d is %d octets: %q", i, len(l), l)
		}
		if !utf8.ValidString(l) {
			t.Errorf("line %d splits a UTF-8 sequence: %q", i, l)
		}
		if strings.HasPrefix(l, " ") {
			folded++
		}
	}
	if folded == 0 {
		t.Error("no line was folded: the fixture's long title should have been")
	}
}

func TestFold(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"short", "SUMMARY:Kontrol", []string{"SUMMARY:Kontrol"}},
		{"exactly 75", "X:" + strings.Repeat("a", 73), []string{"X:" + strings.Repeat("a", 73)}},
		{"76", "X:" + strings.Repeat("a", 74), []string{"X:" + strings.Repeat("a", 73), " a"}},
		// "æ" is two octets: the cut moves back rather than split it.
		{"multibyte at the edge", "X:" + strings.Repeat("a", 72) + "æø", []string{"X:" + strings.Repeat("a", 72), " æø"}},
		{"continuations hold 74", "X:" + strings.Repeat("b", 73+74+1), []string{"X:" + strings.Repeat("b", 73), " " + strings.Repeat("b", 74), " b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w writer
			w.fold(tt.in)
			got := strings.Split(strings.TrimSuffix(w.b.String(), "\r\n"), "\r\n")
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("fold(%q) =\n%q\nwant\n%q", tt.in, got, tt.want)
			}
			for _, l := range got {
				if len(l) > 75 {
					t.Errorf("a line of %d octets", len(l))
				}
			}
		})
	}
}

func TestEscapeText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Kontrol", "Kontrol"},
		{`a,b;c\d`, `a\,b\;c\\d`},
		{"to\nlinjer\r\ntre\rfire", `to\nlinjer\ntre\nfire`},
		{"bell\x07 and tab\t", "bell and tab\t"},
		{"bad \xff utf-8", "bad \uFFFD utf-8"},
	}
	for _, tt := range tests {
		if got := escapeText(tt.in); got != tt.want {
			t.Errorf("escapeText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := paramValue(`Europe/Copenhagen`); got != "Europe/Copenhagen" {
		t.Errorf("paramValue = %q", got)
	}
	if got := paramValue(`a:b"c`); got != `"a:bc"` {
		t.Errorf("paramValue(a:b\"c) = %q", got)
	}
}

// TestVTimezone: Copenhagen's periods in 2026 are the standard time in
// force on 1 January (since 26 October 2025, 03:00 summer time), summer
// time from 29 March 02:00 and standard time from 25 October 03:00.
func TestVTimezone(t *testing.T) {
	loc := cph(t)
	var w writer
	vtimezone(&w, loc, time.Date(2026, 1, 1, 0, 0, 0, 0, loc), time.Date(2027, 1, 1, 0, 0, 0, 0, loc))
	want := strings.Join([]string{
		"BEGIN:VTIMEZONE", "TZID:Europe/Copenhagen",
		"BEGIN:STANDARD", "DTSTART:20251026T030000", "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100", "TZNAME:CET", "END:STANDARD",
		"BEGIN:DAYLIGHT", "DTSTART:20260329T020000", "TZOFFSETFROM:+0100", "TZOFFSETTO:+0200", "TZNAME:CEST", "END:DAYLIGHT",
		"BEGIN:STANDARD", "DTSTART:20261025T030000", "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100", "TZNAME:CET", "END:STANDARD",
		"END:VTIMEZONE", "",
	}, "\r\n")
	if got := w.b.String(); got != want {
		t.Errorf("VTIMEZONE 2026:\n%s\nwant\n%s", got, want)
	}

	// A zone that never changes has one period.
	var f writer
	vtimezone(&f, time.FixedZone("Atlantic/Test", -3600), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	if got := f.b.String(); strings.Count(got, "BEGIN:STANDARD") != 1 || !strings.Contains(got, "TZOFFSETTO:-0100") {
		t.Errorf("a fixed zone:\n%s", got)
	}
}

// TestRebuildsRenderTheSame: a timeline built again with the same entries
// (a new version and build time) gives the same bytes, so a feed can answer
// 304; a change of one entry changes its SEQUENCE and DTSTAMP, and nothing
// of the others.
func TestRebuildsRenderTheSame(t *testing.T) {
	v := fixture(t)
	first := Feed(v, options(t))
	again := fixture(t)
	again.Timeline.Version, again.Timeline.GeneratedAt = 8, built.Add(time.Minute)
	if got := Feed(again, options(t)); !bytes.Equal(got, first) {
		t.Error("a rebuild with the same entries renders differently")
	}

	changed := fixture(t)
	e := &changed.Timeline.Entries[1] // hosp/Appointment/before
	e.Start, e.End = e.Start.Add(time.Hour), e.End.Add(time.Hour)
	e.Updated = e.Updated.Add(24 * time.Hour)
	cal := icaljs.Parse(t, Feed(changed, options(t)))
	old := icaljs.Parse(t, first)
	uid := UID("feed-1", e.ID)
	if n, o := cal.Event(uid), old.Event(uid); n.Sequence <= o.Sequence || n.DTStamp <= o.DTStamp {
		t.Errorf("moved entry: SEQUENCE %d -> %d, DTSTAMP %d -> %d; want both greater", o.Sequence, n.Sequence, o.DTStamp, n.DTStamp)
	}
	other := UID("feed-1", "hosp/Appointment/after")
	if cal.Event(other).Sequence != old.Event(other).Sequence {
		t.Error("an entry that did not change changed its SEQUENCE")
	}
}

func TestUIDs(t *testing.T) {
	id := "hosp/Appointment/before"
	u := UID("feed-1", id)
	if u != UID("feed-1", id) {
		t.Error("UID is not stable")
	}
	if u == UID("feed-2", id) || u == UID("feed-1", "hosp/Appointment/after") {
		t.Error("two feeds, or two entries, share a UID")
	}
	if strings.Contains(u, "before") || strings.Contains(u, "hosp") || len(u) != 32+len("@overblik") {
		t.Errorf("UID %q gives the entry away or is not 128 bits of hash", u)
	}
}

func TestCancelledEntriesStay30Days(t *testing.T) {
	cancelled := time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)
	e := &aggregator.Entry{Status: aggregator.StatusCancelled, Updated: cancelled}
	for _, tt := range []struct {
		now  time.Time
		want bool
	}{
		{cancelled, true},
		{cancelled.Add(KeepCancelled - time.Second), true},
		{cancelled.Add(KeepCancelled), false},
	} {
		if got := show(e, tt.now); got != tt.want {
			t.Errorf("cancelled %v, written %v: shown %v, want %v", cancelled, tt.now, got, tt.want)
		}
	}
	if !show(&aggregator.Entry{Status: aggregator.StatusCancelled}, cancelled.AddDate(1, 0, 0)) {
		t.Error("a cancelled entry whose source never said when is dropped")
	}
	if !show(&aggregator.Entry{Status: aggregator.StatusBooked, Updated: cancelled}, cancelled.AddDate(1, 0, 0)) {
		t.Error("a booked entry is dropped")
	}
}

func TestCalendarWithoutNameOrEntries(t *testing.T) {
	v := &view.View{Timeline: &aggregator.Timeline{GeneratedAt: built}}
	cal := icaljs.Parse(t, Feed(v, options(t)))
	if cal.Name != "Overblik" || len(cal.Events) != 0 || len(cal.Timezones) != 0 {
		t.Errorf("an empty view: name %q, %d events, %d zones", cal.Name, len(cal.Events), len(cal.Timezones))
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "PT1H", 90 * time.Minute: "PT90M", 24 * time.Hour: "P1D", 0: "PT1M", 30 * time.Second: "PT1M",
	} {
		if got := duration(d); got != want {
			t.Errorf("duration(%v) = %s, want %s", d, got, want)
		}
	}
}
