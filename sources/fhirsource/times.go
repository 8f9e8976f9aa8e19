package fhirsource

import (
	"fmt"
	"regexp"
	"time"
)

// precision is how much of a FHIR date/dateTime the source gave.
type precision int

const (
	precYear precision = iota
	precMonth
	precDay
	precTime
)

var fhirDateTime = regexp.MustCompile(`^(\d{4})(-(\d{2})(-(\d{2})(T(\d{2}):(\d{2})(:(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$`)

// parseTime reads a FHIR date, dateTime or instant. An offset in the value is
// kept as given (a +02:00 on a December date stays +02:00: it is the
// source's statement of the instant). Values without an offset are read in loc.
func parseTime(s string, loc *time.Location) (time.Time, precision, error) {
	if secondsWithOffset(s) { // what nearly every server sends: no regexp
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t, precTime, nil
		}
	}
	m := fhirDateTime.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, 0, fmt.Errorf("not a FHIR date or dateTime: %q", s)
	}
	atoi := func(v string, def int) int {
		if v == "" {
			return def
		}
		n := 0
		for _, c := range v {
			n = n*10 + int(c-'0')
		}
		return n
	}
	year, month, day := atoi(m[1], 0), atoi(m[3], 1), atoi(m[5], 1)
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, time.Month(month)) {
		return time.Time{}, 0, fmt.Errorf("no such date: %q", s)
	}
	switch {
	case m[2] == "":
		return time.Date(year, 1, 1, 0, 0, 0, 0, loc), precYear, nil
	case m[4] == "":
		return time.Date(year, time.Month(month), 1, 0, 0, 0, 0, loc), precMonth, nil
	case m[6] == "":
		return time.Date(year, time.Month(month), day, 0, 0, 0, 0, loc), precDay, nil
	}
	layout := "2006-01-02T15:04"
	if m[9] != "" {
		layout += ":05"
	}
	if m[11] != "" {
		layout += ".999999999"
	}
	if m[12] == "" {
		t, err := time.ParseInLocation(layout, s, loc)
		return t, precTime, err
	}
	t, err := time.Parse(layout+"Z07:00", s)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("bad dateTime %q: %w", s, err)
	}
	return t, precTime, nil
}

// secondsWithOffset reports whether s has the form
// YYYY-MM-DDThh:mm:ss followed by Z or an offset ±hh:mm.
func secondsWithOffset(s string) bool {
	const form = "dddd-dd-ddTdd:dd:dd"
	switch {
	case len(s) == len(form)+1 && s[len(form)] == 'Z':
	case len(s) == len(form)+6 && (s[len(form)] == '+' || s[len(form)] == '-') &&
		isDigit(s[20]) && isDigit(s[21]) && s[22] == ':' && isDigit(s[23]) && isDigit(s[24]):
	default:
		return false
	}
	for i := range len(form) {
		if form[i] == 'd' && !isDigit(s[i]) || form[i] != 'd' && s[i] != form[i] {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func daysIn(year int, m time.Month) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// after returns the first instant after a partial value: the next year, month
// or day for date precisions, t itself for a time.
func after(t time.Time, p precision) time.Time {
	switch p {
	case precYear:
		return t.AddDate(1, 0, 0)
	case precMonth:
		return t.AddDate(0, 1, 0)
	case precDay:
		return t.AddDate(0, 0, 1)
	}
	return t
}
