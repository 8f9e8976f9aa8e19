package aggregator_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
)

var cph = func() *time.Location {
	l, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		panic(err)
	}
	return l
}()

// Coordinates of a few real places in Aarhus.
var (
	auh      = place("Aarhus Universitetshospital", 56.1909, 10.1738)
	clinic   = place("Lægehuset Trøjborg", 56.1712, 10.2093) // about 3 km from auh
	centre   = place("Genoptræningscenter Marselisborg", 56.1447, 10.2008)
	homeViby = place("Borgerens hjem", 56.1275, 10.1607)
)

func place(name string, lat, lon float64) aggregator.Place {
	return aggregator.Place{Name: name, Lat: &lat, Lon: &lon}
}

// cnow is "now" in the conflict tests: Friday 20 March 2026, 10:00 in Copenhagen.
var cnow = time.Date(2026, 3, 20, 10, 0, 0, 0, cph)

// mar is a wall-clock time on a day of March 2026 in Copenhagen; day 29 is
// the spring DST change (02:00 CET becomes 03:00 CEST).
func mar(day, h, m int) time.Time { return time.Date(2026, 3, day, h, m, 0, 0, cph) }

type opt func(*aggregator.Entry)

func at(p aggregator.Place) opt      { return func(e *aggregator.Entry) { e.Place = p } }
func titled(s string) opt            { return func(e *aggregator.Entry) { e.Title = s } }
func status(s aggregator.Status) opt { return func(e *aggregator.Entry) { e.Status = s } }
func medium(m aggregator.Medium) opt { return func(e *aggregator.Entry) { e.Medium = m } }
func codes(c ...string) opt          { return func(e *aggregator.Entry) { e.ServiceCodes = c } }
func openEnded(e *aggregator.Entry)  { e.End = time.Time{} }
func admission(e *aggregator.Entry)  { e.Kind = aggregator.KindAdmission }
func allDay(e *aggregator.Entry) {
	y, m, d := e.Start.In(cph).Date()
	e.AllDay, e.Start, e.End = true, time.Date(y, m, d, 0, 0, 0, 0, cph), time.Date(y, m, d+1, 0, 0, 0, 0, cph)
}

// ent builds an entry: the source is the id's first segment and gives the
// sector (auh: hospital, kommune: municipality, laege: GP); the entry lasts
// from start to end and is a booked, in-person appointment titled by its id.
func ent(id string, start, end time.Time, opts ...opt) aggregator.Entry {
	src, _, _ := strings.Cut(id, "/")
	sector := map[string]aggregator.Sector{"auh": aggregator.SectorHospital, "auh2": aggregator.SectorHospital,
		"kommune": aggregator.SectorMunicipality, "laege": aggregator.SectorGP}[src]
	e := aggregator.Entry{ID: id, Source: src, Sector: sector, Kind: aggregator.KindAppointment,
		Status: aggregator.StatusBooked, Start: start, End: end, Title: id, Medium: aggregator.MediumInPerson}
	for _, o := range opts {
		o(&e)
	}
	return e
}

