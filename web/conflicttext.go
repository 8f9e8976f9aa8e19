package web

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/overblik/overblik/aggregator"
)

// A conflict carries facts (its rule, its entries, what the rule measured);
// the sentence a reader sees is written here from the catalog, in the
// reader's language and voice: the patient's ("du") for the patient, the
// third person for staff ("patienten") and for a relative (the patient's
// first name), from the cmsg.they.* keys where a sentence names the
// patient.

// ConflictSentences writes a conflict's sentence in lang (Danish for a
// language not spoken) from the timeline it is part of, with times in loc:
// for outputs outside the pages, such as notices. It speaks to the patient
// when about is "", else, as to a relative, about the patient so named.
func ConflictSentences(loc *time.Location) func(tl *aggregator.Timeline, c aggregator.Conflict, lang, about string) string {
	trs := map[string]*translator{}
	for l, msgs := range newCatalog() {
		trs[l] = &translator{lang: l, msgs: msgs, loc: loc}
	}
	return func(tl *aggregator.Timeline, c aggregator.Conflict, lang, about string) string {
		tr, ok := trs[lang]
		if !ok {
			tr = trs[catalogs[0].lang]
		}
		ct := newConflictText(tr, tl)
		if about != "" {
			ct = ct.in(relativeVoice(tr, about))
		}
		return ct.sentence(c)
	}
}

// conflictText writes the sentences of one timeline's conflicts.
type conflictText struct {
	tr      *translator
	entries map[string]*aggregator.Entry
	display map[string]string // source name -> its display name
	now     time.Time         // tenses are as of the build
	voice   voice
}

// voice is whom a sentence speaks to: the patient (the zero voice), or
// someone else about them.
type voice struct {
	third   bool   // about the patient, not to them
	subject string // how the third person names the patient: "patienten", "Birthe"
}

// staffVoice is how a clinician reads a conflict.
func staffVoice(tr *translator) voice {
	return voice{third: true, subject: tr.T("cmsg.subject.patient")}
}

// relativeVoice is how a relative reads one: by the patient's first name
// when the delegation gives it.
func relativeVoice(tr *translator, name string) voice {
	if f := firstName(name); f != "" {
		return voice{third: true, subject: f}
	}
	return staffVoice(tr)
}

// in is ct speaking in v.
func (ct *conflictText) in(v voice) *conflictText {
	out := *ct
	out.voice = v
	return &out
}

// say formats the sentence k (a cmsg key without its prefix) in ct's
// voice: in the third person cmsg.they.k, when the catalog has one, gets
// the subject as two more arguments, as is and capitalised (for a
// sentence it opens).
func (ct *conflictText) say(k string, args ...any) string {
	if ct.voice.third {
		if _, ok := ct.tr.msgs["cmsg.they."+k]; ok {
			return ct.tr.F("cmsg.they."+k, append(args, ct.voice.subject, capitalFirst(ct.voice.subject))...)
		}
	}
	return ct.tr.F("cmsg."+k, args...)
}

func newConflictText(tr *translator, tl *aggregator.Timeline) *conflictText {
	ct := &conflictText{tr: tr, entries: make(map[string]*aggregator.Entry, len(tl.Entries)),
		display: make(map[string]string, len(tl.Sources)), now: tl.GeneratedAt}
	for i := range tl.Entries {
		ct.entries[tl.Entries[i].ID] = &tl.Entries[i]
	}
	for _, s := range tl.Sources {
		ct.display[s.Name] = s.Display
	}
	return ct
}

// sentence is the conflict explained, or "" when its entries are not all in
// the timeline (which a view never lets happen).
func (ct *conflictText) sentence(c aggregator.Conflict) string {
	es := make([]*aggregator.Entry, 0, len(c.Entries))
	for _, id := range c.Entries {
		e, ok := ct.entries[id]
		if !ok {
			return ""
		}
		es = append(es, e)
	}
	switch {
	case c.Rule == aggregator.RuleDuringAdmission && len(es) == 2:
		return ct.duringAdmission(es[0], es[1])
	case c.Rule == aggregator.RuleOverlap && len(es) == 2:
		return ct.overlap(es[0], es[1])
	case c.Rule == aggregator.RuleTravel && len(es) == 2:
		return ct.travel(es[0], es[1], c.Need, c.NeedKnown)
	case c.Rule == aggregator.RuleHeavyDay && len(es) > 0:
		return ct.heavyDay(es)
	case c.Rule == aggregator.RuleBookedTwice && len(es) == 2:
		return ct.bookedTwice(es[0], es[1])
	case c.Rule == aggregator.RuleNothingAfterDischarge && len(es) == 1:
		return ct.nothingAfter(es[0], c.Days)
	}
	return ""
}

// who is whom the patient deals with: the organisation, else the source.
func (ct *conflictText) who(e *aggregator.Entry) string {
	if e.Organization != "" {
		return e.Organization
	}
	if d := ct.display[e.Source]; d != "" {
		return d
	}
	return e.Source
}

// call names whom to contact, with the phone number when the source gave one.
func (ct *conflictText) call(e *aggregator.Entry) string {
	if e.Contact != "" {
		return ct.tr.F("cmsg.call_phone", ct.who(e), e.Contact)
	}
	return ct.who(e)
}

// title is the entry as the page names it (entryTitle), never a raw kind.
func (ct *conflictText) title(e *aggregator.Entry) string {
	return entryTitle(ct.tr, e)
}

