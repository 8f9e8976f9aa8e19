package web

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// TestBanners: a failed source's banner says what it means, how old its
// appointments on the page are, today, yesterday or on a date, and whom to
// call when the source's phone is configured, in Danish and English.
func TestBanners(t *testing.T) {
	loc := cph(t)
	evening := time.Date(2026, 12, 1, 21, 0, 0, 0, loc)
	today2032 := time.Date(2026, 12, 1, 20, 32, 0, 0, loc)
	yesterday1605 := time.Date(2026, 11, 30, 16, 5, 0, 0, loc)
	tests := []struct {
		name string
		st   aggregator.SourceStatus
		da   string
		en   string
	}{
		{
			"GP down today, with its phone",
			aggregator.SourceStatus{Display: "Lægehuset Trøjborg", Phone: "0000 3000", Sector: aggregator.SectorGP,
				ErrorKind: aggregator.Unavailable, LastSuccess: today2032, Entries: 3},
			"Vi kan ikke hente nye oplysninger fra Lægehuset Trøjborg lige nu. Lægens aftaler herunder er fra i dag kl. 20.32 og kan være ændret. Ring 0000 3000, hvis du er i tvivl.",
			"We cannot get new information from Lægehuset Trøjborg right now. The GP's appointments below are from today at 20:32 and may have changed. If in doubt, call 0000 3000.",
		},
		{
			"hospital timed out, last good yesterday, no phone",
			aggregator.SourceStatus{Display: "Aarhus Universitetshospital", Sector: aggregator.SectorHospital,
				ErrorKind: aggregator.Timeout, LastSuccess: yesterday1605, Entries: 2},
			"Vi kan ikke hente nye oplysninger fra Aarhus Universitetshospital lige nu. Hospitalets aftaler herunder er fra i går kl. 16.05 og kan være ændret.",
			"We cannot get new information from Aarhus Universitetshospital right now. The hospital's appointments below are from yesterday at 16:05 and may have changed.",
		},
		{
			"municipality refused us, last good days ago",
			aggregator.SourceStatus{Display: "Aarhus Kommune", Phone: "0000 2000", Sector: aggregator.SectorMunicipality,
				ErrorKind: aggregator.Unauthorized, LastSuccess: time.Date(2026, 11, 27, 9, 5, 0, 0, loc), Entries: 1},
			"Vi kan ikke hente nye oplysninger fra Aarhus Kommune lige nu. Kommunens aftaler herunder er fra den 27. nov kl. 09.05 og kan være ændret. Ring 0000 2000, hvis du er i tvivl.",
			"We cannot get new information from Aarhus Kommune right now. The municipality's appointments below are from 27 Nov at 09:05 and may have changed. If in doubt, call 0000 2000.",
		},
		{
			"last good last year",
			aggregator.SourceStatus{Display: "Lægehuset Trøjborg", Sector: aggregator.SectorGP, ErrorKind: aggregator.Unavailable,
				LastSuccess: time.Date(2025, 12, 24, 9, 0, 0, 0, loc), Entries: 1},
			"Vi kan ikke hente nye oplysninger fra Lægehuset Trøjborg lige nu. Lægens aftaler herunder er fra den 24. dec 2025 kl. 09.00 og kan være ændret.",
			"We cannot get new information from Lægehuset Trøjborg right now. The GP's appointments below are from 24 Dec 2025 at 09:00 and may have changed.",
		},
		{
			"never answered",
			aggregator.SourceStatus{Display: "Lægehuset Trøjborg", Phone: "0000 3000", Sector: aggregator.SectorGP, ErrorKind: aggregator.Unavailable},
			"Vi kan ikke hente oplysninger fra Lægehuset Trøjborg lige nu. Lægens aftaler kan derfor mangle herunder. Ring 0000 3000, hvis du er i tvivl.",
			"We cannot get information from Lægehuset Trøjborg right now. The GP's appointments may therefore be missing below. If in doubt, call 0000 3000.",
		},
		{
			"nothing from it at its last success",
			aggregator.SourceStatus{Display: "Aarhus Kommune", Sector: aggregator.SectorMunicipality, ErrorKind: aggregator.Unavailable, LastSuccess: today2032},
			"Vi kan ikke hente nye oplysninger fra Aarhus Kommune lige nu. Der var ingen aftaler derfra, da vi sidst hentede i dag kl. 20.32, men der kan være kommet nye.",
			"We cannot get new information from Aarhus Kommune right now. There were no appointments from there when we last looked today at 20:32, but new ones may have been booked.",
		},
		{
			"the source does not know the patient, no display name",
			aggregator.SourceStatus{Sector: aggregator.SectorGP, ErrorKind: aggregator.NotFound},
			"Egen læge kender ikke cpr-nummeret. Lægens aftaler kan derfor mangle herunder.",
			"Your GP does not know the CPR number. The GP's appointments may therefore be missing below.",
		},
	}
	env := newTestEnv(t, Config{}, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for lang, want := range map[string]string{langDA: tt.da, langEN: tt.en} {
				got := env.srv.banners(env.srv.tr[lang], []aggregator.SourceStatus{tt.st}, evening)
				if len(got) != 1 || got[0] != want {
					t.Errorf("%s:\n got %q\nwant %q", lang, got, want)
				}
			}
			ok := tt.st
			ok.OK = true
			if got := env.srv.banners(env.srv.tr[langDA], []aggregator.SourceStatus{ok}, evening); len(got) != 0 {
				t.Errorf("banner for an OK source: %q", got)
			}
		})
	}
}

