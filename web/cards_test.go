package web

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// cardsTimeline is a patient's month as the cards must show it (testNow is
// Tuesday 1 December 2026): home care every morning, one of the mornings in
// an overlap; training every Monday; foot care three days running, one of
// them new since the last look; a cancelled check-up booked again (the
// source says nothing), a cancelled X-ray the source says was replaced, a
// cancelled session nothing replaced; a delivery from midnight to midnight.
func cardsTimeline(t testing.TB) *aggregator.Timeline {
	t.Helper()
	loc := cph(t)
	at := func(d, h, m int) time.Time { return time.Date(2026, 12, d, h, m, 0, 0, loc) }
	updated := at(1, 8, 0)
	home := aggregator.Place{Name: "Borgerens hjem", Address: "Grøndalsvej 12, 8260 Viby J"}
	morning := func(d int) aggregator.Entry {
		return aggregator.Entry{ID: "kommune/Appointment/m" + strconv.Itoa(d), Source: "kommune", Sector: aggregator.SectorMunicipality,
			Kind: aggregator.KindAppointment, Status: aggregator.StatusBooked, Start: at(d, 7, 30), End: at(d, 8, 0),
			Title: "Hjemmepleje: morgenhjælp", Place: home, Medium: aggregator.MediumHomeVisit,
			People: []string{"Social- og sundhedshjælper, Hjemmeplejen Midtbyen"}, Organization: "Hjemmeplejen Midtbyen",
			Contact: "0000 2001", Updated: updated}
	}
	visit := func(id, source, title string, start time.Time, minutes int) aggregator.Entry {
		return aggregator.Entry{ID: id, Source: source, Sector: aggregator.SectorHospital, Kind: aggregator.KindAppointment,
			Status: aggregator.StatusBooked, Start: start, End: start.Add(time.Duration(minutes) * time.Minute), Title: title,
			Place:  aggregator.Place{Name: "Ambulatoriet", Address: "Palle Juul-Jensens Boulevard 99, 8200 Aarhus N"},
			Medium: aggregator.MediumInPerson, Organization: "Aarhus Universitetshospital", Contact: "+45 7845 0000", Updated: updated}
	}
	cancelled := func(e aggregator.Entry, when time.Time) aggregator.Entry {
		e.Status, e.Updated = aggregator.StatusCancelled, when
		return e
	}
	training := func(d int) aggregator.Entry {
		e := visit("kommune/Appointment/t"+strconv.Itoa(d), "kommune", "Genoptræning: styrke og balance", at(d, 9, 45), 60)
		e.Sector, e.Organization, e.Contact = aggregator.SectorMunicipality, "Genoptræning og rehabilitering", "0000 2003"
		return e
	}
	foot := func(d int) aggregator.Entry {
		e := visit("kommune/Appointment/f"+strconv.Itoa(d), "kommune", "Fodpleje", at(d, 13, 0), 30)
		e.Sector = aggregator.SectorMunicipality
		return e
	}
	xray := visit("hospital/Appointment/x1", "hospital", "Røntgen", at(10, 11, 0), 15)
	xrayAgain := visit("hospital/Appointment/x2", "hospital", "Røntgen af knæ", at(22, 11, 0), 15)
	xrayAgain.Replaces = []string{xray.ID}
	delivery := aggregator.Entry{ID: "kommune/Appointment/rollator", Source: "kommune", Sector: aggregator.SectorMunicipality,
		Kind: aggregator.KindAppointment, Status: aggregator.StatusBooked, Start: at(12, 0, 0), End: at(13, 0, 0),
		Title: "Levering af hjælpemiddel: rollator", Place: home, Medium: aggregator.MediumHomeVisit, Updated: updated}
	gp := visit("gp/Appointment/bp", "gp", "Blodtryk", at(6, 7, 45), 15)
	gp.Sector, gp.Organization = aggregator.SectorGP, "Lægehuset"

	entries := []aggregator.Entry{
		cancelled(morning(0), updated), // 30 November: one morning less, not booked again
		morning(3), morning(4), morning(5), morning(6), gp, morning(7), training(7), morning(8),
		cancelled(visit("hospital/Appointment/k1", "hospital", "Kontrol", at(9, 10, 0), 30), updated.Add(time.Hour)),
		cancelled(xray, updated.Add(2*time.Hour)),
		cancelled(training(11), updated.Add(3*time.Hour)),
		delivery, training(14), foot(15), foot(16), foot(17),
		visit("hospital/Appointment/k2", "hospital", "Kontrol", at(18, 10, 0), 30),
		training(21), xrayAgain,
	}
	entries[len(entries)-3].Updated = updated.Add(time.Hour) // the check-up booked again when the first was cancelled
	tl := &aggregator.Timeline{Patient: testHandle, GeneratedAt: at(1, 11, 58),
		Window:  aggregator.Window{From: at(1, 0, 0).AddDate(0, -3, 0), To: at(1, 0, 0).AddDate(0, 6, 0)},
		Entries: entries,
		Sources: []aggregator.SourceStatus{{Name: "kommune", OK: true}, {Name: "hospital", OK: true}, {Name: "gp", OK: true}},
	}
	tl.Conflicts = []aggregator.Conflict{conflict(aggregator.RuleOverlap, aggregator.SeverityHigh, "2026-12-06", "kommune/Appointment/m6", gp.ID)}
	return tl
}