func timelineOf(entries ...aggregator.Entry) *aggregator.Timeline {
	slices.SortStableFunc(entries, func(a, b aggregator.Entry) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return &aggregator.Timeline{
		Window:  aggregator.Window{From: mar(1, 0, 0).AddDate(0, -3, 0), To: mar(1, 0, 0).AddDate(0, 6, 0)},
		Entries: entries,
		Sources: []aggregator.SourceStatus{
			{Name: "auh", Display: "Aarhus Universitetshospital"}, {Name: "kommune", Display: "Aarhus Kommune"},
			{Name: "laege", Display: "Lægehuset Trøjborg"},
		},
	}
}

// only switches every rule off but one.
func only(r aggregator.Rule, tune func(*aggregator.ConflictRules)) aggregator.ConflictRules {
	c := aggregator.ConflictRules{}
	c.DuringAdmission.Off = r != aggregator.RuleDuringAdmission
	c.Overlap.Off = r != aggregator.RuleOverlap
	c.Travel.Off = r != aggregator.RuleTravel
	c.HeavyDay.Off = r != aggregator.RuleHeavyDay
	c.BookedTwice.Off = r != aggregator.RuleBookedTwice
	c.NothingAfterDischarge.Off = r != aggregator.RuleNothingAfterDischarge
	if tune != nil {
		tune(&c)
	}
	return c
}

// found renders conflicts as "rule: id id ..." with sorted ids, day first.
func found(cs []aggregator.Conflict) []string {
	out := []string{}
	for _, c := range cs {
		ids := slices.Clone(c.Entries)
		slices.Sort(ids)
		out = append(out, fmt.Sprintf("%s %s: %s", c.Day, c.Rule, strings.Join(ids, " ")))
	}
	return out
}

type ruleCase struct {
	name    string
	tune    func(*aggregator.ConflictRules)
	entries []aggregator.Entry
	want    []string
}

func runRule(t *testing.T, rule aggregator.Rule, cases []ruleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := found(only(rule, tc.tune).Find(timelineOf(tc.entries...), cph, cnow))
			want := tc.want
			if want == nil {
				want = []string{}
			}
			if !slices.Equal(got, want) {
				t.Errorf("conflicts\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestDuringAdmission(t *testing.T) {
	adm := func(opts ...opt) aggregator.Entry {
		return ent("auh/Encounter/adm", mar(23, 9, 40), mar(26, 12, 0), append([]opt{admission}, opts...)...)
	}
	care := func(day int, opts ...opt) aggregator.Entry {
		return ent(fmt.Sprintf("kommune/Appointment/%d", day), mar(day, 7, 30), mar(day, 8, 0),
			append([]opt{medium(aggregator.MediumHomeVisit), at(homeViby)}, opts...)...)
	}
	runRule(t, aggregator.RuleDuringAdmission, []ruleCase{
		{name: "home care inside a booked admission", entries: []aggregator.Entry{adm(), care(24)},
			want: []string{"2026-03-24 during-admission: auh/Encounter/adm kommune/Appointment/24"}},
		{name: "every visit inside, none outside", entries: []aggregator.Entry{adm(), care(22), care(24), care(25), care(27)},
			want: []string{"2026-03-24 during-admission: auh/Encounter/adm kommune/Appointment/24",
				"2026-03-25 during-admission: auh/Encounter/adm kommune/Appointment/25"}},
		{name: "GP appointment inside", entries: []aggregator.Entry{adm(), ent("laege/Appointment/1", mar(25, 10, 0), mar(25, 10, 15), at(clinic))},
			want: []string{"2026-03-25 during-admission: auh/Encounter/adm laege/Appointment/1"}},
		{name: "hospital appointment inside is the hospital's own business",
			entries: []aggregator.Entry{adm(), ent("auh/Appointment/1", mar(25, 10, 0), mar(25, 10, 15))}},
		{name: "cancelled visit", entries: []aggregator.Entry{adm(), care(24, status(aggregator.StatusCancelled))}},
		{name: "entered-in-error visit", entries: []aggregator.Entry{adm(), care(24, status(aggregator.StatusEnteredInError))}},
		{name: "touching: visit ends when the admission starts",
			entries: []aggregator.Entry{adm(), ent("kommune/Appointment/t", mar(23, 9, 10), mar(23, 9, 40))}},
		{name: "touching: visit starts at discharge",
			entries: []aggregator.Entry{adm(), ent("kommune/Appointment/t", mar(26, 12, 0), mar(26, 12, 30))}},
		{name: "all-day delivery on a day of the admission", entries: []aggregator.Entry{adm(), care(25, allDay)},
			want: []string{"2026-03-25 during-admission: auh/Encounter/adm kommune/Appointment/25"}},
		{name: "finished admission is history", entries: []aggregator.Entry{adm(status(aggregator.StatusCompleted)), care(24)}},
		{name: "cancelled admission", entries: []aggregator.Entry{adm(status(aggregator.StatusCancelled)), care(24)}},
		{name: "admission on leave still counts", entries: []aggregator.Entry{adm(status(aggregator.StatusOnLeave)), care(24)},
			want: []string{"2026-03-24 during-admission: auh/Encounter/adm kommune/Appointment/24"}},
		{name: "leave of absence covers the visit",
			entries: []aggregator.Entry{adm(), care(24), care(25),
				ent("auh/Encounter/leave", mar(24, 7, 0), mar(24, 20, 0), admission, status(aggregator.StatusOnLeave))},
			want: []string{"2026-03-25 during-admission: auh/Encounter/adm kommune/Appointment/25"}},
		{name: "a leave not yet ended covers the rest of the stay",
			entries: []aggregator.Entry{adm(status(aggregator.StatusOnLeave)), care(24), care(25),
				ent("kommune/Appointment/noon", mar(23, 12, 0), mar(23, 12, 30)),
				ent("auh/Encounter/leave", mar(23, 20, 0), time.Time{}, admission, status(aggregator.StatusOnLeave), openEnded)},
			want: []string{"2026-03-23 during-admission: auh/Encounter/adm kommune/Appointment/noon"}},
		{name: "an open on-leave stay from the admission's start is no leave of it",
			entries: []aggregator.Entry{adm(), care(24),
				ent("auh2/Encounter/adm", mar(23, 9, 40), time.Time{}, admission, status(aggregator.StatusOnLeave), openEnded)},
			want: []string{"2026-03-24 during-admission: auh/Encounter/adm kommune/Appointment/24",
				"2026-03-24 during-admission: auh2/Encounter/adm kommune/Appointment/24"}},
		{name: "the leave of a finished stay is no stay of its own",
			entries: []aggregator.Entry{adm(status(aggregator.StatusCompleted)), care(24),
				ent("auh/Encounter/leave", mar(24, 7, 0), mar(24, 20, 0), admission, status(aggregator.StatusOnLeave))}},
		{name: "a meeting the hospital booked too",
			entries: []aggregator.Entry{adm(), care(24, func(e *aggregator.Entry) {
				e.Parts = []aggregator.Part{{Source: "kommune", Sector: aggregator.SectorMunicipality}, {Source: "auh", Sector: aggregator.SectorHospital}}
			})}},
		{name: "open-ended admission is still going on",
			entries: []aggregator.Entry{
				ent("auh/Encounter/open", mar(18, 9, 40), time.Time{}, admission, status(aggregator.StatusInProgress), openEnded),
				care(17), care(19), care(21), ent("kommune/Appointment/later", mar(20, 7, 30).AddDate(0, 1, 0), mar(20, 8, 0).AddDate(0, 1, 0))},
			// Within the default 7 days; a visit a month on is for the discharge to settle.
			want: []string{"2026-03-19 during-admission: auh/Encounter/open kommune/Appointment/19",
				"2026-03-21 during-admission: auh/Encounter/open kommune/Appointment/21"}},
		{name: "open-ended admission until the window ends", tune: func(r *aggregator.ConflictRules) { r.DuringAdmission.Ongoing = -1 },
			entries: []aggregator.Entry{
				ent("auh/Encounter/open", mar(18, 9, 40), time.Time{}, admission, status(aggregator.StatusInProgress), openEnded),
				care(21), ent("kommune/Appointment/later", mar(20, 7, 30).AddDate(0, 1, 0), mar(20, 8, 0).AddDate(0, 1, 0))},
			want: []string{"2026-03-21 during-admission: auh/Encounter/open kommune/Appointment/21",
				"2026-04-20 during-admission: auh/Encounter/open kommune/Appointment/later"}},
		{name: "switched off", tune: func(r *aggregator.ConflictRules) { r.DuringAdmission.Off = true },
			entries: []aggregator.Entry{adm(), care(24)}},
	})
}

func TestOverlap(t *testing.T) {
	a := func(id string, sh, sm, eh, em int, opts ...opt) aggregator.Entry {
		return ent(id, mar(24, sh, sm), mar(24, eh, em), opts...)
	}
	// 25 October 2026 at 03:00 CEST the clocks go back to 02:00 CET: 02:15 happens twice.
	firstHalf := time.Date(2026, 10, 25, 0, 15, 0, 0, time.UTC)  // 02:15 CEST
	secondHalf := time.Date(2026, 10, 25, 1, 15, 0, 0, time.UTC) // 02:15 CET
	runRule(t, aggregator.RuleOverlap, []ruleCase{
		{name: "overlap", entries: []aggregator.Entry{a("auh/Appointment/1", 10, 0, 10, 30), a("kommune/Appointment/1", 10, 15, 11, 0)},
			want: []string{"2026-03-24 overlap: auh/Appointment/1 kommune/Appointment/1"}},
		{name: "one inside the other", entries: []aggregator.Entry{a("auh/Appointment/1", 9, 0, 12, 0), a("laege/Appointment/1", 10, 0, 10, 15)},
			want: []string{"2026-03-24 overlap: auh/Appointment/1 laege/Appointment/1"}},
		{name: "touching ends", entries: []aggregator.Entry{a("auh/Appointment/1", 10, 0, 10, 30), a("kommune/Appointment/1", 10, 30, 11, 0)}},
		{name: "cancelled", entries: []aggregator.Entry{a("auh/Appointment/1", 10, 0, 10, 30), a("kommune/Appointment/1", 10, 15, 11, 0, status(aggregator.StatusCancelled))}},
		{name: "entered in error", entries: []aggregator.Entry{a("auh/Appointment/1", 10, 0, 10, 30), a("kommune/Appointment/1", 10, 15, 11, 0, status(aggregator.StatusEnteredInError))}},
		{name: "all-day has no time to overlap", entries: []aggregator.Entry{a("auh/Appointment/1", 10, 0, 10, 30), a("kommune/Appointment/1", 10, 0, 11, 0, allDay)}},
		{name: "video overlapping in person still clashes",
			entries: []aggregator.Entry{a("auh/Appointment/1", 13, 0, 13, 20, medium(aggregator.MediumVideo)), a("laege/Appointment/1", 13, 10, 13, 30)},
			want:    []string{"2026-03-24 overlap: auh/Appointment/1 laege/Appointment/1"}},
		{name: "admissions are not appointments here",
			entries: []aggregator.Entry{a("auh/Encounter/adm", 8, 0, 18, 0, admission), a("kommune/Appointment/1", 10, 0, 10, 30)}},
		{name: "an unlinked encounter of the same source records the visit",
			entries: []aggregator.Entry{a("auh/Appointment/1", 10, 0, 10, 30), a("auh/Encounter/1", 10, 5, 10, 35, func(e *aggregator.Entry) { e.Kind = aggregator.KindEncounter })}},
		{name: "an encounter of another source is another visit",
			entries: []aggregator.Entry{a("auh/Appointment/1", 10, 0, 10, 30), a("laege/Encounter/1", 10, 5, 10, 35, func(e *aggregator.Entry) { e.Kind = aggregator.KindEncounter })},
			want:    []string{"2026-03-24 overlap: auh/Appointment/1 laege/Encounter/1"}},
		{name: "an appointment of more than a day is a stay, not a visit at a time",
			entries: []aggregator.Entry{ent("auh/Appointment/stay", mar(23, 8, 0), mar(26, 12, 0)), a("kommune/Appointment/1", 10, 0, 10, 30)}},
		{name: "three at once are three pairs",
			entries: []aggregator.Entry{a("auh/Appointment/1", 10, 0, 11, 0), a("kommune/Appointment/1", 10, 15, 10, 45), a("laege/Appointment/1", 10, 30, 11, 30)},
			want: []string{"2026-03-24 overlap: auh/Appointment/1 kommune/Appointment/1",
				"2026-03-24 overlap: auh/Appointment/1 laege/Appointment/1",
				"2026-03-24 overlap: kommune/Appointment/1 laege/Appointment/1"}},
		{name: "spring DST: a night visit is an hour shorter than its wall clock says",
			entries: []aggregator.Entry{ent("kommune/Appointment/night", mar(29, 1, 30), mar(29, 3, 30)), ent("laege/Appointment/1", mar(29, 3, 30), mar(29, 4, 0))}},
		{name: "spring DST: overlap across the change",
			entries: []aggregator.Entry{ent("kommune/Appointment/night", mar(29, 1, 30), mar(29, 3, 30)), ent("laege/Appointment/1", mar(29, 3, 15), mar(29, 3, 45))},
			want:    []string{"2026-03-29 overlap: kommune/Appointment/night laege/Appointment/1"}},
		{name: "autumn DST: the same wall clock twice is not an overlap",
			entries: []aggregator.Entry{ent("kommune/Appointment/1", firstHalf, firstHalf.Add(30*time.Minute)), ent("kommune/Appointment/2", secondHalf, secondHalf.Add(30*time.Minute))}},
		{name: "switched off", tune: func(r *aggregator.ConflictRules) { r.Overlap.Off = true },
			entries: []aggregator.Entry{a("auh/Appointment/1", 10, 0, 10, 30), a("kommune/Appointment/1", 10, 15, 11, 0)}},
	})
}

func TestTravel(t *testing.T) {
	a := func(id string, sh, sm, eh, em int, opts ...opt) aggregator.Entry {
		return ent(id, mar(24, sh, sm), mar(24, eh, em), opts...)
	}
	noCoords := func(name string) opt { return at(aggregator.Place{Name: name, Address: name + " 1, Aarhus"}) }
	far := place("Randers Regionshospital", 56.4567, 10.0366) // about 32 km from auh
	runRule(t, aggregator.RuleTravel, []ruleCase{
		{name: "no time from the hospital to the GP",
			entries: []aggregator.Entry{a("auh/Appointment/1", 10, 0, 10, 30, at(auh)), a("laege/Appointment/1", 10, 35, 10, 50, at(clinic))},
			want:    []string{"2026-03-24 travel: auh/Appointment/1 laege/Appointment/1"}},
		{name: "enough time", entries: []aggregator.Entry{a("auh/Appointment/1", 10, 0, 10, 30, at(auh)), a("laege/Appointment/1", 11, 0, 11, 15, at(clinic))}},
		{name: "same place, no gap", entries: []aggregator.Entry{a("auh/Appointment/1", 10, 0, 10, 30, at(auh)), a("auh/Appointment/2", 10, 30, 11, 0, at(auh))}},
		{name: "the distance counts: 32 km at 30 km/h plus 10 minutes is 74 minutes",
			entries: []aggregator.Entry{a("auh/Appointment/1", 10, 0, 10, 30, at(auh)), a("auh2/Appointment/1", 11, 30, 12, 0, at(far))},
			want:    []string{"2026-03-24 travel: auh/Appointment/1 auh2/Appointment/1"}},
		{name: "configured speed", tune: func(r *aggregator.ConflictRules) { r.Travel.SpeedKMH = 60 },
			entries: []aggregator.Entry{a("auh/Appointment/1", 10, 0, 10, 30, at(auh)), a("auh2/Appointment/1", 11, 30, 12, 0, at(far))}},
		{name: "missing coordinates: the minimum gap",
			entries: []aggregator.Entry{a("auh/Appointment/1", 10, 0, 10, 30, noCoords("Klinik A")), a("laege/Appointment/1", 10, 50, 11, 0, noCoords("Klinik B"))},
			want:    []string{"2026-03-24 travel: auh/Appointment/1 laege/Appointment/1"}},
		{name: "missing coordinates, gap long enough",
			entries: []aggregator.Entry{a("auh/Appointment/1", 10, 0, 10, 30, noCoords("Klinik A")), a("laege/Appointment/1", 11, 0, 11, 10, noCoords("Klinik B"))}},
		{name: "one side without coordinates",
			entries: []aggregator.Entry{a("auh/Appointment/1", 10, 0, 10, 30, at(auh)), a("laege/Appointment/1", 10, 40, 11, 0, noCoords("Klinik B"))},
			want:    []string{"2026-03-24 travel: auh/Appointment/1 laege/Appointment/1"}},
		{name: "missing coordinates, same place",
			entries: []aggregator.Entry{a("auh/Appointment/1", 10, 0, 10, 30, noCoords("Klinik A")), a("laege/Appointment/1", 10, 30, 11, 0, noCoords("Klinik A"))}},
		{name: "video after in person needs no travel",
			entries: []aggregator.Entry{a("auh/Appointment/1", 10, 0, 10, 30, at(auh)), a("laege/Appointment/1", 10, 35, 10, 50, medium(aggregator.MediumVideo), at(clinic))}},
		{name: "phone then in person",
			entries: []aggregator.Entry{a("laege/Appointment/1", 10, 0, 10, 10, medium(aggregator.MediumPhone), at(clinic)), a("auh/Appointment/1", 10, 15, 10, 30, at(auh))}},
		{name: "two home visits at home",
			entries: []aggregator.Entry{a("kommune/Appointment/1", 7, 30, 8, 0, medium(aggregator.MediumHomeVisit), at(homeViby)), a("kommune/Appointment/2", 8, 0, 8, 15, medium(aggregator.MediumHomeVisit), at(homeViby))}},
		{name: "from the clinic home for a home visit",
			entries: []aggregator.Entry{a("auh/Appointment/1", 10, 0, 10, 30, at(auh)), a("kommune/Appointment/1", 10, 40, 11, 0, medium(aggregator.MediumHomeVisit), at(homeViby))},
			want:    []string{"2026-03-24 travel: auh/Appointment/1 kommune/Appointment/1"}},
		{name: "a cancelled one in between does not count",
			entries: []aggregator.Entry{a("auh/Appointment/1", 10, 0, 10, 30, at(auh)), a("laege/Appointment/1", 10, 35, 10, 45, at(clinic), status(aggregator.StatusCancelled)),
				a("kommune/Appointment/1", 12, 0, 13, 0, at(centre))}},
		{name: "cancelled", entries: []aggregator.Entry{a("auh/Appointment/1", 10, 0, 10, 30, at(auh)), a("laege/Appointment/1", 10, 35, 10, 50, at(clinic), status(aggregator.StatusCancelled))}},
		{name: "all-day entries are not at a time",
			entries: []aggregator.Entry{a("auh/Appointment/1", 10, 0, 10, 30, at(auh)), a("kommune/Appointment/1", 10, 35, 10, 50, at(centre), allDay)}},
		{name: "an overlap is not also a travel problem",
			entries: []aggregator.Entry{a("auh/Appointment/1", 10, 0, 10, 30, at(auh)), a("laege/Appointment/1", 10, 15, 10, 50, at(clinic))}},
		{name: "spring DST: 75 wall-clock minutes are 15 real ones",
			entries: []aggregator.Entry{ent("auh/Appointment/1", mar(29, 1, 20), mar(29, 1, 50), at(auh)), ent("kommune/Appointment/1", mar(29, 3, 5), mar(29, 3, 30), at(centre))},
			want:    []string{"2026-03-29 travel: auh/Appointment/1 kommune/Appointment/1"}},
		{name: "switched off", tune: func(r *aggregator.ConflictRules) { r.Travel.Off = true },
			entries: []aggregator.Entry{a("auh/Appointment/1", 10, 0, 10, 30, at(auh)), a("laege/Appointment/1", 10, 35, 10, 50, at(clinic))}},
	})
}

func TestHeavyDay(t *testing.T) {
	day := func(d int, n int, opts ...opt) []aggregator.Entry {
		var out []aggregator.Entry
		for i := range n {
			out = append(out, ent(fmt.Sprintf("auh/Appointment/%d-%d", d, i), mar(d, 8+2*i, 0), mar(d, 8+2*i, 30), opts...))
		}
		return out
	}
	with := func(es []aggregator.Entry, more ...aggregator.Entry) []aggregator.Entry { return append(es, more...) }
	runRule(t, aggregator.RuleHeavyDay, []ruleCase{
		{name: "four in person", entries: day(24, 4),
			want: []string{"2026-03-24 heavy-day: auh/Appointment/24-0 auh/Appointment/24-1 auh/Appointment/24-2 auh/Appointment/24-3"}},
		{name: "three is fine", entries: day(24, 3)},
		{name: "a video call is no trip", entries: with(day(24, 3), ent("laege/Appointment/v", mar(24, 16, 0), mar(24, 16, 20), medium(aggregator.MediumVideo)))},
		{name: "a home visit is no trip", entries: with(day(24, 3), ent("kommune/Appointment/h", mar(24, 16, 0), mar(24, 16, 20), medium(aggregator.MediumHomeVisit)))},
		{name: "cancelled ones do not count", entries: with(day(24, 3), ent("laege/Appointment/c", mar(24, 16, 0), mar(24, 16, 20), status(aggregator.StatusCancelled)))},
		{name: "all-day ones do not count", entries: with(day(24, 3), ent("kommune/Appointment/a", mar(24, 16, 0), mar(24, 16, 20), allDay))},
		{name: "days are civil days in the zone: 00:30 is tomorrow even when UTC says today",
			entries: with(day(24, 3), ent("laege/Appointment/late", mar(25, 0, 30), mar(25, 0, 45)))},
		{name: "the DST day has 23 hours and is still one day",
			entries: []aggregator.Entry{ent("kommune/Appointment/1", mar(29, 1, 30), mar(29, 3, 30)), ent("kommune/Appointment/2", mar(29, 7, 0), mar(29, 7, 30)),
				ent("auh/Appointment/1", mar(29, 10, 0), mar(29, 10, 30)), ent("laege/Appointment/1", mar(29, 23, 0), mar(29, 23, 30))},
			want: []string{"2026-03-29 heavy-day: auh/Appointment/1 kommune/Appointment/1 kommune/Appointment/2 laege/Appointment/1"}},
		{name: "configured maximum", tune: func(r *aggregator.ConflictRules) { r.HeavyDay.Max = 4 }, entries: day(24, 4)},
		{name: "the record of a visit is not another visit",
			entries: with(day(24, 3), ent("auh/Encounter/24-0", mar(24, 7, 55), mar(24, 8, 25), func(e *aggregator.Entry) { e.Kind = aggregator.KindEncounter }))},
	})
}

func TestBookedTwice(t *testing.T) {
	runRule(t, aggregator.RuleBookedTwice, []ruleCase{
		{name: "same title in two sources within 14 days",
			entries: []aggregator.Entry{ent("auh/Appointment/1", mar(10, 8, 0), mar(10, 8, 10), titled("Blodprøvetagning")), ent("laege/Appointment/1", mar(20, 8, 30), mar(20, 8, 40), titled("Blodprøvetagning"))},
			want:    []string{"2026-03-10 booked-twice: auh/Appointment/1 laege/Appointment/1"}},
		{name: "titles are compared normalised",
			entries: []aggregator.Entry{ent("auh/Appointment/1", mar(10, 8, 0), mar(10, 8, 10), titled("Blodprøvetagning.")), ent("laege/Appointment/1", mar(11, 8, 30), mar(11, 8, 40), titled("  BLODPRØVETAGNING"))},
			want:    []string{"2026-03-10 booked-twice: auh/Appointment/1 laege/Appointment/1"}},
		{name: "same source is a series, not a double booking",
			entries: []aggregator.Entry{ent("kommune/Appointment/1", mar(10, 8, 0), mar(10, 9, 0), titled("Genoptræning")), ent("kommune/Appointment/2", mar(17, 8, 0), mar(17, 9, 0), titled("Genoptræning"))}},
		{name: "more than 14 days apart",
			entries: []aggregator.Entry{ent("auh/Appointment/1", mar(1, 8, 0), mar(1, 8, 10), titled("Blodprøvetagning")), ent("laege/Appointment/1", mar(16, 8, 30), mar(16, 8, 40), titled("Blodprøvetagning"))}},
		{name: "configured days", tune: func(r *aggregator.ConflictRules) { r.BookedTwice.Days = 30 },
			entries: []aggregator.Entry{ent("auh/Appointment/1", mar(1, 8, 0), mar(1, 8, 10), titled("Blodprøvetagning")), ent("laege/Appointment/1", mar(16, 8, 30), mar(16, 8, 40), titled("Blodprøvetagning"))},
			want:    []string{"2026-03-01 booked-twice: auh/Appointment/1 laege/Appointment/1"}},
		{name: "one of them cancelled",
			entries: []aggregator.Entry{ent("auh/Appointment/1", mar(10, 8, 0), mar(10, 8, 10), titled("Blodprøvetagning"), status(aggregator.StatusCancelled)), ent("laege/Appointment/1", mar(11, 8, 30), mar(11, 8, 40), titled("Blodprøvetagning"))}},
		{name: "all-day entries count",
			entries: []aggregator.Entry{ent("kommune/Appointment/1", mar(10, 8, 0), mar(10, 8, 10), titled("Levering af rollator"), allDay), ent("auh/Appointment/1", mar(12, 8, 30), mar(12, 8, 40), titled("Levering af rollator"), allDay)},
			want:    []string{"2026-03-10 booked-twice: auh/Appointment/1 kommune/Appointment/1"}},
		{name: "same coding, different titles",
			entries: []aggregator.Entry{ent("auh/Appointment/1", mar(10, 8, 0), mar(10, 8, 10), titled("Blodprøve"), codes("urn:sks|ZZ4000")), ent("laege/Appointment/1", mar(11, 8, 30), mar(11, 8, 40), titled("Prøvetagning"), codes("urn:sks|ZZ4000"))},
			want:    []string{"2026-03-10 booked-twice: auh/Appointment/1 laege/Appointment/1"}},
		{name: "different coding, same title",
			entries: []aggregator.Entry{ent("auh/Appointment/1", mar(10, 8, 0), mar(10, 8, 10), titled("Kontrol"), codes("urn:sks|A")), ent("laege/Appointment/1", mar(11, 8, 30), mar(11, 8, 40), titled("Kontrol"), codes("urn:sks|B"))}},
		{name: "switched off", tune: func(r *aggregator.ConflictRules) { r.BookedTwice.Off = true },
			entries: []aggregator.Entry{ent("auh/Appointment/1", mar(10, 8, 0), mar(10, 8, 10), titled("Blodprøvetagning")), ent("laege/Appointment/1", mar(20, 8, 30), mar(20, 8, 40), titled("Blodprøvetagning"))}},
	})
}

func TestNothingAfterDischarge(t *testing.T) {
	stay := func(opts ...opt) aggregator.Entry {
		return ent("auh/Encounter/adm", mar(2, 14, 0), mar(5, 11, 0), append([]opt{admission, status(aggregator.StatusCompleted)}, opts...)...)
	}
	gp := func(day int, opts ...opt) aggregator.Entry {
		return ent(fmt.Sprintf("laege/Appointment/%d", day), mar(day, 9, 0), mar(day, 9, 15), opts...)
	}
	runRule(t, aggregator.RuleNothingAfterDischarge, []ruleCase{
		{name: "nothing booked", entries: []aggregator.Entry{stay()},
			want: []string{"2026-03-05 nothing-after-discharge: auh/Encounter/adm"}},
		{name: "GP visit three days after", entries: []aggregator.Entry{stay(), gp(8)}},
		{name: "municipal all-day delivery counts as follow-up", entries: []aggregator.Entry{stay(), ent("kommune/Appointment/1", mar(6, 0, 0), mar(7, 0, 0), allDay)}},
		{name: "cancelled follow-up", entries: []aggregator.Entry{stay(), gp(8, status(aggregator.StatusCancelled))},
			want: []string{"2026-03-05 nothing-after-discharge: auh/Encounter/adm"}},
		{name: "hospital follow-up is not GP or municipality", entries: []aggregator.Entry{stay(), ent("auh/Appointment/1", mar(8, 9, 0), mar(8, 9, 30))},
			want: []string{"2026-03-05 nothing-after-discharge: auh/Encounter/adm"}},
		{name: "follow-up too late", entries: []aggregator.Entry{stay(), gp(13)},
			want: []string{"2026-03-05 nothing-after-discharge: auh/Encounter/adm"}},
		{name: "follow-up before discharge does not count", entries: []aggregator.Entry{stay(), gp(1)},
			want: []string{"2026-03-05 nothing-after-discharge: auh/Encounter/adm"}},
		{name: "configured days", tune: func(r *aggregator.ConflictRules) { r.NothingAfterDischarge.Days = 10 }, entries: []aggregator.Entry{stay(), gp(13)}},
		{name: "a stay of a day or less",
			entries: []aggregator.Entry{ent("auh/Encounter/adm", mar(2, 14, 0), mar(3, 11, 0), admission, status(aggregator.StatusCompleted))}},
		{name: "a planned stay is checked too", entries: []aggregator.Entry{ent("auh/Encounter/adm", mar(23, 8, 0), mar(26, 12, 0), admission)},
			want: []string{"2026-03-26 nothing-after-discharge: auh/Encounter/adm"}},
		{name: "open-ended: no discharge yet",
			entries: []aggregator.Entry{ent("auh/Encounter/adm", mar(18, 8, 0), time.Time{}, admission, status(aggregator.StatusInProgress), openEnded)}},
		{name: "cancelled admission", entries: []aggregator.Entry{stay(status(aggregator.StatusCancelled))}},
		{name: "the patient died", entries: []aggregator.Entry{stay(func(e *aggregator.Entry) { e.Died = true })}},
		{name: "a meeting the municipality booked too counts as follow-up",
			entries: []aggregator.Entry{stay(), ent("auh/Appointment/1", mar(8, 9, 0), mar(8, 9, 30), func(e *aggregator.Entry) {
				e.Parts = []aggregator.Part{{Source: "auh", Sector: aggregator.SectorHospital}, {Source: "kommune", Sector: aggregator.SectorMunicipality}}
			})}},
		{name: "discharge too close to the window's end to know",
			entries: []aggregator.Entry{ent("auh/Encounter/adm", mar(1, 8, 0).AddDate(0, 6, -5), mar(1, 8, 0).AddDate(0, 6, -3), admission)}},
		{name: "switched off", tune: func(r *aggregator.ConflictRules) { r.NothingAfterDischarge.Off = true }, entries: []aggregator.Entry{stay()}},
	})
}

func TestConflictIDIsStable(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"entry order does not matter", aggregator.ConflictID(aggregator.RuleOverlap, []string{"x", "y"}), aggregator.ConflictID(aggregator.RuleOverlap, []string{"y", "x"}), true},
		{"the rule matters", aggregator.ConflictID(aggregator.RuleOverlap, []string{"x", "y"}), aggregator.ConflictID(aggregator.RuleTravel, []string{"x", "y"}), false},
		{"the entries matter", aggregator.ConflictID(aggregator.RuleOverlap, []string{"x", "y"}), aggregator.ConflictID(aggregator.RuleOverlap, []string{"x", "z"}), false},
		{"no ambiguity in joining", aggregator.ConflictID(aggregator.RuleOverlap, []string{"ab", "c"}), aggregator.ConflictID(aggregator.RuleOverlap, []string{"a", "bc"}), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a == tc.b; got != tc.same {
				t.Errorf("ids %s and %s equal = %v, want %v", tc.a, tc.b, got, tc.same)
			}
		})
	}
}

