package fhirsim

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	defaultCount = 50
	maxCount     = 500
)

// parseTime reads a FHIR date, dateTime or instant as the range its precision
// covers: "2026" is the whole year, "2026-03-29" the whole day,
// "2026-03-29T09:00:00+02:00" one second. Values without an offset are in
// zone. Hours and minutes without seconds are accepted, as search values
// often come that way.
func parseTime(s string, zone *time.Location) (time.Time, time.Time, error) {
	switch len(s) {
	case 4:
		t, err := time.ParseInLocation("2006", s, zone)
		return t, t.AddDate(1, 0, 0), err
	case 7:
		t, err := time.ParseInLocation("2006-01", s, zone)
		return t, t.AddDate(0, 1, 0), err
	case 10:
		t, err := time.ParseInLocation("2006-01-02", s, zone)
		return t, t.AddDate(0, 0, 1), err
	}
	date, clock, ok := strings.Cut(s, "T")
	if !ok || len(date) != 10 {
		return time.Time{}, time.Time{}, fmt.Errorf("invalid date %q", s)
	}
	zoned := strings.HasSuffix(clock, "Z") || strings.ContainsAny(clock, "+-")
	// Precision: the time's own text, without the zone.
	bare := clock
	if i := strings.IndexAny(bare, "Z+-"); i >= 0 {
		bare = bare[:i]
	}
	var layout string
	var step time.Duration
	switch {
	case len(bare) == 5:
		layout, step = "2006-01-02T15:04", time.Minute
	case len(bare) == 8:
		layout, step = "2006-01-02T15:04:05", time.Second
	case len(bare) > 9 && bare[8] == '.' && len(bare) <= 18:
		layout, step = "2006-01-02T15:04:05", time.Second
		for range len(bare) - 9 {
			step /= 10
		}
	default:
		return time.Time{}, time.Time{}, fmt.Errorf("invalid dateTime %q", s)
	}
	var t time.Time
	var err error
	if zoned {
		t, err = time.Parse(layout+"Z07:00", s)
	} else {
		t, err = time.ParseInLocation(layout, s, zone)
	}
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("invalid dateTime %q: %w", s, err)
	}
	return t, t.Add(step), nil
}

// dateFilter is one value of a date parameter: prefix and range.
type dateFilter struct {
	prefix string
	p      interval
}

func parseDateFilter(v string, zone *time.Location) (dateFilter, error) {
	// An unencoded "+" of an offset arrives as a space.
	v = strings.ReplaceAll(v, " ", "+")
	prefix := "eq"
	if len(v) >= 2 && v[0] >= 'a' && v[0] <= 'z' {
		prefix, v = v[:2], v[2:]
		switch prefix {
		case "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb":
		default:
			return dateFilter{}, fmt.Errorf("unsupported date prefix %q", prefix)
		}
	}
	lo, hi, err := parseTime(v, zone)
	if err != nil {
		return dateFilter{}, err
	}
	return dateFilter{prefix: prefix, p: interval{lo: lo, hi: hi}}, nil
}

// match compares the parameter range p with the target range t. ge, gt, le
// and lt test whether any part of t lies at/after/before p (the reading
// HAPI uses), so date=geFROM&date=ltTO finds every Encounter whose period
// overlaps [FROM, TO) and every Appointment starting in it. eq needs t within
// p; sa and eb need t wholly after or before p.
func (f dateFilter) match(t *interval) bool {
	if t == nil {
		return false
	}
	p := f.p
	switch f.prefix {
	case "eq":
		return !t.noLo && !t.noHi && !t.lo.Before(p.lo) && !t.hi.After(p.hi)
	case "ne":
		return !(!t.noLo && !t.noHi && !t.lo.Before(p.lo) && !t.hi.After(p.hi))
	case "gt":
		return t.noHi || t.hi.After(p.hi)
	case "ge":
		return t.noHi || t.hi.After(p.lo)
	case "lt":
		return t.noLo || t.lo.Before(p.lo)
	case "le":
		return t.noLo || t.lo.Before(p.hi)
	case "sa":
		return !t.noLo && !t.lo.Before(p.hi)
	case "eb":
		return !t.noHi && !t.hi.After(p.lo)
	}
	return false
}

