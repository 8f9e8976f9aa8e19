package ical

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// errMalformed is a calendar that cannot be read as a whole: the feed is
// broken or cut off, and any entries read from it could be incomplete.
var errMalformed = errors.New("malformed iCalendar")

// maxDepth bounds component nesting (VCALENDAR > VEVENT > VALARM is 3).
const maxDepth = 8

// property is one content line: NAME;PARAM=a,b:value (RFC 5545 3.1).
type property struct {
	Name   string              // upper case
	Params map[string][]string // upper-case names; values unquoted
	Value  string              // as sent; TEXT values still escaped
}

func (p property) param(name string) string {
	if vs := p.Params[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// component is a BEGIN:X ... END:X block.
type component struct {
	Name  string
	Props []property
	Subs  []*component
}

// prop returns the first property called name.
func (c *component) prop(name string) (property, bool) {
	for _, p := range c.Props {
		if p.Name == name {
			return p, true
		}
	}
	return property{}, false
}

// parse reads an iCalendar stream and returns its VCALENDAR components. It
// fails on anything that makes the stream as a whole untrustworthy: no
// VCALENDAR, unbalanced BEGIN/END (a cut-off feed), unparsable lines.
func parse(data []byte) ([]*component, error) {
	text := string(data)
	text = strings.TrimPrefix(text, "\uFEFF")
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	var (
		cals  []*component
		stack []*component
	)
	lineNo := 0
	err := unfold(text, func(line string, n int) error {
		lineNo = n
		if strings.TrimSpace(line) == "" {
			return nil
		}
		p, err := parseLine(line)
		if err != nil {
			return err
		}
		switch p.Name {
		case "BEGIN":
			name := strings.ToUpper(p.Value)
			if name == "" {
				return errors.New("BEGIN without a name")
			}
			if len(stack) == 0 && name != "VCALENDAR" {
				return fmt.Errorf("%s outside VCALENDAR", shortName(name))
			}
			if len(stack) >= maxDepth {
				return errors.New("components nested too deep")
			}
			c := &component{Name: name}
			if len(stack) > 0 {
				top := stack[len(stack)-1]
				top.Subs = append(top.Subs, c)
			}
			stack = append(stack, c)
		case "END":
			if len(stack) == 0 || stack[len(stack)-1].Name != strings.ToUpper(p.Value) {
				return fmt.Errorf("END:%s does not close the open component", shortName(p.Value))
			}
			c := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				cals = append(cals, c)
			}
		default:
			if len(stack) == 0 {
				return errors.New("property outside VCALENDAR")
			}
			top := stack[len(stack)-1]
			top.Props = append(top.Props, p)
		}
		return nil
	})
	if err != nil {
		// Line numbers help a support person; content could be personal.
		return nil, fmt.Errorf("line %d: %w: %w", lineNo, errMalformed, err)
	}
	if len(stack) > 0 {
		return nil, fmt.Errorf("%w: %s not closed (cut off?)", errMalformed, shortName(stack[len(stack)-1].Name))
	}
	if len(cals) == 0 {
		return nil, fmt.Errorf("%w: no VCALENDAR", errMalformed)
	}
	return cals, nil
}

// unfold calls fn with each logical line (RFC 5545 3.1: a line break
// followed by a space or tab continues the line; CRLF or bare LF).
func unfold(text string, fn func(line string, lineNo int) error) error {
	var cur strings.Builder
	start, n := 0, 0
	for len(text) > 0 {
		i := strings.IndexByte(text, '\n')
		var line string
		if i < 0 {
			line, text = text, ""
		} else {
			line, text = text[:i], text[i+1:]
		}
		line = strings.TrimSuffix(line, "\r")
		n++
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') && n > 1 {
			cur.WriteString(line[1:])
			continue
		}
		if n > 1 {
			if err := fn(cur.String(), start); err != nil {
				return err
			}
		}
		cur.Reset()
		cur.WriteString(line)
		start = n
	}
	if n > 0 {
		return fn(cur.String(), start)
	}
	return nil
}

