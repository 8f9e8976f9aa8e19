package web

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// TestConflictSentences writes the sentences of conflicts the aggregator's
// rules find, in both languages: the patient's voice, from the facts alone.
// (cmd/overblik's golden conflicts.json holds every rule's sentences for the
// demo as well.)
func TestConflictSentences(t *testing.T) {
	loc := cph(t)
	mar := func(day, h, m int) time.Time { return time.Date(2026, 3, day, h, m, 0, 0, loc) }
	place := func(name string, lat, lon float64) aggregator.Place {
		return aggregator.Place{Name: name, Lat: &lat, Lon: &lon}
	}
	auh, clinic := place("Aarhus Universitetshospital", 56.1909, 10.1738), place("Lægehuset Trøjborg", 56.1712, 10.2093)
	ent := func(id string, start, end time.Time, f func(*aggregator.Entry)) aggregator.Entry {
		src, _, _ := strings.Cut(id, "/")
		sector := map[string]aggregator.Sector{"auh": aggregator.SectorHospital, "kommune": aggregator.SectorMunicipality, "laege": aggregator.SectorGP}[src]
		e := aggregator.Entry{ID: id, Source: src, Sector: sector, Kind: aggregator.KindAppointment, Status: aggregator.StatusBooked,
			Start: start, End: end, Title: id, Medium: aggregator.MediumInPerson}
		if f != nil {
			f(&e)
		}
		return e
	}
	adm := ent("auh/Encounter/adm", mar(23, 9, 40), mar(26, 12, 0), func(e *aggregator.Entry) {
		e.Kind, e.Organization = aggregator.KindAdmission, "Aarhus Universitetshospital"
	})
	care := ent("kommune/Appointment/1", mar(24, 8, 0), mar(24, 8, 30), func(e *aggregator.Entry) {
		e.Title, e.Medium, e.Organization, e.Contact = "Hjemmesygepleje: sårpleje", aggregator.MediumHomeVisit, "Hjemmesygeplejen", "8940 2000"
	})
	open := ent("auh/Encounter/open", mar(18, 9, 40), time.Time{}, func(e *aggregator.Entry) {
		e.Kind, e.Status = aggregator.KindAdmission, aggregator.StatusInProgress
	})
	hosp := ent("auh/Appointment/1", mar(24, 10, 0), mar(24, 10, 30), func(e *aggregator.Entry) { e.Title, e.Place = "MR-skanning", auh })
	gpv := ent("laege/Appointment/1", mar(24, 10, 35), mar(24, 10, 50), func(e *aggregator.Entry) { e.Title, e.Place = "Kontrol", clinic })
	tests := []struct {
		name    string
		entries []aggregator.Entry
		rule    aggregator.Rule
		da, en  string
	}{
		{"during admission", []aggregator.Entry{adm, care}, aggregator.RuleDuringAdmission,
			"Hjemmesygeplejen kommer tirsdag 24. marts kl. 8 (Hjemmesygepleje: sårpleje), men du er indlagt på Aarhus Universitetshospital fra mandag 23. marts til torsdag 26. marts. Kontakt Hjemmesygeplejen (tlf. 8940 2000) for at sætte besøget på pause eller flytte det.",
			"Hjemmesygeplejen is coming on Tuesday 24 March at 08:00 (Hjemmesygepleje: sårpleje), but you are admitted to Aarhus Universitetshospital from Monday 23 March to Thursday 26 March. Contact Hjemmesygeplejen (phone 8940 2000) to pause or move the visit."},
		{"open-ended admission names no discharge", []aggregator.Entry{open, ent("laege/Appointment/2", mar(20, 13, 0), mar(20, 13, 15), func(e *aggregator.Entry) { e.Title = "Kontrol" })}, aggregator.RuleDuringAdmission,
			"Du har en tid hos Lægehuset Trøjborg fredag 20. marts kl. 13 (Kontrol), men du er indlagt på Aarhus Universitetshospital fra onsdag 18. marts, endnu uden en dato for udskrivning. Kontakt Lægehuset Trøjborg for at sætte besøget på pause eller flytte det.",
			"You have an appointment with Lægehuset Trøjborg on Friday 20 March at 13:00 (Kontrol), but you are admitted to Aarhus Universitetshospital since Wednesday 18 March, with no discharge date yet. Contact Lægehuset Trøjborg to pause or move the visit."},
		{"a visit already due speaks of the next ones", []aggregator.Entry{open, ent("kommune/Appointment/2", mar(19, 7, 30), mar(19, 8, 0), func(e *aggregator.Entry) {
			e.Title, e.Medium, e.Organization = "Hjemmepleje: morgenhjælp", aggregator.MediumHomeVisit, "Hjemmeplejen Midtbyen"
		})}, aggregator.RuleDuringAdmission,
			"Hjemmeplejen Midtbyen skulle komme torsdag 19. marts kl. 7.30 (Hjemmepleje: morgenhjælp), men du var indlagt på Aarhus Universitetshospital fra onsdag 18. marts, endnu uden en dato for udskrivning. Kontakt Hjemmeplejen Midtbyen, så de næste besøg bliver sat på pause.",
			"Hjemmeplejen Midtbyen was due to come on Thursday 19 March at 07:30 (Hjemmepleje: morgenhjælp), but you were admitted to Aarhus Universitetshospital from Wednesday 18 March, with no discharge date yet. Contact Hjemmeplejen Midtbyen so the next visits are paused."},
		{"travel", []aggregator.Entry{hosp, gpv}, aggregator.RuleTravel,
			"Tirsdag 24. marts: MR-skanning slutter kl. 10.30 (Aarhus Universitetshospital), og Kontrol begynder kl. 10.35 (Lægehuset Trøjborg). Der er kun 5 minutter imellem, men turen tager omkring 16 minutter. Kontakt Lægehuset Trøjborg, hvis tiden skal flyttes.",
			"On Tuesday 24 March, MR-skanning ends at 10:30 (Aarhus Universitetshospital) and Kontrol starts at 10:35 (Lægehuset Trøjborg). There are only 5 minutes between them, but the journey takes about 16 minutes. Contact Lægehuset Trøjborg if the time needs moving."},
		{"an untitled entry is named as the page names it", []aggregator.Entry{ent("auh/Appointment/2", mar(24, 10, 0), mar(24, 10, 30), func(e *aggregator.Entry) { e.Title, e.Place = "", auh }), gpv}, aggregator.RuleTravel,
			"Tirsdag 24. marts: Aftale slutter kl. 10.30 (Aarhus Universitetshospital), og Kontrol begynder kl. 10.35 (Lægehuset Trøjborg). Der er kun 5 minutter imellem, men turen tager omkring 16 minutter. Kontakt Lægehuset Trøjborg, hvis tiden skal flyttes.",
			"On Tuesday 24 March, Appointment ends at 10:30 (Aarhus Universitetshospital) and Kontrol starts at 10:35 (Lægehuset Trøjborg). There are only 5 minutes between them, but the journey takes about 16 minutes. Contact Lægehuset Trøjborg if the time needs moving."},
	}
	srv := newTestEnv(t, Config{}, nil).srv
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entries := slices.Clone(tc.entries)
			slices.SortFunc(entries, func(a, b aggregator.Entry) int { return a.Start.Compare(b.Start) })
			tl := &aggregator.Timeline{GeneratedAt: mar(20, 10, 0), Entries: entries,
				Window: aggregator.Window{From: mar(1, 0, 0), To: mar(1, 0, 0).AddDate(0, 6, 0)},
				Sources: []aggregator.SourceStatus{{Name: "auh", Display: "Aarhus Universitetshospital"},
					{Name: "kommune", Display: "Aarhus Kommune"}, {Name: "laege", Display: "Lægehuset Trøjborg"}}}
			rules := aggregator.ConflictRules{}
			rules.DuringAdmission.Off = tc.rule != aggregator.RuleDuringAdmission
			rules.Overlap.Off, rules.HeavyDay.Off, rules.BookedTwice.Off, rules.NothingAfterDischarge.Off = true, true, true, true
			rules.Travel.Off = tc.rule != aggregator.RuleTravel
			tl.Conflicts = rules.Find(tl, loc, tl.GeneratedAt)
			if len(tl.Conflicts) != 1 {
				t.Fatalf("got %d conflicts, want 1", len(tl.Conflicts))
			}
			for lang, want := range map[string]string{langDA: tc.da, langEN: tc.en} {
				if got := newConflictText(srv.tr[lang], tl).sentence(tl.Conflicts[0]); got != want {
					t.Errorf("%s\n got %s\nwant %s", lang, got, want)
				}
			}
		})
	}
}

