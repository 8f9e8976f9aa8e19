package aggregator

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"
)

// Rule names a coordination-conflict rule; the values are the ids of the API.
type Rule string

const (
	RuleDuringAdmission       Rule = "during-admission"
	RuleOverlap               Rule = "overlap"
	RuleTravel                Rule = "travel"
	RuleHeavyDay              Rule = "heavy-day"
	RuleBookedTwice           Rule = "booked-twice"
	RuleNothingAfterDischarge Rule = "nothing-after-discharge"
)

// Severity says how urgently a conflict needs someone to act.
type Severity string

const (
	SeverityHigh   Severity = "high"   // the visit cannot take place as booked
	SeverityMedium Severity = "medium" // it probably cannot, or is wasted
	SeverityLow    Severity = "low"    // worth a look
)

// Rank orders severities, most severe first.
func (s Severity) Rank() int {
	switch s {
	case SeverityHigh:
		return 0
	case SeverityMedium:
		return 1
	}
	return 2
}

// Conflict is one coordination problem found on a timeline.
// It carries facts, not prose: web writes the sentences, in the reader's
// language and voice, from the rule, the entries (which hold the titles,
// times, places and whom to call) and what the rule found beyond them.
type Conflict struct {
	ID       string // stable: a hash of the rule and the sorted entry ids
	Rule     Rule
	Severity Severity
	Day      string   // civil date YYYY-MM-DD in the configured zone
	Entries  []string // entry ids, in the order a sentence names them (see each rule)
	// Need is, for travel, the time the journey between the two entries
	// takes; NeedKnown is false when a place had no coordinates and the
	// rule's minimum gap stood in.
	Need      time.Duration
	NeedKnown bool
	// Days is, for nothing-after-discharge, how many days after the
	// discharge were looked at.
	Days int
}

// ConflictID is the stable id of a conflict: the same rule over the same
// entries gets the same id on every rebuild, whatever order they were found in.
func ConflictID(rule Rule, entries []string) string {
	ids := slices.Clone(entries)
	slices.Sort(ids)
	h := sha256.New()
	h.Write([]byte(rule))
	for _, id := range ids {
		h.Write([]byte{0})
		h.Write([]byte(id))
	}
	return hex.EncodeToString(h.Sum(nil)[:10])
}

// ConflictRules configure the rules. A zero field takes its default (see
// DefaultConflictRules); Off switches a rule off.
type ConflictRules struct {
	DuringAdmission       DuringAdmissionRule
	Overlap               OverlapRule
	Travel                TravelRule
	HeavyDay              HeavyDayRule
	BookedTwice           BookedTwiceRule
	NothingAfterDischarge NothingAfterDischargeRule
}

// DuringAdmissionRule: a municipal or GP entry inside an inpatient admission
// that is booked, in progress or on leave, outside any leave of absence.
type DuringAdmissionRule struct {
	Off      bool
	Severity Severity // default high
	// Ongoing is how long after now an admission without an end is assumed
	// to last (default 7 days): long enough for the visits a coordinator
	// must move now, short enough not to flag months of care that the
	// discharge, whenever it comes, will settle. Negative: until the
	// timeline's window ends.
	Ongoing time.Duration
}

// OverlapRule: two timed entries, not cancelled, whose periods overlap
// (touching ends do not). Admissions are the during-admission rule's.
type OverlapRule struct {
	Off      bool
	Severity Severity // default high
}

// TravelRule: two consecutive entries that need the patient at two different
// places, with less time between them than the journey takes.
type TravelRule struct {
	Off      bool
	Severity Severity // default medium
	SpeedKMH float64  // default 30
	Buffer   time.Duration
	// MinGap is the time needed between different places when either has no
	// coordinates; default 30 minutes.
	MinGap time.Duration
	// SamePlaceMeters: places closer than this are the same; default 50.
	SamePlaceMeters float64
}

// HeavyDayRule: more than Max in-person entries on one civil day.
type HeavyDayRule struct {
	Off      bool
	Severity Severity // default low
	Max      int      // default 3
}

// BookedTwiceRule: the same service in two different sources within Days.
type BookedTwiceRule struct {
	Off      bool
	Severity Severity // default medium
	Days     int      // default 14
}

