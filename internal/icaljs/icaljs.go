// Package icaljs reads iCalendar documents in tests with Mozilla's ical.js,
// an implementation we did not write (tools/icaljs, installed by make test
// with npm ci), run by Node.js: what a calendar app would make of a feed,
// as Go values. A test fails, never skips, when Node or the package is
// missing.
package icaljs

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Calendar is a VCALENDAR as ical.js read it.
type Calendar struct {
	Version   string   `json:"version"`
	ProdID    string   `json:"prodid"`
	Name      string   `json:"name"`
	CalName   string   `json:"calname"`
	Refresh   *int64   `json:"refresh"` // REFRESH-INTERVAL in seconds
	Timezones []string `json:"timezones"`
	Events    []Event  `json:"events"`
}

// Event is one VEVENT.
type Event struct {
	UID         string    `json:"uid"`
	Summary     string    `json:"summary"`
	Description string    `json:"description"`
	Location    string    `json:"location"`
	Status      string    `json:"status"`
	Class       string    `json:"class"`
	URL         string    `json:"url"`
	Geo         []float64 `json:"geo"`
	Sequence    int64     `json:"sequence"`
	DTStamp     int64     `json:"dtstamp"`
	Start       *Time     `json:"start"`
	End         *Time     `json:"end"` // nil without DTEND
}

// Time is a DTSTART or DTEND: the instant ical.js computed and the local
// time as written.
type Time struct {
	Unix  int64  `json:"unix"`
	Local string `json:"local"` // e.g. 2026-10-24T10:00:00, or 2026-10-24 for a date
	Date  bool   `json:"date"`
	Zone  string `json:"zone"` // the TZID ical.js resolved, "UTC", or "floating"
}

// Instant is t as a time.Time in UTC.
func (t *Time) Instant() time.Time { return time.Unix(t.Unix, 0).UTC() }

// Event returns the event with uid, or nil.
func (c *Calendar) Event(uid string) *Event {
	for i := range c.Events {
		if c.Events[i].UID == uid {
			return &c.Events[i]
		}
	}
	return nil
}

// Parse reads ics with ical.js; the test fails when ical.js cannot.
func Parse(tb testing.TB, ics []byte) *Calendar {
	tb.Helper()
	dir := toolDir(tb)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ical.js", "package.json")); err != nil {
		tb.Fatalf("ical.js is not installed: run `npm ci --prefix tools/icaljs` from the repository root (make test does): %v", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		tb.Fatalf("Node.js is needed to run ical.js (make test installs it): %v", err)
	}
	cmd := exec.Command(node, filepath.Join(dir, "parse.mjs"))
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(ics)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("ical.js could not read the calendar: %v\n%s", err, stderr.String())
	}
	var c Calendar
	if err := json.Unmarshal(stdout.Bytes(), &c); err != nil {
		tb.Fatalf("ical.js wrote no JSON: %v: %.300s", err, stdout.String())
	}
	return &c
}

// toolDir finds tools/icaljs above the test's working directory (the
// package's folder).
func toolDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "tools", "icaljs")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("icaljs: no go.mod above the working directory")
		}
		dir = parent
	}
}
