// Package cpr reads Danish CPR numbers as people type them and shows them
// as pages may: the CPR office's rules are DDMMYY, then four digits whose
// first (the 7th digit) and the year give the century. There is no
// modulus-11 check, which numbers issued since 2007 do not pass.
package cpr

import (
	"errors"
	"strings"
	"time"
)

// ErrFormat and ErrDate say what is wrong with a typed number.
var (
	ErrFormat = errors.New("a CPR number is 10 digits")
	ErrDate   = errors.New("the CPR number's date does not exist")
)

// Parse reads a CPR number typed as DDMMYY-SSSS or DDMMYYSSSS (spaces
// around or inside are left out) and returns its 10 digits: ErrFormat when
// it is not 10 digits, ErrDate when its date does not exist. 30 and 31
// February are taken: no real person has a number with those dates, which
// is why the demo and test systems use them as their fictitious series,
// so such a number never reaches a real person.
func Parse(s string) (string, error) {
	v := strings.Join(strings.Fields(s), "")
	if len(v) == 11 && v[6] == '-' {
		v = v[:6] + v[7:]
	}
	if len(v) != 10 {
		return "", ErrFormat
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return "", ErrFormat
		}
	}
	d := BirthDate(v)
	if d.Month < time.January || d.Month > time.December || d.Day < 1 {
		return "", ErrDate
	}
	if d.Month == time.February && (d.Day == 30 || d.Day == 31) {
		return v, nil
	}
	if t := time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC); t.Day() != d.Day {
		return "", ErrDate
	}
	return v, nil
}

// Masked is a parsed number as a page shows it: the date, the last four
// digits hidden (300241-xxxx); "" for anything that is not 10 characters.
func Masked(v string) string {
	if len(v) != 10 {
		return ""
	}
	return v[:6] + "-xxxx"
}

// Date is the birth date a number says (the day may be 30 or 31 February
// for a fictitious number, so it is no time.Time).
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// BirthDate reads the date of a 10-digit number, with the century from the
// 7th digit and the year as the CPR office gives them: 0-3 the 1900s; 4
// and 9 2000-2036 for years 00-36, else the 1900s; 5-8 2000-2057 for years
// 00-57, else 1858-1899.
func BirthDate(v string) Date {
	if len(v) != 10 {
		return Date{}
	}
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
	return Date{Year: century + yy, Month: month, Day: day}
}

// Age is how old someone born on d is on the civil date of now: a birthday
// on 30 February counts as after the 28th (or 29th) and before 1 March.
func (d Date) Age(now time.Time) int {
	y, m, day := now.Date()
	a := y - d.Year
	if m < d.Month || m == d.Month && day < d.Day {
		a--
	}
	return a
}