// cardsOf returns the rendered cards whose heading holds title.
func cardsOf(body, title string) []string {
	var out []string
	for _, li := range strings.Split(body, `<li class="entry `)[1:] {
		li, _, _ = strings.Cut(li, "</article>")
		if strings.Contains(between(li, "<h4", "</h4>"), title) {
			out = append(out, li)
		}
	}
	return out
}

func indexOf(tl *aggregator.Timeline, id string) int {
	for i := range tl.Entries {
		if tl.Entries[i].ID == id {
			return i
		}
	}
	return -1
}

func TestRecurringVisitsShareACard(t *testing.T) {
	tl := cardsTimeline(t)
	var since time.Time
	src := changingTimelines{fakeTimelines: fakeTimelines{tl: tl}, since: &since, changes: []aggregator.Change{
		{Version: 2, Noticed: tl.GeneratedAt, EntryID: "kommune/Appointment/f16", Kind: aggregator.ChangeAdded, Title: "Fodpleje"},
	}}
	env := newTestEnv(t, Config{}, src)
	body := env.do(t, http.MethodGet, "/p/"+testHandle, "", "Cookie: seen=1").Body.String()

	mornings := cardsOf(body, "Hjemmepleje: morgenhjælp")[1:] // after the cancelled one of 30 November
	// 3-5 December on one card; the 6th (in the overlap) and the 7th and
	// 8th (two left, too few) on their own.
	if len(mornings) != 4 {
		t.Fatalf("%d cards of morning help, want 4 (one for 3-5 December, one each for 6, 7, 8)", len(mornings))
	}
	group := mornings[0]
	for _, want := range []string{`recurring"`, "07.30–08.00", "Hver dag, 3.–5. dec (3 gange)", "Vis alle 3 gange",
		"torsdag 3. december 2026", "fredag 4. december 2026", "lørdag 5. december 2026"} {
		if !strings.Contains(group, want) {
			t.Errorf("the grouped card lacks %q:\n%s", want, group)
		}
	}
	for _, d := range []int{3, 4, 5} {
		i := indexOf(tl, "kommune/Appointment/m"+strconv.Itoa(d))
		if !strings.Contains(group, `<li id="e`+strconv.Itoa(i)+`">`) || !strings.Contains(group, entryCalendarPath(testHandle, tl.Entries[i].ID)) {
			t.Errorf("the grouped card does not list the visit of %d December with its calendar download", d)
		}
	}
	if n := strings.Count(group, `download aria-describedby`); n != 3 {
		t.Errorf("the grouped card has %d downloads, want one per visit", n)
	}
	for _, c := range mornings[1:] {
		if strings.Contains(c, "Hver dag") {
			t.Errorf("a visit outside the run is grouped:\n%s", c)
		}
	}
	if !strings.Contains(mornings[1], "Vær opmærksom") {
		t.Error("the morning in the overlap lost its note")
	}

	training := cardsOf(body, "Genoptræning: styrke og balance")
	// 7, 14, 21 December: a Monday each week; the 11th is cancelled.
	if len(training) != 2 || !strings.Contains(training[0], "Hver mandag, 7.–21. dec (3 gange)") {
		t.Errorf("training: %d cards, want the weekly card and the cancelled one:\n%s", len(training), strings.Join(training, "\n----\n"))
	}
	if foot := cardsOf(body, "Fodpleje"); len(foot) != 3 {
		t.Errorf("foot care: %d cards, want 3: one of the days is new since the last look", len(foot))
	}
	if strings.Contains(body, "Hjemmeplejen Midtbyen, Hjemmeplejen Midtbyen") {
		t.Error("the organisation is named twice")
	}
	if !strings.Contains(group, "Social- og sundhedshjælper, Hjemmeplejen Midtbyen</dd>") {
		t.Errorf("the card does not say whom the visit is with:\n%s", group)
	}

	en := env.do(t, http.MethodGet, "/p/"+testHandle+"?lang=en", "").Body.String()
	for _, want := range []string{"Every day, 3–5 Dec (3 times)", "Every Monday, 7–21 Dec (3 times)", "Show all 3 times"} {
		if !strings.Contains(en, want) {
			t.Errorf("the English page lacks %q", want)
		}
	}

	// A clinician reads every visit as it is.
	clin := env.do(t, http.MethodGet, "/clinician/p/"+testHandle, "").Body.String()
	if n := len(cardsOf(clin, "Hjemmepleje: morgenhjælp")); n != 7 || strings.Contains(clin, "Hver dag") {
		t.Errorf("the clinician's page has %d cards of morning help, want all 7 ungrouped", n)
	}
}

