package ical

import (
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// resourceType names VEVENTs in entry ids and provenance.
const resourceType = "VEVENT"

// normaliser turns the VEVENTs of one feed into entries.
type normaliser struct {
	cfg   *Config
	zones *zones
	// patient holds the forms of the patient's identifier the feed may
	// write in X-PATIENT-ID (see ownedBy); nil reads every event.
	patient []string
}

// patientProp names, on a VCALENDAR or a VEVENT, whose calendar it is: the
// identifier the feed knows the patient by, as is or as the HMAC the feed
// URL gets. An event's own wins over its calendar's.
const patientProp = "X-PATIENT-ID"

// patientForms are the forms of value the feed may write in X-PATIENT-ID.
func patientForms(value string, key []byte) []string {
	forms := []string{canonicalID(value)}
	if key != nil {
		forms = append(forms, canonicalID(identifierMAC(key, value)))
	}
	return forms
}

// canonicalID ignores case (hex, eCPR letters) and dashes (010101-1234).
func canonicalID(s string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(unescapeText(s)), "-", ""))
}

// ownedBy reports whether the event c of cal is the patient's: it, or else
// its calendar, names the patient in X-PATIENT-ID, or neither names anyone.
func (n normaliser) ownedBy(cal, c *component) bool {
	if n.patient == nil {
		return true
	}
	named := false
	for _, comp := range []*component{c, cal} {
		for _, p := range comp.Props {
			if p.Name != patientProp {
				continue
			}
			named = true
			for _, form := range n.patient {
				if canonicalID(p.Value) == form {
					return true
				}
			}
		}
		if named {
			return false
		}
	}
	return true
}

// event is a VEVENT read far enough to place it in time.
type event struct {
	c        *component
	n        int // position in the feed, for notes
	uid      string
	start    instant
	end      time.Time // exclusive
	recurID  string    // RECURRENCE-ID as a UTC instant, "" for none
	rrule    string
	exdates  []property
	sequence string
}

func (n normaliser) batch(cals []*component, w aggregator.Window) aggregator.Batch {
	var b aggregator.Batch
	skip := func(i int, err error) {
		b.Skipped++
		b.Note(fmt.Sprintf("VEVENT #%d skipped: %v", i, err))
	}
	// Another patient's events are counted first, under one note, so the
	// bound on notes never hides them; they are not read at all.
	foreign := 0
	for _, cal := range cals {
		for _, c := range cal.Subs {
			if c.Name == "VEVENT" && !n.ownedBy(cal, c) {
				foreign++
			}
		}
	}
	if foreign > 0 {
		b.Skipped += foreign
		b.Note(fmt.Sprintf("%d events dropped as belonging to another patient (%s)", foreign, patientProp))
	}
	var events []event
	overridden := map[string]bool{} // uid|recurrence-id of instances sent on their own
	i := 0
	for _, cal := range cals {
		// Google and others name the zone of floating times here.
		n.zones.floating = nil
		if tz, ok := cal.prop("X-WR-TIMEZONE"); ok {
			if l := n.zones.resolve(strings.TrimSpace(tz.Value)); l != nil {
				n.zones.floating = l
			}
		}
		for _, c := range cal.Subs {
			if c.Name != "VEVENT" {
				continue
			}
			i++
			if !n.ownedBy(cal, c) {
				continue
			}
			ev, err := n.read(c, i)
			if err != nil {
				skip(i, err)
				continue
			}
			if ev.recurID != "" {
				overridden[ev.uid+"|"+ev.recurID] = true
			}
			if has(c, "RDATE") {
				b.Warnings++
				b.Note(fmt.Sprintf("VEVENT #%d: RDATE is not supported: its extra instances are missing", i))
			}
			events = append(events, ev)
		}
	}
	for _, ev := range events {
		if ev.rrule == "" || ev.recurID != "" {
			if overlaps(ev.start.t, ev.end, w) {
				b.Entries = append(b.Entries, n.entry(ev, ev.start.t, ev.end, ev.recurID))
			}
			continue
		}
		occs, err := expand(ev, w, n.zones)
		if err != nil {
			skip(ev.n, err)
			continue
		}
		for _, o := range occs {
			rid := o.start.UTC().Format(time.RFC3339)
			if overridden[ev.uid+"|"+rid] {
				continue
			}
			b.Entries = append(b.Entries, n.entry(ev, o.start, o.end, rid))
		}
	}
	b.Entries = dedupe(b.Entries, &b)
	for _, e := range b.Entries {
		if e.Status == aggregator.StatusUnknown {
			b.Warnings++
			b.Note(fmt.Sprintf("an event has an unknown STATUS %q", e.FHIRStatus))
		}
	}
	if n.zones.unknown {
		b.Warnings++
		b.Note(fmt.Sprintf("a TZID is not a known zone: its times were read in %s", n.cfg.Location))
	}
	return b
}

