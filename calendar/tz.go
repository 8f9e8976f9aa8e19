package calendar

import (
	"fmt"
	"time"
)

// localLayout is a DATE-TIME in local time (RFC 5545 section 3.3.5, form 3
// with TZID, or form 2 inside a VTIMEZONE); utcLayout form 2.
const (
	localLayout = "20060102T150405"
	utcLayout   = "20060102T150405Z"
	dateLayout  = "20060102"
)

// vtimezone writes loc's VTIMEZONE for the instants [from, to): one
// STANDARD or DAYLIGHT sub-component per period of loc's that overlaps
// them, from Go's own zone data (time/tzdata is embedded by the binaries),
// so a calendar app needs no time zone database of its own and reads every
// local time as we meant it. Each period is written with its start and no
// recurrence rule: exact for the years covered, whatever the zone's rules
// were or will be.
func vtimezone(w *writer, loc *time.Location, from, to time.Time) {
	w.line("BEGIN", "VTIMEZONE")
	w.text("TZID", loc.String())
	for t := from.In(loc); ; {
		start, end := t.ZoneBounds()
		name, off := t.Zone()
		// A period from the beginning of time (a zone that never changed)
		// is named as starting at the epoch: RFC 5545 wants a DTSTART.
		dtstart, prev := time.Unix(0, 0), off
		if !start.IsZero() {
			dtstart = start
			_, prev = start.Add(-time.Second).In(loc).Zone()
		}
		period(w, kind(t), dtstart, name, prev, off)
		if end.IsZero() || !end.Before(to) {
			break
		}
		t = end.In(loc)
	}
	w.line("END", "VTIMEZONE")
}

func kind(t time.Time) string {
	if t.IsDST() {
		return "DAYLIGHT"
	}
	return "STANDARD"
}

// period writes one sub-component: its DTSTART is the local time of the
// change as the clock read it before (RFC 5545 section 3.6.5).
func period(w *writer, kind string, start time.Time, name string, from, to int) {
	w.line("BEGIN", kind)
	w.line("DTSTART", start.In(time.FixedZone("", from)).Format(localLayout))
	w.line("TZOFFSETFROM", utcOffset(from))
	w.line("TZOFFSETTO", utcOffset(to))
	if name != "" {
		w.text("TZNAME", name)
	}
	w.line("END", kind)
}

// utcOffset is a UTC-OFFSET value: +hhmm, or +hhmmss for the odd historic
// offset in seconds.
func utcOffset(sec int) string {
	sign := '+'
	if sec < 0 {
		sign, sec = '-', -sec
	}
	h, m, s := sec/3600, sec/60%60, sec%60
	if s != 0 {
		return fmt.Sprintf("%c%02d%02d%02d", sign, h, m, s)
	}
	return fmt.Sprintf("%c%02d%02d", sign, h, m)
}