// NothingAfterDischargeRule: no GP or municipal entry within Days after the
// discharge from an admission longer than MinStay.
type NothingAfterDischargeRule struct {
	Off      bool
	Severity Severity      // default low
	Days     int           // default 7
	MinStay  time.Duration // default 24h
}

// DefaultConflictRules are the rules with the defaults of issue 6.
func DefaultConflictRules() ConflictRules { return ConflictRules{}.withDefaults() }

func (r ConflictRules) withDefaults() ConflictRules {
	sev := func(s *Severity, d Severity) {
		if *s == "" {
			*s = d
		}
	}
	sev(&r.DuringAdmission.Severity, SeverityHigh)
	if r.DuringAdmission.Ongoing == 0 {
		r.DuringAdmission.Ongoing = 7 * 24 * time.Hour
	}
	sev(&r.Overlap.Severity, SeverityHigh)
	sev(&r.Travel.Severity, SeverityMedium)
	if r.Travel.SpeedKMH <= 0 {
		r.Travel.SpeedKMH = 30
	}
	if r.Travel.Buffer <= 0 {
		r.Travel.Buffer = 10 * time.Minute
	}
	if r.Travel.MinGap <= 0 {
		r.Travel.MinGap = 30 * time.Minute
	}
	if r.Travel.SamePlaceMeters <= 0 {
		r.Travel.SamePlaceMeters = 50
	}
	sev(&r.HeavyDay.Severity, SeverityLow)
	if r.HeavyDay.Max <= 0 {
		r.HeavyDay.Max = 3
	}
	sev(&r.BookedTwice.Severity, SeverityMedium)
	if r.BookedTwice.Days <= 0 {
		r.BookedTwice.Days = 14
	}
	sev(&r.NothingAfterDischarge.Severity, SeverityLow)
	if r.NothingAfterDischarge.Days <= 0 {
		r.NothingAfterDischarge.Days = 7
	}
	if r.NothingAfterDischarge.MinStay <= 0 {
		r.NothingAfterDischarge.MinStay = 24 * time.Hour
	}
	return r
}

// Find runs the rules over a merged timeline. Days and times are civil in loc
// (nil: UTC); now places admissions without an end. The result is sorted by
// day, severity, rule and entries.
//
// What every rule shares: cancelled (and entered-in-error) entries never
// conflict. All-day entries have no time of day, so they take part in
// during-admission, booked-twice and as follow-up after discharge, but not in
// overlap, travel or heavy-day.
func (r ConflictRules) Find(t *Timeline, loc *time.Location, now time.Time) []Conflict {
	if t == nil {
		return nil
	}
	if loc == nil {
		loc = time.UTC
	}
	r = r.withDefaults()
	f := finder{rules: r, loc: loc, now: now, window: t.Window}
	for i := range t.Entries {
		if e := &t.Entries[i]; live(e) {
			f.live = append(f.live, e)
		}
	}
	if !r.DuringAdmission.Off {
		f.duringAdmission()
	}
	if !r.Overlap.Off {
		f.overlap()
	}
	if !r.Travel.Off {
		f.travel()
	}
	if !r.HeavyDay.Off {
		f.heavyDay()
	}
	if !r.BookedTwice.Off {
		f.bookedTwice()
	}
	if !r.NothingAfterDischarge.Off {
		f.nothingAfterDischarge()
	}
	order := map[Rule]int{RuleDuringAdmission: 0, RuleOverlap: 1, RuleTravel: 2, RuleHeavyDay: 3, RuleBookedTwice: 4, RuleNothingAfterDischarge: 5}
	slices.SortFunc(f.out, func(a, b Conflict) int {
		return cmp.Or(cmp.Compare(a.Day, b.Day), cmp.Compare(a.Severity.Rank(), b.Severity.Rank()),
			cmp.Compare(order[a.Rule], order[b.Rule]), slices.Compare(a.Entries, b.Entries), cmp.Compare(a.ID, b.ID))
	})
	return f.out
}

func live(e *Entry) bool {
	return e.Status != StatusCancelled && e.Status != StatusEnteredInError
}

type finder struct {
	rules  ConflictRules
	loc    *time.Location
	now    time.Time
	window Window
	live   []*Entry // not cancelled, in timeline order
	out    []Conflict
}