// TestConflictFacts: what a rule measured beyond its entries, which web's
// sentences say, is carried with the conflict, and the entries come in the
// order a sentence names them.
func TestConflictFacts(t *testing.T) {
	adm := ent("auh/Encounter/adm", mar(10, 9, 0), mar(14, 12, 0), admission)
	hosp := ent("auh/Appointment/1", mar(24, 10, 0), mar(24, 10, 30), titled("MR-skanning"), at(auh))
	gpv := ent("laege/Appointment/1", mar(24, 10, 35), mar(24, 10, 50), titled("Kontrol"), at(clinic))
	nowhere := ent("laege/Appointment/2", mar(24, 10, 35), mar(24, 10, 50), titled("Kontrol"), at(aggregator.Place{Name: "Et sted"}))
	tests := []struct {
		name    string
		entries []aggregator.Entry
		rule    aggregator.Rule
		want    aggregator.Conflict // the facts and the entries' order
	}{
		{"travel with coordinates", []aggregator.Entry{hosp, gpv}, aggregator.RuleTravel,
			aggregator.Conflict{Entries: []string{hosp.ID, gpv.ID}, Need: 16 * time.Minute, NeedKnown: true}},
		{"travel without them: the minimum gap", []aggregator.Entry{hosp, nowhere}, aggregator.RuleTravel,
			aggregator.Conflict{Entries: []string{hosp.ID, nowhere.ID}, Need: 30 * time.Minute}},
		{"nothing after discharge names the days looked at", []aggregator.Entry{adm}, aggregator.RuleNothingAfterDischarge,
			aggregator.Conflict{Entries: []string{adm.ID}, Days: 7}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := only(tc.rule, nil).Find(timelineOf(tc.entries...), cph, cnow)
			if len(cs) != 1 {
				t.Fatalf("got %d conflicts, want 1: %q", len(cs), found(cs))
			}
			got := cs[0]
			if !slices.Equal(got.Entries, tc.want.Entries) || got.Need != tc.want.Need || got.NeedKnown != tc.want.NeedKnown || got.Days != tc.want.Days {
				t.Errorf("got entries %v need %v known %v days %d, want %v %v %v %d", got.Entries, got.Need, got.NeedKnown, got.Days,
					tc.want.Entries, tc.want.Need, tc.want.NeedKnown, tc.want.Days)
			}
		})
	}
}

