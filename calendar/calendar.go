// Package calendar writes what a viewer may see of a patient's timeline as
// iCalendar (RFC 5545, with RFC 7986's NAME and REFRESH-INTERVAL), for
// calendar apps: a whole feed that an app subscribes to, or one event to
// download. It renders a view.View, the one authorized read, and nothing
// else, so restricted entries appear exactly as the view gives them.
//
// Each entry of the window is one VEVENT. Its UID is a hash of the entry's
// ID under a scope of the caller's (a feed's ID), so it is stable across
// refreshes, differs between two feeds of the same timeline and tells
// nothing about the entry or the patient. SEQUENCE and DTSTAMP follow the
// entry's last update at its source (meta.lastUpdated, an iCalendar
// source's LAST-MODIFIED), so they change when it does; an entry whose
// source never says has SEQUENCE 0 and a fixed DTSTAMP. Nothing depends on
// the build itself: the same entries always render to the same bytes, so a
// feed whose entries did not change can be answered 304 however often the
// timeline was rebuilt.
// Cancelled entries stay, STATUS:CANCELLED, for 30 days after they were
// cancelled, so calendars show or drop them, and then leave the feed.
package calendar

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/view"
)

// KeepCancelled is how long after it was cancelled an entry stays in a
// feed as cancelled.
const KeepCancelled = 30 * 24 * time.Hour

// DefaultRefresh is how often a feed asks calendar apps to fetch it again.
const DefaultRefresh = time.Hour

// prodID names the program that made the calendar (RFC 5545 section 3.7.3).
const prodID = "-//Overblik//Overblik kalender//DA"

// Texts are the words of a calendar in one language; the caller (web)
// fills them from its catalog. Formats take the explicit argument %[1]s.
type Texts struct {
	// Title is an entry's title as a person reads it: the source's, a
	// generic one for a source that shares only time and place, or the
	// kind of entry. Required.
	Title func(e *aggregator.Entry) string
	// Medium names how the patient meets the care giver ("Video",
	// "Telefon", "Hjemmebesøg"); "" for in person.
	Medium func(m aggregator.Medium) string
	// Name is the calendar's name with the patient's name ("Aftaler for
	// %[1]s"); NameNone when the view has no name.
	Name, NameNone string
	// Cancelled is the summary of a cancelled entry ("Aflyst: %[1]s").
	Cancelled string
	// Labels of the lines of DESCRIPTION.
	Instruction, With, Contact, Source, Video string
}

// Options say how to write a calendar.
type Options struct {
	// Location is the zone all-day dates are read in and local times are
	// written in, with a VTIMEZONE of its own; nil is UTC.
	Location *time.Location
	// UTC writes every time in UTC, without a VTIMEZONE.
	UTC bool
	// Now is when the calendar is written: it decides which cancelled
	// entries are still shown. Zero is the timeline's build time.
	Now time.Time
	// Scope is what UIDs are derived from with the entry's ID: a feed's
	// ID, so two feeds never share a UID. Required.
	Scope string
	// Refresh is the REFRESH-INTERVAL of a feed; DefaultRefresh when zero.
	Refresh time.Duration
	Texts   Texts
}

// Feed writes v's timeline as a calendar to subscribe to: one VEVENT per
// entry of the window, cancelled ones only within KeepCancelled of their
// cancellation, named after the patient.
func Feed(v *view.View, o Options) []byte {
	o = o.withDefaults(v)
	var es []*aggregator.Entry
	for i := range v.Timeline.Entries {
		e := &v.Timeline.Entries[i]
		if show(e, o.Now) {
			es = append(es, e)
		}
	}
	w := &writer{}
	begin(w, o)
	name := o.Texts.NameNone
	if v.Name != "" {
		name = fmt.Sprintf(o.Texts.Name, v.Name)
	}
	if name != "" {
		w.text("NAME", name)
		w.text("X-WR-CALNAME", name)
	}
	refresh := duration(o.Refresh)
	w.line("REFRESH-INTERVAL", refresh, "VALUE=DURATION")
	w.line("X-PUBLISHED-TTL", refresh)
	end(w, v, o, es)
	return w.b.Bytes()
}

// Event writes the entry of v's timeline with the given ID as a calendar
// of one event, to download into a calendar; ok=false when v has no such
// entry. A cancelled entry is written cancelled, however long ago.
func Event(v *view.View, id string, o Options) (ics []byte, ok bool) {
	o = o.withDefaults(v)
	for i := range v.Timeline.Entries {
		if e := &v.Timeline.Entries[i]; e.ID == id {
			w := &writer{}
			begin(w, o)
			end(w, v, o, []*aggregator.Entry{e})
			return w.b.Bytes(), true
		}
	}
	return nil, false
}