// add records a conflict; c holds the facts beyond the entries.
func (f *finder) add(rule Rule, sev Severity, day time.Time, c Conflict, entries ...*Entry) {
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	c.ID, c.Rule, c.Severity, c.Day, c.Entries = ConflictID(rule, ids), rule, sev, day.In(f.loc).Format(time.DateOnly), ids
	f.out = append(f.out, c)
}

// timed entries happen at a time of day: not all-day, not admissions, not
// leaves of absence (time away from a ward, not a visit), and not longer than
// a day (a stay booked as an appointment is no visit at a time).
func timed(e *Entry) bool {
	return !e.AllDay && e.Kind != KindAdmission && e.Status != StatusOnLeave && !e.End.IsZero() &&
		e.End.Sub(e.Start) <= 24*time.Hour
}

// documents reports whether one of a and b is an encounter of the same
// source overlapping the other, an appointment: the record of that visit,
// which the source did not link to it. Such a pair is one visit, not two.
func documents(a, b *Entry) bool {
	if a.Source != b.Source || !overlaps(a.Start, a.End, b.Start, b.End) {
		return false
	}
	return (a.Kind == KindEncounter && b.Kind == KindAppointment) || (a.Kind == KindAppointment && b.Kind == KindEncounter)
}

// stay is an admission's period with its leaves of absence.
type stay struct {
	e          *Entry
	start, end time.Time
	open       bool // no end given: still going on (see DuringAdmissionRule.Ongoing)
	leaves     [][2]time.Time
}

// admissions returns the stays that can clash with visits: inpatient entries
// booked, in progress or on leave. An on-leave entry inside another stay
// (of any status: a finished stay had its leaves too) is that stay's leave
// of absence, not a stay of its own.
func (f *finder) admissions() []stay {
	var stays []stay
	for _, e := range f.live {
		if e.Kind != KindAdmission {
			continue
		}
		s := stay{e: e, start: e.Start, end: e.End}
		if e.End.IsZero() {
			s.open, s.end = true, f.ongoingUntil(e)
		}
		stays = append(stays, s)
	}
	// Leaves are on-leave entries (of any kind) inside a stay. One without
	// an end (the patient is not back yet) that begins after the stay did
	// lasts until the stay ends: it is the leave a hospital notified.
	isLeave := map[*Entry]bool{}
	for _, e := range f.live {
		if e.Status != StatusOnLeave {
			continue
		}
		for i := range stays {
			s := &stays[i]
			end := e.End
			if end.IsZero() {
				if !e.Start.After(s.start) {
					continue
				}
				end = s.end
			}
			if s.e != e && !e.Start.Before(s.start) && !end.After(s.end) {
				s.leaves = append(s.leaves, [2]time.Time{e.Start, end})
				isLeave[e] = true
			}
		}
	}
	out := stays[:0]
	for _, s := range stays {
		switch s.e.Status {
		case StatusBooked, StatusInProgress, StatusOnLeave:
			if !isLeave[s.e] {
				out = append(out, s)
			}
		}
	}
	return out
}

// clockless reports whether Find gives t the same conflicts whatever now
// is: the clock places only admissions without an end (ongoingUntil).
func clockless(t *Timeline) bool {
	for i := range t.Entries {
		if e := &t.Entries[i]; e.Kind == KindAdmission && e.End.IsZero() {
			return false
		}
	}
	return true
}