// tokenQuery is "system|value", "|value" (no system), "system|" (any value)
// or "value" (any system).
type tokenQuery struct {
	token
	anySystem bool
}

func parseToken(v string) tokenQuery {
	if system, value, ok := strings.Cut(v, "|"); ok {
		return tokenQuery{token: token{system: system, value: value}}
	}
	return tokenQuery{token: token{value: v}, anySystem: true}
}

func (q tokenQuery) match(ids []token) bool {
	for _, id := range ids {
		if q.value != "" && id.value != q.value {
			continue
		}
		if q.anySystem || id.system == q.system {
			return true
		}
	}
	return false
}

// query is a parsed search. Each filter is one parameter occurrence; its
// comma-separated values are ORed, the occurrences ANDed.
type query struct {
	filters []func(*resource) bool
	count   int
	offset  int
}

// parseQuery reads the supported parameters for resourceType and ignores the
// rest, as FHIR's default lenient handling does.
func parseQuery(resourceType string, values url.Values, zone *time.Location) (query, error) {
	q := query{count: defaultCount}
	for name, occurrences := range values {
		base, modifier, _ := strings.Cut(name, ":")
		for _, occ := range occurrences {
			f, err := filterFor(resourceType, base, modifier, occ, zone)
			if err != nil {
				return query{}, fmt.Errorf("parameter %s: %w", name, err)
			}
			if f != nil {
				q.filters = append(q.filters, f)
			}
		}
	}
	if v := values.Get("_count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return query{}, fmt.Errorf("_count %q is not a non-negative number", v)
		}
		q.count = min(n, maxCount)
	}
	if values.Get("_summary") == "count" {
		q.count = 0
	}
	if v := values.Get("_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return query{}, fmt.Errorf("_page %q is not a page token of this server", v)
		}
		q.offset = n
	}
	return q, nil
}

func filterFor(resourceType, name, modifier, value string, zone *time.Location) (func(*resource) bool, error) {
	supported := true
	switch name {
	case "_id", "identifier":
	case "_lastUpdated":
	case "patient", "subject":
		supported = resourceType != "Patient"
	case "date":
		supported = resourceType == "Appointment" || resourceType == "Encounter"
	default:
		supported = false
	}
	if !supported {
		return nil, nil
	}
	if modifier != "" && !((name == "patient" || name == "subject") && modifier == "Patient") {
		return nil, fmt.Errorf("unsupported modifier :%s", modifier)
	}
	values := strings.Split(value, ",")
	switch name {
	case "_id":
		return func(r *resource) bool {
			for _, v := range values {
				if r.id == v {
					return true
				}
			}
			return false
		}, nil
	case "identifier":
		tokens := make([]tokenQuery, len(values))
		for i, v := range values {
			tokens[i] = parseToken(v)
		}
		return func(r *resource) bool {
			for _, t := range tokens {
				if t.match(r.identifiers) {
					return true
				}
			}
			return false
		}, nil
	case "patient", "subject":
		var ids []string
		for _, v := range values {
			id, ok := refID(v, "Patient", true)
			if !ok {
				return nil, fmt.Errorf("%q is not a Patient reference", v)
			}
			ids = append(ids, id)
		}
		return func(r *resource) bool {
			for _, id := range ids {
				for _, p := range r.patients {
					if p == id {
						return true
					}
				}
			}
			return false
		}, nil
	}
	// date and _lastUpdated
	var filters []dateFilter
	for _, v := range values {
		f, err := parseDateFilter(v, zone)
		if err != nil {
			return nil, err
		}
		filters = append(filters, f)
	}
	target := func(r *resource) *interval { return r.date }
	if name == "_lastUpdated" {
		target = func(r *resource) *interval { return r.lastUpdated }
	}
	return func(r *resource) bool {
		for _, f := range filters {
			if f.match(target(r)) {
				return true
			}
		}
		return false
	}, nil
}

func (q query) matches(r *resource) bool {
	for _, f := range q.filters {
		if !f(r) {
			return false
		}
	}
	return true
}
