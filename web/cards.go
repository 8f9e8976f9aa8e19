package web

import (
	"html/template"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/overblik/overblik/aggregator"
)

// The cards of a patient's or relative's timeline: what makes a long list
// short (recurring visits as one card, each conflict said once), what a
// reader does next (the next appointment, a cancelled time's new one) and
// the actions people expect (call, find the place, add to a calendar).

// groupView is a card that stands for several like visits.
type groupView struct {
	Summary string // "Hver dag, 3.–5. dec (3 gange)"
	Show    string // the summary of the list of visits
	Visits  []visitView
}

// visitView is one visit of a grouped card.
type visitView struct {
	N        int // position on the timeline: the element id
	Day      string
	StartISO string
	ICS      string
}

// linkView is a link to another card of the page.
type linkView struct {
	Href string
	Text string
}

// nextView is the page's "Næste aftale": what, when, where.
type nextView struct {
	What, When, Where string
	Href              string
}

// Recurring visits: at least minRun like visits a day or a week apart.
const minRun = 3

// run is one set of like visits the page shows as one card.
type run struct {
	members []int // timeline positions, in time order
	weekly  bool
}

// recurringKey is what the visits of one card share: everything the card
// shows but the day, so grouping hides nothing.
type recurringKey struct {
	section                     int
	source, title, organization string
	people, place, address      string
	contact, medium, video      string
	instruction, description    string
	status, kind                string
	sensitivity                 string // the patient's "only for you" label is per card
	generic, stale, allDay      bool
	startClock, endClock        string
	duration                    time.Duration
}

// recurring finds the runs of like visits among the entries, each within
// its section of the page (earlier, today, upcoming): the same source,
// title, organisation and everything else the card shows, at the same time
// of day, on consecutive days or a week apart, at least minRun of them. An
// entry skip refuses (in a conflict, changed since the reader last looked)
// and a cancelled, missed or joint one keeps a card of its own, so nothing
// the reader must see is folded away.
func recurring(entries []aggregator.Entry, loc *time.Location, section func(i int) int, skip func(i int) bool) []run {
	byKey := map[recurringKey][]int{}
	var keys []recurringKey // in order of first appearance: the result is stable
	for i := range entries {
		e := &entries[i]
		if skip(i) || !groupable(e, loc) {
			continue
		}
		start, end := e.Start.In(loc), e.End.In(loc)
		k := recurringKey{section: section(i), source: e.Source, title: e.Title, organization: e.Organization,
			people: strings.Join(e.People, "\x00"), place: e.Place.Name, address: e.Place.Address,
			contact: e.Contact, medium: string(e.Medium), video: e.VideoURL,
			instruction: e.Instruction, description: e.Description, status: string(e.Status), kind: string(e.Kind),
			sensitivity: string(e.Sensitivity), generic: e.Generic, stale: e.Stale, allDay: e.AllDay,
			startClock: start.Format("15:04"), endClock: end.Format("15:04"), duration: end.Sub(start)}
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], i)
	}
	var out []run
	for _, k := range keys {
		occ := byKey[k]
		slices.SortStableFunc(occ, func(a, b int) int { return entries[a].Start.Compare(entries[b].Start) })
		day := func(i int) int64 { return civilDay(entries[i].Start.In(loc)) }
		used := map[int]bool{}
		// Daily first: the runs of consecutive days.
		for lo := 0; lo < len(occ); {
			hi := lo + 1
			for hi < len(occ) && day(occ[hi]) == day(occ[hi-1])+1 {
				hi++
			}
			if hi-lo >= minRun {
				out = append(out, run{members: slices.Clone(occ[lo:hi])})
				for _, i := range occ[lo:hi] {
					used[i] = true
				}
			}
			lo = hi
		}
		// Then weekly among the rest.
		onDay := map[int64]int{}
		for _, i := range occ {
			if _, ok := onDay[day(i)]; !ok && !used[i] {
				onDay[day(i)] = i
			}
		}
		for _, i := range occ {
			if used[i] || onDay[day(i)] != i {
				continue
			}
			chain := []int{i}
			for {
				j, ok := onDay[day(chain[len(chain)-1])+7]
				if !ok || used[j] {
					break
				}
				chain = append(chain, j)
			}
			if len(chain) >= minRun {
				out = append(out, run{members: chain, weekly: true})
				for _, j := range chain {
					used[j] = true
				}
			}
		}
	}
	return out
}