// ongoingUntil is where an admission without an end is taken to end.
func (f *finder) ongoingUntil(e *Entry) time.Time {
	if d := f.rules.DuringAdmission.Ongoing; d >= 0 {
		return later(e.Start, f.now).Add(d)
	}
	if !f.window.To.IsZero() {
		return later(e.Start, f.window.To)
	}
	return time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func overlaps(aStart, aEnd, bStart, bEnd time.Time) bool {
	return aStart.Before(bEnd) && bStart.Before(aEnd)
}

// inSector reports whether e, or one of the sources that booked it too,
// belongs to one of sectors.
func inSector(e *Entry, sectors ...Sector) bool {
	if slices.Contains(sectors, e.Sector) {
		return true
	}
	for _, p := range e.Parts {
		if slices.Contains(sectors, p.Sector) {
			return true
		}
	}
	return false
}

func (f *finder) duringAdmission() {
	for _, s := range f.admissions() {
		for _, v := range f.live {
			if v.Kind == KindAdmission || v.Status == StatusOnLeave {
				continue
			}
			if !inSector(v, SectorMunicipality, SectorGP) || inSector(v, SectorHospital) {
				// A meeting the hospital booked too is the stay's own business.
				continue
			}
			if !overlaps(v.Start, v.End, s.start, s.end) {
				continue
			}
			onLeave := false
			for _, l := range s.leaves {
				if !v.Start.Before(l[0]) && !v.End.After(l[1]) {
					onLeave = true
				}
			}
			if onLeave {
				continue
			}
			f.add(RuleDuringAdmission, f.rules.DuringAdmission.Severity, v.Start, Conflict{}, v, s.e)
		}
	}
}

func (f *finder) overlap() {
	for i, a := range f.live {
		if !timed(a) {
			continue
		}
		for _, b := range f.live[i+1:] {
			if !b.Start.Before(a.End) {
				break // sorted by start: nothing later can overlap a
			}
			if !timed(b) || !overlaps(a.Start, a.End, b.Start, b.End) || documents(a, b) {
				continue
			}
			f.add(RuleOverlap, f.rules.Overlap.Severity, a.Start, Conflict{}, a, b)
		}
	}
}

// physical entries need the patient at a place: in person, or at home for a
// home visit. Video and phone work from anywhere, so they need no travel.
func physical(e *Entry) bool {
	switch e.Medium {
	case MediumVideo, MediumPhone:
		return false
	}
	return timed(e)
}

func (f *finder) travel() {
	var seq []*Entry
	for _, e := range f.live {
		if physical(e) {
			seq = append(seq, e)
		}
	}
	// A place's key is made once, when a pair lacks coordinates: each
	// visit is in two pairs.
	keys := make([]string, len(seq))
	made := make([]bool, len(seq))
	key := func(i int) string {
		if !made[i] {
			keys[i], made[i] = placeKey(seq[i].Place), true
		}
		return keys[i]
	}
	for i := 1; i < len(seq); i++ {
		a, b := seq[i-1], seq[i]
		gap := b.Start.Sub(a.End)
		if gap < 0 {
			continue // an overlap, which that rule reports
		}
		need, known, same := f.journey(a.Place, b.Place, func() (string, string) { return key(i - 1), key(i) })
		if same || gap >= need {
			continue
		}
		f.add(RuleTravel, f.rules.Travel.Severity, b.Start, Conflict{Need: need, NeedKnown: known}, a, b)
	}
}

// journey is the time needed to get from a to b; known is false when a
// coordinate is missing and the minimum gap stands in; same is true when no
// journey is needed or the places are unknown. keys gives their
// placeKeys, needed only when a coordinate is missing.
func (f *finder) journey(a, b Place, keys func() (string, string)) (need time.Duration, known, same bool) {
	if a.Lat != nil && a.Lon != nil && b.Lat != nil && b.Lon != nil {
		km := haversineKM(*a.Lat, *a.Lon, *b.Lat, *b.Lon)
		if km*1000 < f.rules.Travel.SamePlaceMeters {
			return 0, true, true
		}
		need = time.Duration(km/f.rules.Travel.SpeedKMH*float64(time.Hour)) + f.rules.Travel.Buffer
		return need.Round(time.Minute), true, false
	}
	if a.Name == b.Name && a.Address == b.Address {
		return 0, false, true // one place (or none), whatever its key
	}
	an, bn := keys()
	if an == "" || bn == "" || an == bn {
		return 0, false, true
	}
	return f.rules.Travel.MinGap, false, false
}

func placeKey(p Place) string {
	return normalise(p.Name + " " + p.Address)
}

func haversineKM(lat1, lon1, lat2, lon2 float64) float64 {
	const earthKM = 6371.0
	rad := math.Pi / 180
	dLat, dLon := (lat2-lat1)*rad, (lon2-lon1)*rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthKM * math.Asin(math.Min(1, math.Sqrt(h)))
}

// civilDay is a date in the finder's zone, a cheaper map key than its text.
type civilDay struct {
	y int
	m time.Month
	d int
}

func (f *finder) heavyDay() {
	// f.live is in timeline order, by start, so a day's visits come
	// together: one day at a time, in two buffers, with no map of days.
	var day, visits []*Entry
	var at civilDay
	count := func() {
		// The record of a visit is not another visit.
		visits = append(visits[:0], day...)
		visits = slices.DeleteFunc(visits, func(e *Entry) bool {
			return e.Kind == KindEncounter && slices.ContainsFunc(day, func(o *Entry) bool { return documents(e, o) })
		})
		if len(visits) > f.rules.HeavyDay.Max {
			f.add(RuleHeavyDay, f.rules.HeavyDay.Severity, visits[0].Start, Conflict{}, visits...)
		}
	}
	for _, e := range f.live {
		if !timed(e) || (e.Medium != MediumInPerson && e.Medium != "") {
			continue
		}
		y, m, dd := e.Start.In(f.loc).Date()
		if d := (civilDay{y, m, dd}); d != at {
			if len(day) > 0 {
				count()
			}
			day, at = day[:0], d
		}
		day = append(day, e)
	}
	if len(day) > 0 {
		count()
	}
}

func (f *finder) bookedTwice() {
	within := time.Duration(f.rules.BookedTwice.Days) * 24 * time.Hour
	// A title is normalised once, when a pair first needs it.
	titles := make([]string, len(f.live))
	made := make([]bool, len(f.live))
	title := func(i int) string {
		if !made[i] {
			titles[i], made[i] = normalise(f.live[i].Title), true
		}
		return titles[i]
	}
	for i, a := range f.live {
		if a.Kind == KindAdmission {
			continue
		}
		for j := i + 1; j < len(f.live); j++ {
			b := f.live[j]
			if b.Start.Sub(a.Start) > within {
				break
			}
			if b.Kind == KindAdmission || a.Source == b.Source {
				continue
			}
			// The coded services when both have codes, their titles otherwise.
			if len(a.ServiceCodes) > 0 && len(b.ServiceCodes) > 0 {
				if !sharesCode(a, b) {
					continue
				}
			} else if ta := title(i); ta == "" || ta != title(j) {
				continue
			}
			f.add(RuleBookedTwice, f.rules.BookedTwice.Severity, a.Start, Conflict{}, a, b)
		}
	}
}

// sharesCode: a coded service of a is one of b's.
func sharesCode(a, b *Entry) bool {
	for _, c := range a.ServiceCodes {
		if slices.Contains(b.ServiceCodes, c) {
			return true
		}
	}
	return false
}

// normalise folds case, punctuation and runs of space, so "Blodprøve." and
// "blodprøve" are one service. ASCII, most of a title, is folded byte by
// byte: merging and the conflict rules normalise every pair they compare.
func normalise(s string) string {
	b := make([]byte, 0, len(s))
	space := false
	keep := func(r rune) {
		if space && len(b) > 0 {
			b = append(b, ' ')
		}
		b, space = utf8.AppendRune(b, r), false
	}
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			i++
			switch {
			case 'a' <= c && c <= 'z' || '0' <= c && c <= '9':
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			default:
				space = true
				continue
			}
			keep(rune(c))
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		if r = unicode.ToLower(r); unicode.IsLetter(r) || unicode.IsDigit(r) {
			keep(r)
		} else {
			space = true
		}
	}
	return string(b)
}

func (f *finder) nothingAfterDischarge() {
	days := f.rules.NothingAfterDischarge.Days
	for _, a := range f.live {
		// A leave of absence is not a discharge.
		if a.Kind != KindAdmission || a.Status == StatusOnLeave || a.Died || a.End.IsZero() || a.End.Sub(a.Start) <= f.rules.NothingAfterDischarge.MinStay {
			continue
		}
		until := a.End.AddDate(0, 0, days)
		if !f.window.To.IsZero() && until.After(f.window.To) {
			continue // the timeline cannot see the whole period
		}
		followed := false
		for _, e := range f.live {
			if e != a && e.Kind != KindAdmission && inSector(e, SectorGP, SectorMunicipality) &&
				!e.Start.Before(a.End) && e.Start.Before(until) {
				followed = true
				break
			}
		}
		if !followed {
			f.add(RuleNothingAfterDischarge, f.rules.NothingAfterDischarge.Severity, a.End, Conflict{Days: days}, a)
		}
	}
}
