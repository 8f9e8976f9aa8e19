package web

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// CPR numbers as people type them, and as a clinician's page shows them.
// The CPR office's rules: DDMMYY, then four digits whose first (the 7th
// digit) and the year give the century; no modulus-11 check, which numbers
// issued since 2007 do not pass.

// SystemCPR is the identifier system of the Danish CPR number.
const SystemCPR = "urn:oid:1.2.208.176.1.2"

// cprDate is the birth date a CPR number says (the day may be 30 or 31
// February for a fictitious number).
type cprDate struct {
	year  int
	month time.Month
	day   int
}

// errCPRFormat and errCPRDate say what is wrong with a typed CPR number;
// their catalog keys are cprMsg's.
var (
	errCPRFormat = errors.New("a CPR number is 10 digits")
	errCPRDate   = errors.New("the CPR number's date does not exist")
)

// normalCPR takes out what people type around a CPR number: spaces, and the
// hyphen after the date (DDMMYY-SSSS). Anything else is left for checkCPR
// to refuse.
func normalCPR(s string) string {
	s = strings.Join(strings.Fields(s), "")
	if len(s) == 11 && s[6] == '-' {
		s = s[:6] + s[7:]
	}
	return s
}

// checkCPR tells whether v (normalised) is a CPR number: 10 digits and a
// date that exists, or 30 or 31 February. No real person has a number with
// those two dates, which is why the demo and test systems use them as their
// fictitious series: such a number never reaches a real person, and one
// mistyped into that series is caught as one no source knows.
func checkCPR(v string) error {
	if len(v) != 10 {
		return errCPRFormat
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return errCPRFormat
		}
	}
	d := birthDate(v)
	if d.month < time.January || d.month > time.December || d.day < 1 {
		return errCPRDate
	}
	if d.month == time.February && (d.day == 30 || d.day == 31) {
		return nil
	}
	if t := time.Date(d.year, d.month, d.day, 12, 0, 0, 0, time.UTC); t.Day() != d.day {
		return errCPRDate
	}
	return nil
}

// birthDate reads the date of a 10-digit CPR number, with the century from
// the 7th digit and the year as the CPR office gives them: 0-3 the 1900s;
// 4 and 9 2000-2036 for years 00-36, else the 1900s; 5-8 2000-2057 for years
// 00-57, else 1858-1899.
func birthDate(v string) cprDate {
	n := func(i int) int { return int(v[i]-'0')*10 + int(v[i+1]-'0') }
	day, month, yy, d7 := n(0), time.Month(n(2)), n(4), int(v[6]-'0')
	century := 1900
	switch {
	case d7 <= 3:
	case d7 == 4 || d7 == 9:
		if yy <= 36 {
			century = 2000
		}
	default:
		if yy <= 57 {
			century = 2000
		} else {
			century = 1800
		}
	}
	return cprDate{year: century + yy, month: month, day: day}
}

// age is how old someone born on d is on the civil date of now: a birthday
// on 30 February counts as after the 28th (or 29th) and before 1 March.
func (d cprDate) age(now time.Time) int {
	y, m, day := now.Date()
	a := y - d.year
	if m < d.month || m == d.month && day < d.day {
		a--
	}
	return a
}

// maskCPR is a CPR number as a page shows it: the date, the last four
// digits hidden (300241-xxxx).
func maskCPR(v string) string {
	if len(v) != 10 {
		return ""
	}
	return v[:6] + "-xxxx"
}

// cprMsg is the catalog key of a checkCPR error.
func cprMsg(err error) string {
	if errors.Is(err, errCPRDate) {
		return "error.cpr_date"
	}
	return "error.cpr_format"
}

// checkIdentifier refuses an identifier that cannot be a person's: for the
// CPR system, one that fails checkCPR. Other systems (eCPR, ...) have rules
// of their own, left to the sources.
func (s *Server) checkIdentifier(id aggregator.Identifier) error {
	if id.System != SystemCPR {
		return nil
	}
	if err := checkCPR(id.Value); err != nil {
		return &requestError{status: http.StatusBadRequest, code: "bad_identifier", msg: cprMsg(err), err: err}
	}
	return nil
}