// dedupe keeps one entry per id: a feed that repeats a UID (without
// RECURRENCE-ID) sends versions of one event; the highest SEQUENCE, else
// the last, wins.
func dedupe(entries []aggregator.Entry, b *aggregator.Batch) []aggregator.Entry {
	at := make(map[string]int, len(entries))
	out := entries[:0]
	for _, e := range entries {
		i, seen := at[e.ID]
		if !seen {
			at[e.ID] = len(out)
			out = append(out, e)
			continue
		}
		b.Skipped++
		b.Note("an event's UID is repeated: one version kept")
		if seq(e) >= seq(out[i]) {
			out[i] = e
		}
	}
	return out
}

func seq(e aggregator.Entry) int {
	n, _ := strconv.Atoi(e.Provenance[0].Version)
	return n
}

// daysBetween counts the whole days between two midnights of one zone; a
// DST change makes a day 23 or 25 hours, which rounding absorbs.
func daysBetween(a, b time.Time) int {
	return int(math.Round(b.Sub(a).Hours() / 24))
}

// overlaps reports whether [start, end) touches w; an instant event counts
// when it lies in w.
func overlaps(start, end time.Time, w aggregator.Window) bool {
	if end.Equal(start) {
		return !start.Before(w.From) && start.Before(w.To)
	}
	return start.Before(w.To) && end.After(w.From)
}

// read places a VEVENT in time.
func (n normaliser) read(c *component, i int) (event, error) {
	ev := event{c: c, n: i}
	uid, ok := c.prop("UID")
	if !ok || strings.TrimSpace(uid.Value) == "" {
		return ev, errors.New("no UID")
	}
	ev.uid = uid.Value
	ds, ok := c.prop("DTSTART")
	if !ok {
		return ev, errors.New("no DTSTART")
	}
	start, err := n.zones.parseInstant(ds)
	if err != nil {
		return ev, err
	}
	ev.start = start
	switch {
	case has(c, "DTEND"):
		de, _ := c.prop("DTEND")
		end, err := n.zones.parseInstant(de)
		if err != nil {
			return ev, err
		}
		if end.allDay != start.allDay {
			return ev, errors.New("DTSTART and DTEND are of different types")
		}
		ev.end = end.t
	case has(c, "DURATION"):
		dp, _ := c.prop("DURATION")
		d, err := parseDuration(dp.Value)
		if err != nil {
			return ev, err
		}
		ev.end = d.addTo(start.t)
	case start.allDay:
		ev.end = start.t.AddDate(0, 0, 1)
	default:
		ev.end = start.t // RFC 5545 3.6.1: an instant
	}
	if ev.end.Before(ev.start.t) {
		return ev, errors.New("ends before it starts")
	}
	if rp, ok := c.prop("RECURRENCE-ID"); ok {
		rid, err := n.zones.parseInstant(rp)
		if err != nil {
			return ev, err
		}
		ev.recurID = rid.t.UTC().Format(time.RFC3339)
	}
	if rr, ok := c.prop("RRULE"); ok {
		ev.rrule = rr.Value
	}
	for _, p := range c.Props {
		if p.Name == "EXDATE" {
			ev.exdates = append(ev.exdates, p)
		}
	}
	if sq, ok := c.prop("SEQUENCE"); ok {
		if _, err := strconv.Atoi(strings.TrimSpace(sq.Value)); err == nil {
			ev.sequence = strings.TrimSpace(sq.Value)
		}
	}
	return ev, nil
}