func TestNextAppointmentAndNewTimes(t *testing.T) {
	tl := cardsTimeline(t)
	env := newTestEnv(t, Config{}, fakeTimelines{tl: tl})
	body := env.do(t, http.MethodGet, "/p/"+testHandle, "").Body.String()
	ids := map[string]bool{}
	for _, m := range regexp.MustCompile(` id="([^"]+)"`).FindAllStringSubmatch(body, -1) {
		ids[m[1]] = true
	}

	next := between(body, `<section class="next"`, `</section>`)
	first := indexOf(tl, "kommune/Appointment/m3")
	for _, want := range []string{"Næste aftale", "Hjemmepleje: morgenhjælp", "torsdag 3. december 2026, 07.30–08.00",
		"Borgerens hjem, Grøndalsvej 12, 8260 Viby J", `href="#g` + strconv.Itoa(first) + `"`} {
		if !strings.Contains(next, want) {
			t.Errorf("Næste aftale lacks %q:\n%s", want, next)
		}
	}
	if !ids["g"+strconv.Itoa(first)] {
		t.Error("Næste aftale links to no card")
	}
	if strings.Index(body, `class="next"`) > strings.Index(body, `id="upcoming"`) {
		t.Error("Næste aftale is not at the top")
	}

	newTime := regexp.MustCompile(`<p class="new-time"><a href="#([^"]+)" class="action">([^<]+)</a>`)
	tests := []struct {
		title, want, to string
	}{
		// Nothing says so, but the same check-up was booked again when it was cancelled.
		{"Kontrol", "Ny tid: fredag 18. december 2026, 10.00–10.30", "hospital/Appointment/k2"},
		// The source says which appointment replaced it, under another title.
		{"Røntgen", "Ny tid: tirsdag 22. december 2026, 11.00–11.15", "hospital/Appointment/x2"},
	}
	for _, tc := range tests {
		cards := cardsOf(body, "<del>"+tc.title+"</del>")
		if len(cards) != 1 {
			t.Fatalf("%d cancelled cards titled %q", len(cards), tc.title)
		}
		m := newTime.FindStringSubmatch(cards[0])
		if m == nil {
			t.Errorf("the cancelled %q does not link to its new time:\n%s", tc.title, cards[0])
			continue
		}
		if m[2] != tc.want || m[1] != "e"+strconv.Itoa(indexOf(tl, tc.to)) || !ids[m[1]] {
			t.Errorf("the cancelled %q links to #%s %q, want #e%d %q", tc.title, m[1], m[2], indexOf(tl, tc.to), tc.want)
		}
	}
	// The training cancelled on the 11th, and the morning help on 30
	// November: visits of a series, one less, none booked in their place.
	for _, title := range []string{"Genoptræning: styrke og balance", "Hjemmepleje: morgenhjælp"} {
		for _, c := range cardsOf(body, title) {
			if strings.Contains(c, "Ny tid") {
				t.Errorf("a visit of a series is taken for a cancelled one's new time:\n%s", c)
			}
		}
	}

	delivery := cardsOf(body, "Levering af hjælpemiddel")
	if len(delivery) != 1 || !strings.Contains(delivery[0], ">Hele dagen<") || strings.Contains(delivery[0], "00.00") {
		t.Errorf("midnight to midnight is not all day:\n%s", strings.Join(delivery, ""))
	}
}

