package ical

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/sources/sourcetest"
)

func TestConformance(t *testing.T) { sourcetest.Run(t, harness{}) }

// harness serves one feed per patient at /ical/{identifier}.ics.
type harness struct{}

const harnessLimit = 64 << 10

func (harness) NewSource(t testing.TB, name, baseURL string) aggregator.Source {
	t.Helper()
	s, err := New(Config{Name: name, Sector: aggregator.SectorMunicipality, URL: baseURL + "/ical/{identifier}.ics",
		MaxBytes: harnessLimit, Location: cph}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (harness) Serve(t testing.TB, p aggregator.PatientRef, w aggregator.Window, n int) http.Handler {
	t.Helper()
	events := []string{
		vevent("before", "Før", w.From.Add(-48*time.Hour)),
		vevent("after", "Efter", w.To.Add(time.Hour)),
	}
	for i := range n {
		events = append(events, vevent(fmt.Sprintf("e%d", i), sourcetest.Title(i), sourcetest.Start(w, i)))
	}
	feeds := map[string]string{
		"/ical/" + p.Identifier.Value + ".ics": calendar(events...),
		"/ical/0202027777.ics":                 calendar(vevent("other", "En andens", sourcetest.Start(w, 0))),
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, ok := feeds[r.URL.Path]
		if !ok {
			http.NotFound(rw, r)
			return
		}
		rw.Header().Set("Content-Type", "text/calendar; charset=utf-8")
		rw.Write([]byte(body))
	})
}

func (harness) Fault(t testing.TB, p aggregator.PatientRef, w aggregator.Window, f sourcetest.Fault) http.Handler {
	t.Helper()
	var body, ctype string
	switch f {
	case sourcetest.Malformed:
		full := calendar(vevent("a", "A", sourcetest.Start(w, 0)), vevent("b", "B", sourcetest.Start(w, 1)))
		body, ctype = full[:len(full)*2/3], "text/calendar" // cut off mid-event
	case sourcetest.WrongContent:
		body, ctype = "<!doctype html><html><body>Log ind for at se din kalender</body></html>", "text/html"
	case sourcetest.Huge:
		var events []string
		for i := 0; len(events)*200 <= 2*harnessLimit; i++ {
			events = append(events, vevent(fmt.Sprintf("h%d", i), strings.Repeat("x", 100), sourcetest.Start(w, 0)))
		}
		body, ctype = calendar(events...), "text/calendar"
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", ctype)
		rw.Write([]byte(body))
	})
}

func vevent(uid, summary string, start time.Time) string {
	return "BEGIN:VEVENT\r\nUID:" + uid + "@sourcetest.example\r\nDTSTAMP:20261101T000000Z\r\n" +
		"DTSTART:" + start.UTC().Format("20060102T150405Z") + "\r\n" +
		"DTEND:" + start.Add(sourcetest.Duration).UTC().Format("20060102T150405Z") + "\r\n" +
		"SUMMARY:" + summary + "\r\nEND:VEVENT\r\n"
}

func calendar(events ...string) string {
	return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//overblik//sourcetest//EN\r\n" + strings.Join(events, "") + "END:VCALENDAR\r\n"
}
