package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// printState is what a reader of the patient's page sees of it, on the
// screen or on paper, as Chromium lays it out.
type printState struct {
	Earlier      int    // entries of the earlier days in the page
	EarlierShown int    // of those, laid out and seen
	Summary      bool   // the "Vis tidligere aftaler" toggle is seen
	Controls     int    // navigation, forms, buttons and calendar links seen
	Printed      string // the printout's line, when seen
}

// printStateJS reads printState; checkVisibility is false for what is not
// displayed and for what a closed <details> keeps hidden.
const printStateJS = `(() => {
  const seen = el => el.checkVisibility() && el.getBoundingClientRect().height > 0;
  const earlier = [...document.querySelectorAll('section.earlier .entry')];
  const printed = document.querySelector('.printed');
  return {
    Earlier: earlier.length,
    EarlierShown: earlier.filter(seen).length,
    Summary: [...document.querySelectorAll('summary')].some(seen),
    Controls: [...document.querySelectorAll('header.site, nav, form, button, .add-calendar')].filter(seen).length,
    Printed: printed && seen(printed) ? printed.innerText : '',
  };
})()`

// TestBrowserPrint prints the demo patient's own timeline as Chromium does:
// on paper her earlier entries are there though the screen folds them
// away, the fold's toggle and everything to click are gone, and a line
// names her and the day; the page prints to a PDF.
func TestBrowserPrint(t *testing.T) {
	rd, base := serveDemo(t)
	ctx := browser(t)
	birthe := rd.demo.patients[0]

	var screen, paper printState
	before := time.Now()
	err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/p/"+patientHandle(t, rd.app, birthe.Handle)+"?lang=da"),
		chromedp.Click(`form:has(input[value="patient-1"]) button`, chromedp.ByQuery, chromedp.NodeVisible),
		chromedp.WaitVisible(`main h1`, chromedp.ByQuery),
		chromedp.Evaluate(printStateJS, &screen),
		emulation.SetEmulatedMedia().WithMedia("print"),
		chromedp.Evaluate(printStateJS, &paper),
	)
	if err != nil {
		t.Fatalf("open the patient's timeline and emulate print: %v", err)
	}
	after := time.Now()

	// On the screen the earlier entries are folded away behind the toggle:
	// without that, what follows would prove nothing.
	if screen.Earlier == 0 || screen.EarlierShown != 0 || !screen.Summary || screen.Controls == 0 || screen.Printed != "" {
		t.Fatalf("on the screen: %+v, want earlier entries folded behind a toggle, controls, no printout line", screen)
	}
	if paper.EarlierShown != paper.Earlier || paper.Earlier != screen.Earlier {
		t.Errorf("on paper %d of %d earlier entries show, want all", paper.EarlierShown, paper.Earlier)
	}
	if paper.Summary {
		t.Error(`on paper the "Vis tidligere aftaler" toggle still shows`)
	}
	if paper.Controls != 0 {
		t.Errorf("on paper %d navigation bars, forms, buttons or calendar links still show", paper.Controls)
	}
	if !strings.Contains(paper.Printed, birthe.Name) || !strings.Contains(paper.Printed, danishDate(before)) && !strings.Contains(paper.Printed, danishDate(after)) {
		t.Errorf("on paper the line is %q, want %s's name and %s", paper.Printed, birthe.Name, danishDate(after))
	}

	var pdf []byte
	if err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		pdf, _, err = page.PrintToPDF().WithPrintBackground(false).Do(ctx)
		return err
	})); err != nil {
		t.Fatalf("print to PDF: %v", err)
	}
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) || len(pdf) < 1000 {
		t.Errorf("print to PDF gave %d bytes starting %q", len(pdf), pdf[:min(len(pdf), 8)])
	}
}

// danishDate is tm's day as the pages write it, without the weekday:
// "1. december 2026".
func danishDate(tm time.Time) string {
	months := [...]string{"januar", "februar", "marts", "april", "maj", "juni", "juli", "august",
		"september", "oktober", "november", "december"}
	loc, err := time.LoadLocation("Europe/Copenhagen")
	if err == nil {
		tm = tm.In(loc)
	}
	return fmt.Sprintf("%d. %s %d", tm.Day(), months[tm.Month()-1], tm.Year())
}