// groupable is a visit that may share a card: booked (or done) for one
// stretch of one day, by one source.
func groupable(e *aggregator.Entry, loc *time.Location) bool {
	switch e.Status {
	case aggregator.StatusCancelled, aggregator.StatusNoShow, aggregator.StatusEnteredInError:
		return false
	}
	if e.Kind == aggregator.KindAdmission || len(e.Parts) > 0 || e.End.IsZero() || !e.End.After(e.Start) {
		return false
	}
	last := e.End.In(loc).Add(-time.Nanosecond) // an end at midnight belongs to the day before
	return sameDay(e.Start.In(loc), last)
}

// civilDay numbers the calendar day of t in its own zone, so a week apart
// is 7 across a change to summer time too.
func civilDay(t time.Time) int64 {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// groupView writes the card of a run.
func (s *Server) groupView(tr *translator, tl *aggregator.Timeline, r run, now time.Time, ics func(i int) string) *groupView {
	first, last := tl.Entries[r.members[0]].Start.In(s.loc), tl.Entries[r.members[len(r.members)-1]].Start.In(s.loc)
	span := s.dateSpan(tr, first, last, now)
	g := &groupView{Show: tr.F("group.show", len(r.members))}
	if r.weekly {
		g.Summary = tr.F("group.weekly", tr.T("weekday."+strconv.Itoa(int(first.Weekday()))), span, len(r.members))
	} else {
		g.Summary = tr.F("group.daily", span, len(r.members))
	}
	for _, i := range r.members {
		start := tl.Entries[i].Start.In(s.loc)
		g.Visits = append(g.Visits, visitView{N: i, Day: tr.dayHeading(start), StartISO: start.Format(time.RFC3339), ICS: ics(i)})
	}
	return g
}

// dateSpan is "3.–5. dec" within a month, "28. dec – 4. jan" across months.
func (s *Server) dateSpan(tr *translator, a, b, now time.Time) string {
	if a.Year() == b.Year() && a.Month() == b.Month() && a.Year() == now.In(s.loc).Year() {
		return tr.F("fmt.days_in_month", a.Day(), b.Day(), tr.T("mon."+strconv.Itoa(int(a.Month()))))
	}
	return tr.F("fmt.period", tr.shortDate(a, now), tr.shortDate(b, now))
}

// rebooked pairs each cancelled entry with the entry booked in its place:
// the one that says it replaces it (Entry.Replaces), else one the reader
// would take for the same appointment booked again: from the same source,
// the same service (its codes, or its title when either has none) and
// organisation, starting later and last changed no earlier than the
// cancellation, so a series booked long before is not taken for it. A
// cancelled visit of a series (inSeries) is one visit less, not booked
// again. Only entries on the timeline given are paired, which for a view
// is what its reader may see.
func rebooked(entries []aggregator.Entry, loc *time.Location) map[int]int {
	index := make(map[string]int, len(entries))
	for i := range entries {
		index[entries[i].ID] = i
	}
	out := map[int]int{}
	taken := map[int]bool{}
	for j := range entries {
		for _, id := range entries[j].Replaces {
			if i, ok := index[id]; ok && entries[i].Status == aggregator.StatusCancelled && !taken[j] {
				if _, done := out[i]; !done {
					out[i], taken[j] = j, true
				}
			}
		}
	}
	for i := range entries {
		c := &entries[i]
		if _, done := out[i]; done || c.Status != aggregator.StatusCancelled || c.Kind != aggregator.KindAppointment ||
			inSeries(entries, i, loc) {
			continue
		}
		best := -1
		for j := range entries {
			b := &entries[j]
			if taken[j] || j == i || b.Kind != aggregator.KindAppointment ||
				(b.Status != aggregator.StatusBooked && b.Status != aggregator.StatusTentative) ||
				b.Source != c.Source || b.Organization != c.Organization || !sameService(c, b) ||
				!b.Start.After(c.Start) || b.Updated.Before(c.Updated) {
				continue
			}
			if best < 0 || b.Start.Before(entries[best].Start) {
				best = j
			}
		}
		if best >= 0 {
			out[i], taken[best] = best, true
		}
	}
	return out
}

// inSeries reports whether entry i is a visit of a series: at least
// minRun-1 others of the same source, service and organisation at the same
// time of day on other days. (One other may be the time booked again.)
func inSeries(entries []aggregator.Entry, i int, loc *time.Location) bool {
	c := &entries[i]
	start := c.Start.In(loc)
	others := 0
	for j := range entries {
		o := &entries[j]
		os := o.Start.In(loc)
		if j != i && o.Source == c.Source && o.Organization == c.Organization && sameService(c, o) &&
			os.Format("15:04") == start.Format("15:04") && !sameDay(os, start) {
			others++
		}
	}
	return others >= minRun-1
}

// sameService compares coded services when both have them, else titles.
func sameService(a, b *aggregator.Entry) bool {
	if len(a.ServiceCodes) > 0 && len(b.ServiceCodes) > 0 {
		return slices.ContainsFunc(a.ServiceCodes, func(c string) bool { return slices.Contains(b.ServiceCodes, c) })
	}
	return a.Title != "" && strings.EqualFold(strings.TrimSpace(a.Title), strings.TrimSpace(b.Title))
}

// nextEntry is the position of the next appointment still to come: booked
// or tentative, starting after now; -1 when there is none.
func nextEntry(entries []aggregator.Entry, now time.Time) int {
	next := -1
	for i := range entries {
		e := &entries[i]
		if e.Status != aggregator.StatusBooked && e.Status != aggregator.StatusTentative || !e.Start.After(now) {
			continue
		}
		if next < 0 || e.Start.Before(entries[next].Start) {
			next = i
		}
	}
	return next
}

// where says where an entry happens, or how when it is nowhere to go to.
func where(tr *translator, e *aggregator.Entry) string {
	if place := joinNonEmpty(", ", e.Place.Name, e.Place.Address); place != "" {
		return place
	}
	switch e.Medium {
	case aggregator.MediumVideo, aggregator.MediumPhone, aggregator.MediumHomeVisit:
		return tr.T("medium." + string(e.Medium))
	}
	return ""
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

// phoneHref is a tel: link for a phone number as sources write it ("0000
// 2001", "+45 7845 0000"); "" for anything else, which stays plain text.
// html/template refuses the tel: scheme, so the link is built here from
// digits and a leading plus only.
func phoneHref(s string) template.URL {
	var b strings.Builder
	digits := 0
	for i, r := range strings.TrimSpace(s) {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
			digits++
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return ""
		}
	}
	if digits < 3 {
		return ""
	}
	return template.URL("tel:" + b.String())
}

// mapHref is an OpenStreetMap search for the address of the place where an
// entry happens. Not for a visit at home: that address is the patient's
// own, and they need no map to it.
func mapHref(e *aggregator.Entry) string {
	if e.Place.Address == "" || e.Medium == aggregator.MediumHomeVisit {
		return ""
	}
	return "https://www.openstreetmap.org/search?query=" + url.QueryEscape(e.Place.Address)
}

// withNames lists who an entry is with: its people, then each organisation
// not already named in one of them ("Social- og sundhedshjælper,
// Hjemmeplejen Midtbyen" names Hjemmeplejen Midtbyen).
func withNames(e *aggregator.Entry) []string {
	with := slices.Clone(e.People)
	add := func(org string) {
		if org != "" && !names(with, org) {
			with = append(with, org)
		}
	}
	add(e.Organization)
	for _, pt := range e.Parts {
		add(pt.Organization)
	}
	return with
}

// names reports whether one of list is name or lists it after a comma.
func names(list []string, name string) bool {
	for _, item := range list {
		for _, part := range strings.Split(item, ",") {
			if strings.EqualFold(strings.TrimSpace(part), name) {
				return true
			}
		}
	}
	return false
}

// midnightSpan is an entry from midnight to midnight in loc: all day, as a
// source that gives times instead of dates writes it.
func midnightSpan(e *aggregator.Entry, loc *time.Location) bool {
	if e.End.IsZero() || !e.End.After(e.Start) {
		return false
	}
	midnight := func(t time.Time) bool {
		t = t.In(loc)
		return t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0
	}
	return midnight(e.Start) && midnight(e.End)
}

// anchorOf is the element id a link to entry i goes to: its card, or the
// card of the visits it is one of.
func anchorOf(i int, firstOf map[int]int) string {
	if f, ok := firstOf[i]; ok {
		return "g" + strconv.Itoa(f)
	}
	return "e" + strconv.Itoa(i)
}

// lowerFirst makes "Hele dagen" read on after a date: "3. dec, hele dagen".
func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError {
		return s
	}
	return string(unicode.ToLower(r)) + s[n:]
}