// TestGeneratedLine: while a source fails, the line with the time of the
// build speaks of the other sources, and with every source failed there is
// none; otherwise it is the plain "Opdateret".
func TestGeneratedLine(t *testing.T) {
	now := testNow(t)
	built := now.Add(-2 * time.Minute)
	up := aggregator.SourceStatus{Name: "a", OK: true}
	down := aggregator.SourceStatus{Name: "b", ErrorKind: aggregator.Unavailable}
	tests := []struct {
		name    string
		sources []aggregator.SourceStatus
		da, en  string
	}{
		{"all answered", []aggregator.SourceStatus{up, up}, "Opdateret kl. 11.58.", "Updated at 11:58."},
		{"one failed", []aggregator.SourceStatus{up, down}, "Øvrige kilder opdateret kl. 11.58.", "Other sources updated at 11:58."},
		{"all failed", []aggregator.SourceStatus{down, down}, "", ""},
	}
	env := newTestEnv(t, Config{}, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := &aggregator.Timeline{GeneratedAt: built, Sources: tt.sources}
			for lang, want := range map[string]string{langDA: tt.da, langEN: tt.en} {
				if got := env.srv.generated(env.srv.tr[lang], tl, now); got != want {
					t.Errorf("%s: got %q, want %q", lang, got, want)
				}
			}
		})
	}
}

// TestBannerOnPage: the timeline page of the test patient, whose GP
// source failed, says so in one banner, and the general line speaks of the
// other sources.
func TestBannerOnPage(t *testing.T) {
	tests := []struct {
		lang, banner, general string
	}{
		{"da", `<p class="banner" role="status">Vi kan ikke hente nye oplysninger fra egen læge lige nu. Lægens aftaler herunder er fra i dag kl. 10.42 og kan være ændret.</p>`,
			`Øvrige kilder opdateret kl. 11.58.`},
		{"en", `<p class="banner" role="status">We cannot get new information from your GP right now. The GP&#39;s appointments below are from today at 10:42 and may have changed.</p>`,
			`Other sources updated at 11:58.`},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			env := newTestEnv(t, Config{}, nil)
			body := env.do(t, http.MethodGet, "/p/"+testHandle, "", "Cookie: lang="+tt.lang).Body.String()
			if !strings.Contains(body, tt.banner) {
				t.Errorf("page lacks banner %s:\n%s", tt.banner, between(body, `<main`, `<section class="today"`))
			}
			if got := strings.Count(body, `class="banner"`); got != 1 {
				t.Errorf("%d banners, want 1 (only the GP source failed)", got)
			}
			if !strings.Contains(body, tt.general) {
				t.Errorf("page lacks the general line %q", tt.general)
			}
		})
	}
}
