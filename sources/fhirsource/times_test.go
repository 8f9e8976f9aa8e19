package fhirsource

import (
	"testing"
	"time"
)

// TestParseTime covers each form FHIR allows, the fast path for the common
// one included, and values that only look right.
func TestParseTime(t *testing.T) {
	cph, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		t.Fatal(err)
	}
	plus2 := time.FixedZone("", 2*3600)
	for _, c := range []struct {
		in   string
		want time.Time
		prec precision
		bad  bool
	}{
		{in: "2026-12-01T07:30:00Z", want: time.Date(2026, 12, 1, 7, 30, 0, 0, time.UTC), prec: precTime},
		{in: "2026-12-01T07:30:00+02:00", want: time.Date(2026, 12, 1, 7, 30, 0, 0, plus2), prec: precTime},
		{in: "2026-12-01T07:30:00.250-01:30", want: time.Date(2026, 12, 1, 7, 30, 0, 250e6, time.FixedZone("", -5400)), prec: precTime},
		{in: "2026-12-01T07:30:00", want: time.Date(2026, 12, 1, 7, 30, 0, 0, cph), prec: precTime},
		{in: "2026-12-01T07:30Z", want: time.Date(2026, 12, 1, 7, 30, 0, 0, time.UTC), prec: precTime},
		{in: "2026-12-01", want: time.Date(2026, 12, 1, 0, 0, 0, 0, cph), prec: precDay},
		{in: "2026-12", want: time.Date(2026, 12, 1, 0, 0, 0, 0, cph), prec: precMonth},
		{in: "2026", want: time.Date(2026, 1, 1, 0, 0, 0, 0, cph), prec: precYear},
		{in: "2026-02-30T07:30:00Z", bad: true},
		{in: "2026-12-01T24:30:00Z", bad: true},
		{in: "2026-12-01T07:30:00+0200", bad: true},
		{in: "2026-12-01 07:30:00Z", bad: true},
		{in: "2026-12-0aT07:30:00Z", bad: true},
		{in: "", bad: true},
	} {
		got, prec, err := parseTime(c.in, cph)
		if c.bad {
			if err == nil {
				t.Errorf("%q: got %v, want an error", c.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(c.want) || prec != c.prec {
			t.Errorf("%q: got %v (precision %d), %v; want %v (precision %d)", c.in, got, prec, err, c.want, c.prec)
		}
		_, gotOff := got.Zone()
		_, wantOff := c.want.Zone()
		if gotOff != wantOff {
			t.Errorf("%q: offset %d, want %d (the source's own)", c.in, gotOff, wantOff)
		}
	}
}
