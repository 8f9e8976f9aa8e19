package ical

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// maxIterations bounds the work one RRULE may cause: a daily rule from
// decades ago still reaches today well within it.
const maxIterations = 50_000

// rule is the part of RFC 5545's RRULE that care-planning feeds use: FREQ
// DAILY, WEEKLY or MONTHLY (on DTSTART's day of the month), INTERVAL, COUNT,
// UNTIL, BYDAY as plain weekdays (for DAILY and WEEKLY) and WKST. A rule
// using anything else is not guessed at: the event is skipped with a note.
type rule struct {
	freq     string
	interval int
	count    int // 0: unbounded
	until    *time.Time
	byDay    map[time.Weekday]bool
	wkst     time.Weekday
}

var weekdays = map[string]time.Weekday{"SU": time.Sunday, "MO": time.Monday, "TU": time.Tuesday, "WE": time.Wednesday,
	"TH": time.Thursday, "FR": time.Friday, "SA": time.Saturday}

func parseRule(v string, start instant, z *zones) (rule, error) {
	r := rule{interval: 1, wkst: time.Monday}
	for _, part := range strings.Split(strings.TrimSpace(v), ";") {
		key, val, ok := strings.Cut(part, "=")
		if !ok {
			return r, fmt.Errorf("RRULE part does not parse")
		}
		key = strings.ToUpper(key)
		val = strings.ToUpper(val)
		switch key {
		case "FREQ":
			r.freq = val
		case "INTERVAL":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > 1000 {
				return r, fmt.Errorf("RRULE INTERVAL does not parse")
			}
			r.interval = n
		case "COUNT":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 {
				return r, fmt.Errorf("RRULE COUNT does not parse")
			}
			r.count = n
		case "UNTIL":
			u, err := z.parseInstant(property{Name: "UNTIL", Value: val})
			if err != nil {
				return r, err
			}
			t := u.t
			if u.allDay {
				t = t.AddDate(0, 0, 1).Add(-time.Nanosecond) // a date is inclusive
			}
			r.until = &t
		case "BYDAY":
			r.byDay = map[time.Weekday]bool{}
			for _, d := range strings.Split(val, ",") {
				wd, ok := weekdays[d]
				if !ok {
					return r, fmt.Errorf("RRULE BYDAY with ordinals is not supported")
				}
				r.byDay[wd] = true
			}
		case "WKST":
			wd, ok := weekdays[val]
			if !ok {
				return r, fmt.Errorf("RRULE WKST does not parse")
			}
			r.wkst = wd
		default:
			return r, fmt.Errorf("RRULE %s is not supported", shortName(key))
		}
	}
	switch r.freq {
	case "DAILY", "WEEKLY":
	case "MONTHLY":
		if r.byDay != nil {
			return r, fmt.Errorf("RRULE MONTHLY with BYDAY is not supported")
		}
	case "":
		return r, fmt.Errorf("RRULE without FREQ")
	default:
		return r, fmt.Errorf("RRULE FREQ=%s is not supported", shortName(r.freq))
	}
	if r.freq == "WEEKLY" && r.byDay == nil {
		r.byDay = map[time.Weekday]bool{start.t.Weekday(): true}
	}
	return r, nil
}

// occurrence is one instance of a recurring event.
type occurrence struct{ start, end time.Time }

// expand lists the instances of a recurring event that touch w, without the
// EXDATEs. Times keep their wall clock in DTSTART's zone across DST.
func expand(ev event, w aggregator.Window, z *zones) ([]occurrence, error) {
	r, err := parseRule(ev.rrule, ev.start, z)
	if err != nil {
		return nil, err
	}
	excluded := map[int64]bool{}
	for _, p := range ev.exdates {
		for _, v := range strings.Split(p.Value, ",") {
			ex, err := z.parseInstant(property{Name: "EXDATE", Params: p.Params, Value: v})
			if err != nil {
				return nil, err
			}
			excluded[ex.t.Unix()] = true
		}
	}
	days := 0
	length := ev.end.Sub(ev.start.t)
	if ev.start.allDay {
		days = daysBetween(ev.start.t, ev.end)
	}
	endOf := func(st time.Time) time.Time {
		if ev.start.allDay {
			return st.AddDate(0, 0, days) // whole days stay whole across DST
		}
		return st.Add(length)
	}

	first := ev.start.t
	y, m, d := first.Date()
	hh, mm, ss := first.Clock()
	loc := first.Location()
	at := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, hh, mm, ss, 0, loc) }

	var out []occurrence
	count := 0
	// emit handles one candidate; false stops the expansion.
	emit := func(st time.Time) bool {
		if st.Before(first) {
			return true
		}
		if (r.until != nil && st.After(*r.until)) || !st.Before(w.To) {
			return false
		}
		count++
		if !excluded[st.Unix()] {
			if end := endOf(st); overlaps(st, end, w) {
				out = append(out, occurrence{st, end})
			}
		}
		return r.count == 0 || count < r.count
	}
	done := false // the rule ended, or reached the end of the window
	switch r.freq {
	case "DAILY":
		for k := 0; k < maxIterations && !done; k++ {
			st := at(y, m, d+k*r.interval)
			switch {
			case r.byDay == nil || r.byDay[st.Weekday()]:
				done = !emit(st)
			case !st.Before(w.To):
				done = true
			}
		}
	case "WEEKLY":
		back := (int(first.Weekday()) - int(r.wkst) + 7) % 7
		for k := 0; k < maxIterations/7 && !done; k++ {
			for off := 0; off < 7 && !done; off++ {
				if st := at(y, m, d-back+7*k*r.interval+off); r.byDay[st.Weekday()] {
					done = !emit(st)
				}
			}
		}
	case "MONTHLY":
		for k := 0; k < maxIterations && !done; k++ {
			// A month without DTSTART's day has no instance (RFC 5545).
			if st := at(y, m+time.Month(k*r.interval), d); st.Day() == d {
				done = !emit(st)
			}
		}
	}
	if !done {
		return nil, errors.New("RRULE has too many instances to expand")
	}
	return out, nil
}
