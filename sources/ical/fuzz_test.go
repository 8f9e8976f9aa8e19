package ical

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// FuzzParse: no feed may panic the parser or the normaliser, hang them in a
// recurrence, or put an entry outside the window or ending before it
// starts. A feed that does not parse fails with errMalformed. Seeds: the
// feeds in testdata and feeds shaped like the tests'.
func FuzzParse(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join("testdata", "*.ics"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no feeds in testdata: %v", err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	event := func(props string) string {
		return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x@k\r\n" + props + "END:VEVENT\r\nEND:VCALENDAR\r\n"
	}
	for _, seed := range []string{
		event("DTSTART:20261201T100000Z\r\nRRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;COUNT=9;WKST=SU\r\nEXDATE:20261207T100000Z\r\n"),
		event("DTSTART;TZID=/mozilla.org/20070129_1/Europe/Copenhagen:20261201T100000\r\nDURATION:P1DT2H\r\nRRULE:FREQ=MONTHLY;UNTIL=20270601T000000Z\r\n"),
		event("DTSTART;VALUE=DATE:20261202\r\nDTEND;VALUE=DATE:20261204\r\nRRULE:FREQ=DAILY\r\nRDATE;VALUE=DATE:20261209\r\n"),
		event("DTSTART;TZID=W. Europe Standard Time:20261201T100000\r\nCONFERENCE;VALUE=URI;FEATURE=VIDEO:https://v.example/r\r\nCLASS:X-SECRET\r\nGEO:56.1;10.2\r\n"),
		event("DTSTART:17000101T100000Z\r\nRRULE:FREQ=DAILY\r\nX-PATIENT-ID:3002991234\r\nSTATUS:X-NEW\r\n"),
		"BEGIN:VCALENDAR\r\nX-WR-TIMEZONE:America/New_York\r\nX-PATIENT-ID:0101017777\r\nBEGIN:VEVENT\r\nUID:y@k\r\nRECURRENCE-ID:20261208T100000Z\r\nDTSTART:20261208T120000\r\nSUMMARY;LANGUAGE=da:Flyttet\\, igen\r\n DESCRIPTION\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
		"BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:20261201T100000Z\n",
		"BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:20261201\nRRULE:FREQ=DAILY\nEND:VEVENT\nEND:VCALENDAR",
	} {
		f.Add([]byte(seed))
	}
	w := aggregator.Window{From: time.Date(2026, 11, 1, 0, 0, 0, 0, cph), To: time.Date(2027, 3, 1, 0, 0, 0, 0, cph)}
	f.Fuzz(func(t *testing.T, data []byte) {
		cals, err := parse(data)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("parse: %v is not errMalformed", err)
			}
			return
		}
		n := normaliser{cfg: &Config{Name: "k", Location: cph}, zones: &zones{fallback: cph}, patient: patientForms("3002991234", nil)}
		b := n.batch(cals, w)
		if b.Skipped < 0 || b.Warnings < 0 || len(b.Notes) > aggregator.MaxNotes+1 {
			t.Fatalf("skipped %d, warnings %d, %d notes", b.Skipped, b.Warnings, len(b.Notes))
		}
		for _, e := range b.Entries {
			if e.End.Before(e.Start) || !overlaps(e.Start, e.End, w) {
				t.Fatalf("entry %s: %v .. %v, outside %v .. %v", e.ID, e.Start, e.End, w.From, w.To)
			}
			if !strings.HasPrefix(e.ID, "k/VEVENT/") || e.Status == "" || e.Medium == "" || e.Sensitivity == "" {
				t.Fatalf("entry %+v is incomplete", e)
			}
			if e.VideoURL != "" && aggregator.SafeURL(e.VideoURL) != e.VideoURL {
				t.Fatalf("entry %s: unsafe video URL %q", e.ID, e.VideoURL)
			}
		}
	})
}
