package main

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserCards: the demo's first patient, signed in in a real browser,
// finds her morning help of the next days on one card, opens its list of
// visits without JavaScript (a <details>), and follows "Næste aftale" to
// the card it names.
func TestBrowserCards(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rd, err := openDemo(t.Context(), cardsDemoDay(t), ln.Addr(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rd.Close)
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: rd.app.handler}}
	srv.Start()
	t.Cleanup(srv.Close)
	base := demoBaseURL(ln.Addr())
	ctx := browser(t)

	const card = `li.entry.recurring`
	var summary, visits, location, target string
	var before, after bool
	err = chromedp.Run(ctx,
		chromedp.Navigate(base+"/p/"+patientHandle(t, rd.app, rd.demo.patients[0].Handle)+"?lang=da"),
		chromedp.Click(`form:has(input[value="patient-1"]) button`, chromedp.ByQuery, chromedp.NodeVisible),
		chromedp.WaitVisible(card, chromedp.ByQuery),
		chromedp.Text(card, &summary, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector("`+card+` details.visits li").checkVisibility()`, &before),
		chromedp.Click(card+` details.visits summary`, chromedp.ByQuery),
		chromedp.WaitVisible(card+` details.visits li`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector("`+card+` details.visits li").checkVisibility()`, &after),
		chromedp.Text(card+` details.visits ul`, &visits, chromedp.ByQuery),
		chromedp.Click(`section.next a`, chromedp.ByQuery),
		chromedp.Location(&location),
		chromedp.Evaluate(`document.querySelector(":target") ? document.querySelector(":target").textContent : ""`, &target),
	)
	if err != nil {
		t.Fatalf("read the first demo patient's cards: %v", err)
	}
	for _, want := range []string{"Hjemmepleje: morgenhjælp", "Hver dag, ", "(3 gange)", "07.30–08.00"} {
		if !strings.Contains(summary, want) {
			t.Errorf("the recurring card lacks %q:\n%s", want, summary)
		}
	}
	if before || !after {
		t.Errorf("the list of visits is visible %v before opening and %v after; want hidden, then shown", before, after)
	}
	if n := strings.Count(visits, "Tilføj til kalender"); n != 3 {
		t.Errorf("the opened list has %d visits with a download, want 3:\n%s", n, visits)
	}
	if !strings.Contains(location, "#") || strings.TrimSpace(target) == "" {
		t.Errorf("Næste aftale led to %s, target %q: want a card of the page", location, target)
	}
}