// day is "tirsdag 3. marts", "Tuesday 3 March".
func (ct *conflictText) day(t time.Time) string {
	t = t.In(ct.tr.loc)
	return ct.tr.F("cmsg.day", ct.tr.T("weekday."+strconv.Itoa(int(t.Weekday()))), t.Day(), ct.tr.T("month."+strconv.Itoa(int(t.Month()))))
}

// hm is "7.30" or "8", "07:30" or "08:00"; clock adds "kl." where the
// language says it.
func (ct *conflictText) hm(t time.Time) string {
	t = t.In(ct.tr.loc)
	if t.Minute() == 0 {
		return ct.tr.F("cmsg.hour", t.Hour())
	}
	return ct.tr.F("cmsg.hour_min", t.Hour(), t.Minute())
}

func (ct *conflictText) clock(t time.Time) string { return ct.tr.F("cmsg.clock", ct.hm(t)) }

// when is the day and time of an entry, or the day of an all-day one.
func (ct *conflictText) when(e *aggregator.Entry) string {
	if e.AllDay {
		return ct.tr.F("cmsg.when_all_day", ct.day(e.Start))
	}
	return ct.tr.F("cmsg.when", ct.day(e.Start), ct.clock(e.Start))
}

// tense is "past" when t is before the build, else "future": the key
// suffix of the sentences that say what was or will be.
func (ct *conflictText) tense(t time.Time) string {
	if t.Before(ct.now) {
		return "past"
	}
	return "future"
}

func (ct *conflictText) duringAdmission(v, stay *aggregator.Entry) string {
	tense := ct.tense(v.End)
	lead := "visit"
	if v.Medium == aggregator.MediumHomeVisit {
		lead = "home_visit"
	}
	var b strings.Builder
	b.WriteString(ct.say("during_admission."+lead+"."+tense, ct.who(v), ct.when(v), ct.title(v)))
	if stay.End.IsZero() {
		b.WriteString(ct.say("during_admission.stay_open."+tense, ct.who(stay), ct.day(stay.Start)))
	} else {
		b.WriteString(ct.say("during_admission.stay."+tense, ct.who(stay), ct.day(stay.Start), ct.day(stay.End)))
	}
	b.WriteString(ct.tr.F("cmsg.during_admission.contact."+tense, ct.call(v)))
	return b.String()
}

func (ct *conflictText) overlap(a, b *aggregator.Entry) string {
	return ct.tr.F("cmsg.overlap", ct.title(a), ct.who(a), ct.clock(a.Start), ct.hm(a.End),
		ct.title(b), ct.who(b), ct.clock(b.Start), ct.hm(b.End), ct.day(a.Start), ct.call(a), ct.call(b))
}

func placeName(p aggregator.Place) string {
	if p.Name != "" {
		return p.Name
	}
	return p.Address
}

func (ct *conflictText) travel(a, b *aggregator.Entry, need time.Duration, known bool) string {
	day := ct.day(b.Start)
	gap := int(b.Start.Sub(a.End).Minutes())
	var s strings.Builder
	// The day opens the Danish sentence; English days are capitalised anyway.
	s.WriteString(ct.tr.F("cmsg.travel", capitalFirst(day), ct.title(a), ct.clock(a.End), placeName(a.Place),
		ct.title(b), ct.clock(b.Start), placeName(b.Place), gap))
	if known {
		s.WriteString(ct.tr.F("cmsg.travel.journey", int(need.Minutes())))
	} else {
		s.WriteString(ct.tr.F("cmsg.travel.at_least", int(need.Minutes())))
	}
	s.WriteString(ct.tr.F("cmsg.travel.contact", ct.call(b)))
	return s.String()
}

func (ct *conflictText) heavyDay(es []*aggregator.Entry) string {
	items := make([]string, len(es))
	for i, e := range es {
		items[i] = ct.tr.F("cmsg.heavy_day.item", ct.clock(e.Start), ct.title(e), ct.who(e))
	}
	return ct.say("heavy_day", len(es), ct.day(es[0].Start), strings.Join(items, ct.tr.T("cmsg.heavy_day.sep")))
}

func (ct *conflictText) bookedTwice(a, b *aggregator.Entry) string {
	return ct.tr.F("cmsg.booked_twice", ct.title(a), ct.who(a), ct.when(a), ct.who(b), ct.when(b), ct.call(a), ct.call(b))
}

func (ct *conflictText) nothingAfter(a *aggregator.Entry, days int) string {
	return ct.say("nothing_after."+ct.tense(a.End), ct.who(a), ct.day(a.End), days, ct.call(a))
}

// capitalFirst upper-cases the first letter, for a day that opens a sentence.
func capitalFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// note is the plain word a patient, or their relative, reads on a visit
// booked during an admission: that the patient is (or will be, or was)
// admitted, that whoever comes may not know, and whom to call. "" for any
// other conflict.
func (ct *conflictText) note(c aggregator.Conflict) string {
	if c.Rule != aggregator.RuleDuringAdmission || len(c.Entries) != 2 {
		return ""
	}
	v, stay := ct.entries[c.Entries[0]], ct.entries[c.Entries[1]]
	if v == nil || stay == nil {
		return ""
	}
	tense := ct.tense(v.End)
	if tense == "future" && !stay.Start.After(ct.now) {
		tense = "now"
	}
	var b strings.Builder
	b.WriteString(ct.say("note.during_admission."+tense, ct.who(v)))
	if v.Contact != "" {
		b.WriteString(ct.tr.F("cmsg.note.call_phone", ct.who(v), v.Contact))
	} else {
		b.WriteString(ct.tr.F("cmsg.note.call", ct.who(v)))
	}
	return b.String()
}