func (o Options) withDefaults(v *view.View) Options {
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Location == time.UTC || o.Location.String() == "UTC" || o.Location.String() == "Local" {
		// "Local" names no zone a calendar app knows.
		o.UTC = true
	}
	if o.Now.IsZero() {
		o.Now = v.Timeline.GeneratedAt
	}
	if o.Refresh <= 0 {
		o.Refresh = DefaultRefresh
	}
	if o.Texts.Title == nil {
		o.Texts.Title = func(e *aggregator.Entry) string { return e.Title }
	}
	if o.Texts.Medium == nil {
		o.Texts.Medium = func(aggregator.Medium) string { return "" }
	}
	return o
}

// show reports whether a feed written at now holds e: always, unless it
// was cancelled more than KeepCancelled ago. When the source never said
// when it changed, an entry cancelled is kept while it is in the window.
func show(e *aggregator.Entry, now time.Time) bool {
	if e.Status != aggregator.StatusCancelled || e.Updated.IsZero() {
		return true
	}
	return now.Sub(e.Updated) < KeepCancelled
}

func begin(w *writer, o Options) {
	w.line("BEGIN", "VCALENDAR")
	w.line("VERSION", "2.0")
	w.line("PRODID", prodID)
	w.line("CALSCALE", "GREGORIAN")
	if !o.UTC {
		w.text("X-WR-TIMEZONE", o.Location.String())
	}
}