func has(c *component, name string) bool {
	_, ok := c.prop(name)
	return ok
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// entryKey is the id part of an event or one instance of it: a hash, since
// a UID is free text that may hold personal data or a "/".
func entryKey(uid, recurID string) string {
	h := sha256.Sum256([]byte(uid + "\x00" + recurID))
	return strings.ToLower(idEncoding.EncodeToString(h[:15]))
}

var statuses = map[string]aggregator.Status{
	"":          aggregator.StatusBooked, // no STATUS: a plain calendar entry
	"CONFIRMED": aggregator.StatusBooked,
	"TENTATIVE": aggregator.StatusTentative,
	"CANCELLED": aggregator.StatusCancelled,
}

func (n normaliser) entry(ev event, start, end time.Time, recurID string) aggregator.Entry {
	c := ev.c
	key := entryKey(ev.uid, recurID)
	e := aggregator.Entry{
		ID:          aggregator.EntryID(n.cfg.Name, resourceType, key),
		Source:      n.cfg.Name,
		Sector:      n.cfg.Sector,
		Kind:        aggregator.KindAppointment,
		Start:       start,
		End:         end,
		AllDay:      ev.start.allDay,
		Medium:      aggregator.MediumInPerson,
		Sensitivity: aggregator.SensitivityNormal,
		Provenance:  []aggregator.Provenance{{Source: n.cfg.Name, Type: resourceType, ID: key, Version: ev.sequence}},
	}
	raw := strings.ToUpper(strings.TrimSpace(text(c, "STATUS")))
	e.FHIRStatus = raw // the raw status as sent; the field name is the domain's
	if st, ok := statuses[raw]; ok {
		e.Status = st
	} else {
		e.Status = aggregator.StatusUnknown
		if len(raw) > 20 || !validName(raw) {
			e.FHIRStatus = "?"
		}
	}
	e.Title = text(c, "SUMMARY")
	e.Description = text(c, "DESCRIPTION")
	e.Place.Name = text(c, "LOCATION")
	if g, ok := c.prop("GEO"); ok {
		if lat, lon, ok := parseGeo(g.Value); ok {
			e.Place.Lat, e.Place.Lon = &lat, &lon
		}
	}
	if o, ok := c.prop("ORGANIZER"); ok {
		e.Organization = o.param("CN")
	}
	switch strings.ToUpper(strings.TrimSpace(text(c, "CLASS"))) {
	case "", "PUBLIC":
	default: // PRIVATE, CONFIDENTIAL, and unknown classes, which RFC 5545 treats as PRIVATE
		e.Sensitivity = aggregator.SensitivityRestricted
	}
	if lm, ok := c.prop("LAST-MODIFIED"); ok {
		if t, err := n.zones.parseInstant(lm); err == nil && !t.allDay {
			e.Updated = t.t
		}
	}
	e.Medium, e.VideoURL = medium(c)
	if e.Medium == aggregator.MediumVideo && e.VideoURL == "" {
		e.VideoURL = aggregator.SafeURL(text(c, "URL")) // a video event's URL is most likely its room
	}
	if n.cfg.Generic {
		e.Title, e.Description, e.Organization, e.Generic = "", "", "", true
	}
	return e
}

// text returns the first property called name as unescaped TEXT.
func text(c *component, name string) string {
	p, ok := c.prop(name)
	if !ok {
		return ""
	}
	return strings.TrimSpace(unescapeText(p.Value))
}

func parseGeo(v string) (lat, lon float64, ok bool) {
	a, b, found := strings.Cut(v, ";")
	if !found {
		return 0, 0, false
	}
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
	lon, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
	if err1 != nil || err2 != nil || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		return 0, 0, false
	}
	return lat, lon, true
}

// Words in CATEGORIES that say how the patient meets the care giver.
var categoryMedium = map[string]aggregator.Medium{
	"video":               aggregator.MediumVideo,
	"videokonsultation":   aggregator.MediumVideo,
	"videomøde":           aggregator.MediumVideo,
	"telefon":             aggregator.MediumPhone,
	"telefonkonsultation": aggregator.MediumPhone,
	"phone":               aggregator.MediumPhone,
	"hjemmebesøg":         aggregator.MediumHomeVisit,
	"hjemmepleje":         aggregator.MediumHomeVisit,
	"home visit":          aggregator.MediumHomeVisit,
	"home-visit":          aggregator.MediumHomeVisit,
}

// Vendor properties that carry a meeting link.
var meetingProps = []string{"X-MICROSOFT-SKYPETEAMSMEETINGURL", "X-GOOGLE-CONFERENCE"}

// medium reads CONFERENCE (RFC 7986), vendor meeting links and CATEGORIES.
// Only safe links (aggregator.SafeURL) count: a feed may send javascript:.
func medium(c *component) (aggregator.Medium, string) {
	for _, p := range c.Props {
		if p.Name != "CONFERENCE" {
			continue
		}
		uri := strings.TrimSpace(p.Value)
		features := strings.ToUpper(strings.Join(p.Params["FEATURE"], ","))
		if strings.HasPrefix(strings.ToLower(uri), "tel:") && !strings.Contains(features, "VIDEO") {
			return aggregator.MediumPhone, ""
		}
		if u := aggregator.SafeURL(uri); u != "" {
			return aggregator.MediumVideo, u
		}
	}
	for _, name := range meetingProps {
		if p, ok := c.prop(name); ok {
			if u := aggregator.SafeURL(strings.TrimSpace(p.Value)); u != "" {
				return aggregator.MediumVideo, u
			}
		}
	}
	for _, p := range c.Props {
		if p.Name != "CATEGORIES" {
			continue
		}
		for _, cat := range splitText(p.Value) {
			if m, ok := categoryMedium[strings.ToLower(strings.TrimSpace(cat))]; ok {
				return m, ""
			}
		}
	}
	return aggregator.MediumInPerson, ""
}

// splitText splits a TEXT list on unescaped commas and unescapes each item.
func splitText(v string) []string {
	var out []string
	last := 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case ',':
			out = append(out, unescapeText(v[last:i]))
			last = i + 1
		}
	}
	return append(out, unescapeText(v[last:]))
}