// parseLine splits a content line into name, parameters and value.
func parseLine(line string) (property, error) {
	i := strings.IndexAny(line, ";:")
	if i <= 0 {
		return property{}, errors.New("not a content line")
	}
	p := property{Name: strings.ToUpper(line[:i])}
	if !validName(p.Name) {
		return property{}, errors.New("bad property name")
	}
	rest := line[i:]
	for rest[0] == ';' {
		rest = rest[1:]
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return property{}, fmt.Errorf("%s: parameter without a value", p.Name)
		}
		pname := strings.ToUpper(rest[:eq])
		if !validName(pname) {
			return property{}, fmt.Errorf("%s: bad parameter name", p.Name)
		}
		rest = rest[eq+1:]
		var vals []string
		for {
			var v string
			if strings.HasPrefix(rest, `"`) {
				end := strings.IndexByte(rest[1:], '"')
				if end < 0 {
					return property{}, fmt.Errorf("%s: unterminated quoted parameter", p.Name)
				}
				v, rest = rest[1:1+end], rest[2+end:]
			} else {
				end := strings.IndexAny(rest, ",;:")
				if end < 0 {
					return property{}, fmt.Errorf("%s: no value", p.Name)
				}
				v, rest = rest[:end], rest[end:]
			}
			vals = append(vals, v)
			if rest == "" {
				return property{}, fmt.Errorf("%s: no value", p.Name)
			}
			if rest[0] != ',' {
				break
			}
			rest = rest[1:]
		}
		if p.Params == nil {
			p.Params = map[string][]string{}
		}
		p.Params[pname] = append(p.Params[pname], vals...)
		if rest[0] != ';' && rest[0] != ':' {
			return property{}, fmt.Errorf("%s: junk after parameter", p.Name)
		}
	}
	p.Value = rest[1:]
	return p, nil
}

// validName: iana-token or x-name (ALPHA, DIGIT, "-").
func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return s != ""
}

// shortName makes a feed-supplied component name safe to quote in an error.
func shortName(s string) string {
	s = strings.ToUpper(s)
	if len(s) > 20 || !validName(s) {
		return "?"
	}
	return s
}