// end writes the VTIMEZONE for the years the events cover and the events.
func end(w *writer, v *view.View, o Options, es []*aggregator.Entry) {
	if !o.UTC && len(es) > 0 {
		// Whole years, so the zone's part of a feed changes once a year
		// rather than with every entry that comes and goes.
		from, to := es[0].Start, es[0].Start
		for _, e := range es {
			from, to = earliest(from, e.Start), latest(to, e.Start)
			if !e.End.IsZero() {
				to = latest(to, e.End)
			}
		}
		fy, ty := from.In(o.Location).Year(), to.In(o.Location).Year()
		vtimezone(w, o.Location, time.Date(fy, 1, 1, 0, 0, 0, 0, o.Location), time.Date(ty+1, 1, 1, 0, 0, 0, 0, o.Location))
	}
	displays := make(map[string]string, len(v.Timeline.Sources))
	for _, st := range v.Timeline.Sources {
		displays[st.Name] = st.Display
	}
	for _, e := range es {
		event(w, v, o, e, displays[e.Source])
	}
	w.line("END", "VCALENDAR")
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func event(w *writer, v *view.View, o Options, e *aggregator.Entry, source string) {
	w.line("BEGIN", "VEVENT")
	w.line("UID", UID(o.Scope, e.ID))
	stamp := e.Updated
	if stamp.Before(sequenceEpoch) {
		// A source that never says when it changed an entry: a fixed
		// time, not the build's, so the feed's bytes stay the same from
		// build to build (SEQUENCE is 0 for it too).
		stamp = sequenceEpoch
	}
	w.line("DTSTAMP", stamp.UTC().Format(utcLayout))
	if !e.Updated.IsZero() {
		w.line("LAST-MODIFIED", e.Updated.UTC().Format(utcLayout))
	}
	w.line("SEQUENCE", strconv.FormatInt(Sequence(e), 10))
	writeTimes(w, o, e)
	title := o.Texts.Title(e)
	if e.Status == aggregator.StatusCancelled && o.Texts.Cancelled != "" {
		title = fmt.Sprintf(o.Texts.Cancelled, title)
	}
	w.text("SUMMARY", title)
	if loc := location(e.Place); loc != "" {
		w.text("LOCATION", loc)
	}
	if e.Place.Lat != nil && e.Place.Lon != nil && validGeo(*e.Place.Lat, *e.Place.Lon) {
		w.line("GEO", strconv.FormatFloat(*e.Place.Lat, 'f', -1, 64)+";"+strconv.FormatFloat(*e.Place.Lon, 'f', -1, 64))
	}
	video := ""
	if e.Medium == aggregator.MediumVideo {
		video = aggregator.SafeURL(e.VideoURL)
	}
	if video != "" {
		w.line("URL", video, "VALUE=URI")
	}
	if d := description(o.Texts, e, source, video); d != "" {
		w.text("DESCRIPTION", d)
	}
	if st := status(e.Status); st != "" {
		w.line("STATUS", st)
	}
	// Health data: a calendar shared with others shows the time as busy,
	// not what it is.
	if e.Sensitivity == aggregator.SensitivityRestricted {
		w.line("CLASS", "CONFIDENTIAL")
	} else {
		w.line("CLASS", "PRIVATE")
	}
	w.line("TRANSP", "OPAQUE")
	w.line("END", "VEVENT")
}

func writeTimes(w *writer, o Options, e *aggregator.Entry) {
	if e.AllDay {
		// Dates in the zone they were given in; DTEND is exclusive, as
		// Entry.End is, and at least the day after the start.
		start := midnight(e.Start.In(o.Location))
		end := start.AddDate(0, 0, 1)
		if e.End.After(e.Start) {
			end = latest(end, endDate(e.End.In(o.Location)))
		}
		w.line("DTSTART", start.Format(dateLayout), "VALUE=DATE")
		w.line("DTEND", end.Format(dateLayout), "VALUE=DATE")
		return
	}
	writeDateTime(w, o, "DTSTART", e.Start)
	// An admission still going on has no end: an event of no length at
	// its start, as RFC 5545 reads a DTSTART alone.
	if !e.End.IsZero() && !e.End.Before(e.Start) {
		writeDateTime(w, o, "DTEND", e.End)
	}
}

func midnight(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

// endDate is the exclusive end date of an all-day span ending at end: its
// own date when end is a midnight, the next date otherwise.
func endDate(end time.Time) time.Time {
	if mid := midnight(end); !end.Equal(mid) {
		return mid.AddDate(0, 0, 1)
	}
	return end
}

func writeDateTime(w *writer, o Options, name string, t time.Time) {
	t = t.Truncate(time.Second)
	if o.UTC || !readsBack(t, o.Location) {
		w.line(name, t.UTC().Format(utcLayout))
		return
	}
	w.line(name, t.In(o.Location).Format(localLayout), "TZID="+paramValue(o.Location.String()))
}

// readsBack reports whether t's local time in loc names t alone as RFC
// 5545 reads it: a time in the hour that happens twice when the clocks go
// back means its first occurrence, so the second is written in UTC.
func readsBack(t time.Time, loc *time.Location) bool {
	lt := t.In(loc)
	wall := time.Date(lt.Year(), lt.Month(), lt.Day(), lt.Hour(), lt.Minute(), lt.Second(), 0, time.UTC)
	// The instants whose local time this is, under the offsets around t.
	for _, near := range []time.Time{t.Add(-12 * time.Hour), t.Add(12 * time.Hour)} {
		_, off := near.In(loc).Zone()
		u := wall.Add(-time.Duration(off) * time.Second)
		if u.Before(t) && u.In(loc).Format(localLayout) == lt.Format(localLayout) {
			return false // an earlier instant has the same local time
		}
	}
	return true
}

func location(p aggregator.Place) string {
	switch {
	case p.Name != "" && p.Address != "" && !strings.Contains(p.Address, p.Name):
		return p.Name + ", " + p.Address
	case p.Address != "":
		return p.Address
	}
	return p.Name
}

func validGeo(lat, lon float64) bool {
	return !math.IsNaN(lat) && !math.IsNaN(lon) && lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180
}

// description says, one line each, what the entry is about, what to do,
// how and with whom, whom to call and where it comes from.
func description(t Texts, e *aggregator.Entry, source, video string) string {
	var lines []string
	add := func(label, s string) {
		s = strings.TrimSpace(s)
		switch {
		case s == "":
		case label == "":
			lines = append(lines, s)
		default:
			lines = append(lines, label+": "+s)
		}
	}
	add("", e.Description)
	add(t.Instruction, e.Instruction)
	if m := t.Medium(e.Medium); m != "" {
		add("", m)
	}
	add(t.Video, video)
	with := append([]string(nil), e.People...)
	if e.Organization != "" {
		with = append(with, e.Organization)
	}
	add(t.With, strings.Join(with, ", "))
	add(t.Contact, e.Contact)
	add(t.Source, source)
	return strings.Join(lines, "\n")
}

// status maps the patient-facing status: what is not yet confirmed is
// tentative, what is cancelled cancelled, what is unknown left unsaid.
func status(s aggregator.Status) string {
	switch s {
	case aggregator.StatusTentative:
		return "TENTATIVE"
	case aggregator.StatusCancelled:
		return "CANCELLED"
	case aggregator.StatusUnknown, "":
		return ""
	}
	return "CONFIRMED"
}

// UID is the iCalendar UID of the entry with id in scope: a hash, so it
// names neither the entry nor the patient, stable as long as both are.
func UID(scope, id string) string {
	sum := sha256.Sum256([]byte("overblik calendar uid\x00" + scope + "\x00" + id))
	return hex.EncodeToString(sum[:16]) + "@overblik"
}

// sequenceEpoch is where SEQUENCE counts from: the seconds since then of
// the entry's last update grow with every update and fit the 31 bits RFC
// 5545's INTEGER has until 2088.
var sequenceEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// Sequence is an entry's SEQUENCE: the seconds from 2020 to its last
// update at the source, so a later revision has a greater number; 0 when
// the source never said (or before 2020).
func Sequence(e *aggregator.Entry) int64 {
	if e.Updated.Before(sequenceEpoch) {
		return 0
	}
	return min(int64(e.Updated.Sub(sequenceEpoch)/time.Second), math.MaxInt32)
}

// duration is a DURATION value (RFC 5545 section 3.3.6) of whole minutes.
func duration(d time.Duration) string {
	m := int64(d / time.Minute)
	if m < 1 {
		m = 1
	}
	switch {
	case m%(24*60) == 0:
		return "P" + strconv.FormatInt(m/(24*60), 10) + "D"
	case m%60 == 0:
		return "PT" + strconv.FormatInt(m/60, 10) + "H"
	}
	return "PT" + strconv.FormatInt(m, 10) + "M"
}
