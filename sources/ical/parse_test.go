package ical

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func hmacHex(key []byte, v string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(v))
	return hex.EncodeToString(m.Sum(nil))
}

func TestParseLine(t *testing.T) {
	tests := []struct {
		line string
		want property
		err  bool
	}{
		{line: "SUMMARY:Hello", want: property{Name: "SUMMARY", Value: "Hello"}},
		{line: "summary:lower case name", want: property{Name: "SUMMARY", Value: "lower case name"}},
		{line: "DTSTART;TZID=Europe/Copenhagen:20261201T100000", want: property{Name: "DTSTART", Params: map[string][]string{"TZID": {"Europe/Copenhagen"}}, Value: "20261201T100000"}},
		{line: `ORGANIZER;CN="Doe: Jane; MD";ROLE=CHAIR:mailto:j@x.example`, want: property{Name: "ORGANIZER", Params: map[string][]string{"CN": {"Doe: Jane; MD"}, "ROLE": {"CHAIR"}}, Value: "mailto:j@x.example"}},
		{line: `CONFERENCE;FEATURE=VIDEO,AUDIO:https://x.example/a:b`, want: property{Name: "CONFERENCE", Params: map[string][]string{"FEATURE": {"VIDEO", "AUDIO"}}, Value: "https://x.example/a:b"}},
		{line: `X-EMPTY:`, want: property{Name: "X-EMPTY", Value: ""}},
		{line: "no colon", err: true},
		{line: ":value", err: true},
		{line: `X;P="unterminated:v`, err: true},
		{line: `X;P:v`, err: true},
		{line: `BAD NAME:v`, err: true},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			got, err := parseLine(tc.line)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if !tc.err && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestUnfoldAndUnescape(t *testing.T) {
	in := "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDESCRIPTION:a\\, b\\; c\\n\r\n d\\\\e\r\n\tf\nUID:x\nEND:VEVENT\r\nEND:VCALENDAR"
	cals, err := parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	ev := cals[0].Subs[0]
	if got, want := text(ev, "DESCRIPTION"), "a, b; c\nd\\ef"; got != want {
		t.Errorf("description = %q, want %q", got, want)
	}
	if got, want := splitText(`Pleje\, personlig,Hjemmepleje`), []string{"Pleje, personlig", "Hjemmepleje"}; !reflect.DeepEqual(got, want) {
		t.Errorf("splitText = %q, want %q", got, want)
	}
}

func TestParseRejectsBrokenCalendars(t *testing.T) {
	tests := map[string]string{
		"cut off":          "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:20261201T100000Z\n",
		"no calendar":      "BEGIN:VEVENT\nEND:VEVENT\n",
		"empty":            "",
		"json":             `{"resourceType":"Bundle"}`,
		"html":             "<!doctype html><html><body>Log ind</body></html>",
		"wrong END":        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nEND:VCALENDAR\nEND:VEVENT\n",
		"junk line":        "BEGIN:VCALENDAR\nthis is not a content line\nEND:VCALENDAR\n",
		"too deep nesting": "BEGIN:VCALENDAR\n" + strings.Repeat("BEGIN:X\n", 10) + strings.Repeat("END:X\n", 10) + "END:VCALENDAR\n",
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := parse([]byte(in)); !errors.Is(err, errMalformed) {
				t.Errorf("err = %v, want errMalformed", err)
			}
		})
	}
}

func TestDuration(t *testing.T) {
	start := time.Date(2026, 10, 24, 10, 0, 0, 0, cph)
	tests := []struct {
		in   string
		want time.Time
		err  bool
	}{
		{in: "PT45M", want: start.Add(45 * time.Minute)},
		{in: "PT1H30M15S", want: start.Add(time.Hour + 30*time.Minute + 15*time.Second)},
		{in: "P1D", want: time.Date(2026, 10, 25, 10, 0, 0, 0, cph)}, // 25 real hours
		{in: "P1W", want: time.Date(2026, 10, 31, 10, 0, 0, 0, cph)},
		{in: "P1DT2H", want: time.Date(2026, 10, 25, 12, 0, 0, 0, cph)},
		{in: "+PT1H", want: start.Add(time.Hour)},
		{in: "-PT1H", want: start.Add(-time.Hour)},
		{in: "P", err: true},
		{in: "PT", err: true},
		{in: "1H", err: true},
		{in: "P1H", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			d, err := parseDuration(tc.in)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if got := d.addTo(start); !tc.err && !got.Equal(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestZones(t *testing.T) {
	tests := []struct {
		tzid    string
		want    string
		unknown bool
	}{
		{"Europe/Copenhagen", "Europe/Copenhagen", false},
		{"/Europe/Copenhagen", "Europe/Copenhagen", false},
		{"/mozilla.org/20050126_1/Europe/Copenhagen", "Europe/Copenhagen", false},
		{"/citadel.org/20190914_1/America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires", false},
		{"Romance Standard Time", "Europe/Copenhagen", false},
		{"Customized Time Zone", "UTC", true},
		{"../../etc/passwd", "UTC", true},
	}
	for _, tc := range tests {
		t.Run(tc.tzid, func(t *testing.T) {
			z := &zones{fallback: time.UTC}
			check(t, "zone", z.location(tc.tzid).String(), tc.want)
			check(t, "unknown", z.unknown, tc.unknown)
		})
	}
}