// TestNoConflictsOneEntryPerWeek is the property: whatever the entries are
// like, one a week never clashes, as long as a long stay is followed by GP or
// municipal care (else nothing-after-discharge rightly fires) and a service
// is not repeated across sources (else booked-twice rightly does).
func TestNoConflictsOneEntryPerWeek(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 2026))
	sources := []string{"auh", "kommune", "laege"}
	media := []aggregator.Medium{aggregator.MediumInPerson, aggregator.MediumVideo, aggregator.MediumPhone, aggregator.MediumHomeVisit}
	statuses := []aggregator.Status{aggregator.StatusBooked, aggregator.StatusCompleted, aggregator.StatusCancelled, aggregator.StatusTentative,
		aggregator.StatusInProgress, aggregator.StatusNoShow, aggregator.StatusUnknown}
	places := []aggregator.Place{auh, clinic, centre, homeViby, {Name: "Uden koordinater"}, {}}
	for run := range 300 {
		first := time.Date(2025, 1, 1, 0, 0, 0, 0, cph).AddDate(0, 0, rng.IntN(600))
		n := 1 + rng.IntN(30)
		var entries []aggregator.Entry
		needFollowUp := false
		for k := range n {
			src := sources[rng.IntN(len(sources))]
			if needFollowUp {
				src = sources[1+rng.IntN(2)]
			}
			start := first.AddDate(0, 0, 7*k).Add(time.Duration(rng.IntN(24*60)) * time.Minute)
			e := ent(fmt.Sprintf("%s/Appointment/%d", src, k), start, start.Add(time.Duration(5+rng.IntN(180))*time.Minute),
				titled(fmt.Sprintf("%s service %d", src, rng.IntN(3))), medium(media[rng.IntN(len(media))]),
				at(places[rng.IntN(len(places))]), status(statuses[rng.IntN(len(statuses))]))
			kind := rng.IntN(6)
			if needFollowUp {
				e.Status = aggregator.StatusBooked
				kind = 2 + rng.IntN(4) // not another stay
			}
			needFollowUp = false
			switch kind {
			case 0:
				allDay(&e)
			case 1:
				if k < n-1 { // a stay of up to five days (a DST week is an hour short), then someone comes by
					e.Kind, e.Source, e.Sector, e.ID = aggregator.KindAdmission, "auh", aggregator.SectorHospital, fmt.Sprintf("auh/Encounter/%d", k)
					e.End = e.Start.Add(time.Duration(1+rng.IntN(5*24)) * time.Hour)
					needFollowUp = true
				} else { // the last one may still be going on
					e.Kind, e.Source, e.Sector, e.End = aggregator.KindAdmission, "auh", aggregator.SectorHospital, time.Time{}
					e.ID, e.Status = fmt.Sprintf("auh/Encounter/%d", k), aggregator.StatusInProgress
				}
			}
			entries = append(entries, e)
		}
		tl := timelineOf(entries...)
		tl.Window = aggregator.Window{From: first.AddDate(0, 0, -7), To: first.AddDate(0, 0, 7*n+30)}
		now := first.AddDate(0, 0, rng.IntN(7*n+1))
		if got := aggregator.DefaultConflictRules().Find(tl, cph, now); len(got) > 0 {
			t.Fatalf("run %d: %d entries one week apart gave conflicts %q", run, n, found(got))
		}
	}
}
