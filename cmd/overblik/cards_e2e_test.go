package main

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// cardsDemoDay is the day the demo's data is made for in the tests of the
// cards. The demo books the first patient's morning help on the next three
// days, but not on the day clocks change (that morning is at 7.00): when a
// change falls on one of them, the data is made a few days later, so the
// three mornings in a row are there whatever the date.
func cardsDemoDay(t *testing.T) time.Time {
	t.Helper()
	cph, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for d := 1; d <= 3; d++ {
		day := now.In(cph).AddDate(0, 0, d)
		noon := time.Date(day.Year(), day.Month(), day.Day(), 12, 0, 0, 0, cph)
		_, before := noon.AddDate(0, 0, -1).Zone()
		if _, off := noon.Zone(); off != before {
			return now.AddDate(0, 0, 4)
		}
	}
	return now
}

// cardsTitled returns the rendered cards of a timeline page whose heading
// holds title.
func cardsTitled(body, title string) []string {
	var out []string
	for _, li := range strings.Split(body, `<li class="entry `)[1:] {
		li, _, _ = strings.Cut(li, "</article>")
		_, h, _ := strings.Cut(li, "<h4")
		h, _, _ = strings.Cut(h, "</h4>")
		if strings.Contains(h, title) {
			out = append(out, li)
		}
	}
	return out
}

var (
	idAttr   = regexp.MustCompile(` id="([^"]+)"`)
	hashHref = regexp.MustCompile(`href="#([^"]+)"`)
)

// TestDemoCards reads the demo's first patient's timeline as she and her
// relative get it: her morning help on one card, the organisation named
// once, each conflict said once with links to it from its other entries,
// the next appointment at the top, the delivery all day, the cancelled
// check-up linked to its new time, phone numbers and places as links, and
// the download of a restricted entry refused to the relative as if it did
// not exist.
func TestDemoCards(t *testing.T) {
	s := startDemoSiteAt(t, cardsDemoDay(t))
	birthe := patientHandle(t, s.a, s.d.patients[0].Handle)
	patient, relative := s.login(t, "patient-1"), s.login(t, "relative")
	body := s.read(t, patient, s.base+"/p/"+birthe)

	ids := map[string]bool{}
	for _, m := range idAttr.FindAllStringSubmatch(body, -1) {
		ids[m[1]] = true
	}
	for _, m := range hashHref.FindAllStringSubmatch(body, -1) {
		if !ids[m[1]] {
			t.Errorf("a link to #%s, which is nowhere on the page", m[1])
		}
	}

	var group string
	for _, c := range cardsTitled(body, "Hjemmepleje: morgenhjælp") {
		if strings.Contains(c, "Hver dag, ") {
			group = c
		}
	}
	if group == "" {
		t.Fatalf("no card for the morning help of the next days:\n%s", body)
	}
	for _, want := range []string{"07.30–08.00", "(3 gange)", "Vis alle 3 gange", `href="tel:00002001"`} {
		if !strings.Contains(group, want) {
			t.Errorf("the morning help's card lacks %q:\n%s", want, group)
		}
	}
	if n := strings.Count(group, `<li id="e`); n != 3 {
		t.Errorf("the morning help's card lists %d visits, want 3", n)
	}
	if strings.Contains(body, "Hjemmeplejen Midtbyen, Hjemmeplejen Midtbyen") {
		t.Error("the page names an organisation twice")
	}

	// The travel conflict of her GP visit is said once, on the first of
	// its entries; the other links to it.
	if n := strings.Count(body, "men turen tager omkring"); n != 1 {
		t.Errorf("the travel conflict is said %d times, want once", n)
	}
	medicin := cardsTitled(body, "Samtale om medicin")
	if len(medicin) == 0 || !regexp.MustCompile(`<a href="#c[0-9a-f]+" class="action">Se besked ved Røntgen af hånd \(13\.00–13\.20\)</a>`).MatchString(medicin[len(medicin)-1]) {
		t.Errorf("the GP visit after the X-ray does not point to the conflict's note:\n%s", strings.Join(medicin, "\n"))
	}

	_, next, _ := strings.Cut(body, `<section class="next"`)
	next, _, _ = strings.Cut(next, `</section>`)
	if !strings.Contains(next, "Næste aftale") || !strings.Contains(next, `href="#`) {
		t.Errorf("no Næste aftale at the top:\n%s", next)
	}
	if strings.Index(body, `class="next"`) > strings.Index(body, `id="upcoming"`) {
		t.Error("Næste aftale is below the upcoming days")
	}

	delivery := cardsTitled(body, "Levering af hjælpemiddel: rollator")
	if len(delivery) != 1 || !strings.Contains(delivery[0], ">Hele dagen<") || strings.Contains(delivery[0], "00.00") {
		t.Errorf("the delivery from midnight to midnight is not all day:\n%s", strings.Join(delivery, "\n"))
	}

	var cancelled, booked string
	for _, c := range cardsTitled(body, "Kontrol i ortopædkirurgisk ambulatorium") {
		if strings.Contains(c, "<del>") {
			cancelled = c
		} else {
			booked = c
		}
	}
	m := regexp.MustCompile(`<p class="new-time"><a href="#(e\d+)" class="action">Ny tid: ([^<]+)</a>`).FindStringSubmatch(cancelled)
	if m == nil || !strings.Contains(booked, `<h4 id="`+m[1]+`">`) {
		t.Errorf("the cancelled check-up does not link to its new time:\n%s\n----\n%s", cancelled, booked)
	}

	for _, want := range []string{`href="tel:00001000"`, `href="https://www.openstreetmap.org/search?query=Palle&#43;Juul-Jensens&#43;Boulevard&#43;99`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page has no %s", want)
		}
	}

	// A restricted entry's download: hers to fetch; to the relative, whose
	// delegation leaves it out, the same 404 as an address that names
	// nothing.
	psych := cardsTitled(body, "Samtale i psykiatrisk ambulatorium")
	if len(psych) == 0 {
		t.Fatal("the patient's page does not show her restricted appointment")
	}
	ics := regexp.MustCompile(`href="(/p/[^"]+/entries/[0-9a-f]{16}\.ics)"`).FindStringSubmatch(psych[0])
	if ics == nil {
		t.Fatalf("no download on the restricted appointment:\n%s", psych[0])
	}
	get := func(c *http.Client, path string) (int, string, string) {
		t.Helper()
		resp, err := c.Get(s.base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	if code, ct, cal := get(patient, ics[1]); code != http.StatusOK || !strings.HasPrefix(ct, "text/calendar") || !strings.Contains(cal, "SUMMARY:Samtale i psykiatrisk ambulatorium") {
		t.Errorf("the patient's download of her restricted appointment: %d %s\n%s", code, ct, cal)
	}
	unknown := "/p/" + birthe + "/entries/0123456789abcdef.ics"
	codeR, _, hidden := get(relative, ics[1])
	codeU, _, none := get(relative, unknown)
	// The pages differ only in the address the language switch reloads.
	if codeR != http.StatusNotFound || codeU != http.StatusNotFound || strings.ReplaceAll(hidden, ics[1], unknown) != none {
		t.Errorf("the relative's download of the restricted entry: %d, of an unknown one: %d; want the same 404\n%s\n----\n%s", codeR, codeU, hidden, none)
	}
	rel := s.read(t, relative, s.base+"/p/"+birthe)
	if strings.Contains(rel, ics[1]) || strings.Contains(strings.ToLower(rel), "psykiatri") {
		t.Error("the relative's page shows the restricted entry")
	}
	if !strings.Contains(rel, "Hver dag, ") {
		t.Error("the relative's page does not group the morning help")
	}
}