// TestConflictSentencesForARelative: a notice's sentence to a relative is
// about the patient by her first name, never "du er indlagt".
func TestConflictSentencesForARelative(t *testing.T) {
	loc := cph(t)
	mar := func(day, h int) time.Time { return time.Date(2026, 3, day, h, 0, 0, 0, loc) }
	tl := &aggregator.Timeline{GeneratedAt: mar(20, 10), Window: aggregator.Window{From: mar(1, 0), To: mar(1, 0).AddDate(0, 6, 0)},
		Entries: []aggregator.Entry{
			{ID: "auh/Encounter/adm", Source: "auh", Sector: aggregator.SectorHospital, Kind: aggregator.KindAdmission,
				Status: aggregator.StatusBooked, Start: mar(23, 9), End: mar(26, 12), Organization: "Aarhus Universitetshospital"},
			{ID: "kommune/Appointment/1", Source: "kommune", Sector: aggregator.SectorMunicipality, Kind: aggregator.KindAppointment,
				Status: aggregator.StatusBooked, Start: mar(24, 8), End: mar(24, 9), Title: "Hjemmepleje", Medium: aggregator.MediumHomeVisit,
				Organization: "Hjemmeplejen"},
		}}
	rules := aggregator.ConflictRules{}
	rules.Overlap.Off, rules.Travel.Off, rules.HeavyDay.Off, rules.BookedTwice.Off, rules.NothingAfterDischarge.Off = true, true, true, true, true
	tl.Conflicts = rules.Find(tl, loc, tl.GeneratedAt)
	if len(tl.Conflicts) != 1 {
		t.Fatalf("got %d conflicts, want 1", len(tl.Conflicts))
	}
	say := ConflictSentences(loc)
	if got := say(tl, tl.Conflicts[0], langDA, ""); !strings.Contains(got, "du er indlagt") {
		t.Errorf("to the patient: %q, want her own voice", got)
	}
	got := say(tl, tl.Conflicts[0], langDA, "Birthe Østergaard Madsen")
	if !strings.Contains(got, "Birthe er indlagt") || strings.Contains(got, "du er") {
		t.Errorf("to a relative: %q, want it about Birthe", got)
	}
}