func TestCardActions(t *testing.T) {
	tl := cardsTimeline(t)
	env := newTestEnv(t, Config{}, fakeTimelines{tl: tl})
	body := env.do(t, http.MethodGet, "/p/"+testHandle, "").Body.String()
	morning := cardsOf(body, "Hjemmepleje: morgenhjælp")[0]
	if !strings.Contains(morning, `<a href="tel:00002001" class="action">0000 2001</a>`) {
		t.Errorf("the phone number is no tel: link:\n%s", morning)
	}
	if strings.Contains(morning, "openstreetmap") {
		t.Error("the patient's own home is sent to a map")
	}
	kontrol := cardsOf(body, "Kontrol")[1]
	for _, want := range []string{
		`<a href="tel:&#43;4578450000" class="action">+45 7845 0000</a>`,
		`<a href="https://www.openstreetmap.org/search?query=Palle&#43;Juul-Jensens&#43;Boulevard&#43;99%2C&#43;8200&#43;Aarhus&#43;N" class="action" rel="noopener noreferrer">Palle Juul-Jensens Boulevard 99, 8200 Aarhus N <span class="muted">(kort)</span></a>`,
		`class="action" download aria-describedby="e` + strconv.Itoa(indexOf(tl, "hospital/Appointment/k2")) + `">Tilføj til kalender</a>`,
	} {
		if !strings.Contains(kontrol, want) {
			t.Errorf("the check-up lacks %s:\n%s", want, kontrol)
		}
	}
}

func TestPhoneHref(t *testing.T) {
	for in, want := range map[string]string{
		"0000 2001":         "tel:00002001",
		"+45 78 45-00 00":   "tel:+4578450000",
		"(+45) 7845 0000":   "",
		"ring hverdage 8-9": "",
		"12":                "",
		"javascript:alert":  "",
	} {
		if got := string(phoneHref(in)); got != want {
			t.Errorf("phoneHref(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConfidentialVisitKeepsItsOwnCard: a card carries one sensitivity, so
// the patient's "only for you" label is never folded onto visible visits
// (or lost from a confidential one) by grouping.
func TestConfidentialVisitKeepsItsOwnCard(t *testing.T) {
	tl := cardsTimeline(t)
	tl.Entries[indexOf(tl, "kommune/Appointment/m4")].Sensitivity = aggregator.SensitivityRestricted
	env := newTestEnv(t, Config{}, fakeTimelines{tl: tl})
	body := env.do(t, http.MethodGet, "/p/"+testHandle, "", "Cookie: seen=1").Body.String()
	for _, c := range cardsOf(body, "Hjemmepleje: morgenhjælp") {
		if strings.Contains(c, "Hver dag") && strings.Contains(c, "fredag 4. december 2026") {
			t.Errorf("the confidential morning of 4 December is folded into a card of visible ones:\n%s", c)
		}
	}
}