// unescapeText undoes TEXT escaping (RFC 5545 3.3.11).
func unescapeText(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n', 'N':
			b.WriteByte('\n')
		default: // \\ \; \, and, leniently, anything else as itself
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// zones resolves TZIDs once per calendar.
type zones struct {
	fallback *time.Location
	floating *time.Location // the calendar's X-WR-TIMEZONE for floating times; nil: fallback
	cache    map[string]*time.Location
	unknown  bool // some TZID was not understood and fell back
}

// windowsZones maps the Windows zone names Outlook and Exchange export to an
// IANA zone with the same rules today.
var windowsZones = map[string]string{
	"Romance Standard Time":          "Europe/Copenhagen",
	"W. Europe Standard Time":        "Europe/Berlin",
	"Central Europe Standard Time":   "Europe/Budapest",
	"Central European Standard Time": "Europe/Warsaw",
	"GMT Standard Time":              "Europe/London",
	"Greenwich Standard Time":        "Atlantic/Reykjavik",
	"FLE Standard Time":              "Europe/Helsinki",
	"UTC":                            "UTC",
	"Coordinated Universal Time":     "UTC",
}

// location resolves a TZID: an IANA name (also behind a "/" or a vendor
// prefix such as /mozilla.org/20050126_1/Europe/Copenhagen), a known Windows
// name, or else the configured zone. A VTIMEZONE's own rules are not read:
// feeds in practice name IANA or Windows zones, and reading rules would be a
// second tz database to get wrong.
func (z *zones) location(tzid string) *time.Location {
	if l, ok := z.cache[tzid]; ok {
		return l
	}
	l := z.resolve(tzid)
	if l == nil {
		l = z.fallback
		z.unknown = true
	}
	if z.cache == nil {
		z.cache = map[string]*time.Location{}
	}
	z.cache[tzid] = l
	return l
}

func (z *zones) resolve(tzid string) *time.Location {
	if name, ok := windowsZones[tzid]; ok {
		tzid = name
	}
	parts := strings.Split(strings.Trim(tzid, "/"), "/")
	// Try the whole name, then shorter and shorter tails: "Area/City" or
	// "Area/Region/City" behind a vendor prefix.
	for i := 0; i < len(parts) && i < 6; i++ {
		name := strings.Join(parts[i:], "/")
		if name == "" || len(name) > 64 || strings.ContainsAny(name, " \\") || name == "Local" {
			continue
		}
		if l, err := time.LoadLocation(name); err == nil {
			return l
		}
	}
	return nil
}

// instant is a DATE or DATE-TIME value.
type instant struct {
	t      time.Time
	allDay bool // a DATE: the day in the configured zone
}

var (
	reDate     = regexp.MustCompile(`^(\d{4})(\d{2})(\d{2})$`)
	reDateTime = regexp.MustCompile(`^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(Z?)$`)
)

// parseInstant reads DTSTART, DTEND, RECURRENCE-ID and similar: a DATE (in
// the configured zone), a UTC DATE-TIME, one with a TZID, or a floating one
// (read in the configured zone).
func (z *zones) parseInstant(p property) (instant, error) {
	v := strings.TrimSpace(p.Value)
	isDate := strings.EqualFold(p.param("VALUE"), "DATE") || reDate.MatchString(v)
	if isDate {
		m := reDate.FindStringSubmatch(v)
		if m == nil {
			return instant{}, fmt.Errorf("%s is not a DATE", p.Name)
		}
		y, mo, d := atoi(m[1]), atoi(m[2]), atoi(m[3])
		if !validDate(y, mo, d) {
			return instant{}, fmt.Errorf("%s: no such date", p.Name)
		}
		return instant{t: time.Date(y, time.Month(mo), d, 0, 0, 0, 0, z.fallback), allDay: true}, nil
	}
	m := reDateTime.FindStringSubmatch(v)
	if m == nil {
		return instant{}, fmt.Errorf("%s is not a DATE-TIME", p.Name)
	}
	y, mo, d := atoi(m[1]), atoi(m[2]), atoi(m[3])
	h, mi, s := atoi(m[4]), atoi(m[5]), atoi(m[6])
	if !validDate(y, mo, d) || h > 23 || mi > 59 || s > 60 {
		return instant{}, fmt.Errorf("%s: no such time", p.Name)
	}
	if s == 60 { // a leap second: Go has none
		s = 59
	}
	loc := z.fallback
	if z.floating != nil {
		loc = z.floating
	}
	switch {
	case m[7] == "Z":
		loc = time.UTC
	case p.param("TZID") != "":
		loc = z.location(p.param("TZID"))
	}
	return instant{t: time.Date(y, time.Month(mo), d, h, mi, s, 0, loc)}, nil
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func validDate(y, m, d int) bool {
	return m >= 1 && m <= 12 && d >= 1 && d <= time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// duration is a DURATION value: weeks and days are nominal (they keep the
// wall-clock time across a DST change), hours, minutes and seconds exact
// (RFC 5545 3.3.6).
type duration struct {
	neg   bool
	days  int
	exact time.Duration
}

var reDuration = regexp.MustCompile(`^([+-])?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`)

func parseDuration(s string) (duration, error) {
	m := reDuration.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil || s == "P" || strings.HasSuffix(s, "T") || len(s) > 40 {
		return duration{}, errors.New("DURATION does not parse")
	}
	if m[2] == "" && m[3] == "" && m[4] == "" && m[5] == "" && m[6] == "" {
		return duration{}, errors.New("DURATION does not parse")
	}
	num := func(v string) int {
		n, _ := strconv.Atoi(v)
		return min(n, 100_000) // a bound that keeps the arithmetic sane
	}
	return duration{
		neg:   m[1] == "-",
		days:  7*num(m[2]) + num(m[3]),
		exact: time.Duration(num(m[4]))*time.Hour + time.Duration(num(m[5]))*time.Minute + time.Duration(num(m[6]))*time.Second,
	}, nil
}

func (d duration) addTo(t time.Time) time.Time {
	if d.neg {
		return t.Add(-d.exact).AddDate(0, 0, -d.days)
	}
	return t.AddDate(0, 0, d.days).Add(d.exact)
}
