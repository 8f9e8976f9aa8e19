package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// switchState is the relative's switch between timelines as laid out.
type switchState struct {
	Tabs       int     // links in the switch
	Current    string  // the text of the one marked aria-current="page"
	Marked     int     // how many are marked
	MinHeight  float64 // of the smallest link, in CSS pixels
	Rows       int     // distinct tops of the links: rows they wrap into
	PageWidth  int     // the document's scroll width
	ViewWidth  int     // the window's inner width
	Heading    string
	HiddenNote string
}

const switchStateJS = `(() => {
  const links = [...document.querySelectorAll('nav.switch a')];
  const marked = links.filter(a => a.getAttribute('aria-current') === 'page');
  const note = document.querySelector('.hidden-note');
  return {
    Tabs: links.length,
    Current: marked.length ? marked[0].innerText : '',
    Marked: marked.length,
    MinHeight: Math.min(...links.map(a => a.getBoundingClientRect().height)),
    Rows: new Set(links.map(a => Math.round(a.getBoundingClientRect().top))).size,
    PageWidth: document.documentElement.scrollWidth,
    ViewWidth: window.innerWidth,
    Heading: document.querySelector('main h1').innerText,
    HiddenNote: note ? note.innerText : '',
  };
})()`

// TestBrowserRelativeHead is the demo's relative reading the first demo
// patient's timeline in a real browser: the window's title and the heading
// name the patient, a line says how many of her entries are not shown and
// nothing else of them, and the switch is tabs of 44px that wrap on a
// 320px wide phone without the page scrolling sideways.
func TestBrowserRelativeHead(t *testing.T) {
	rd, base := serveDemo(t)
	ctx := browser(t)
	birthe := rd.demo.patients[0]

	var title, body string
	var wide, narrow switchState
	err := chromedp.Run(ctx,
		emulation.SetDeviceMetricsOverride(1024, 800, 1, false),
		chromedp.Navigate(base+"/p/"+patientHandle(t, rd.app, birthe.Handle)+"?lang=da"),
		chromedp.Click(`form:has(input[value="relative"]) button`, chromedp.ByQuery, chromedp.NodeVisible),
		chromedp.WaitVisible(`nav.switch`, chromedp.ByQuery),
		chromedp.Title(&title),
		chromedp.OuterHTML("html", &body, chromedp.ByQuery),
		chromedp.Evaluate(switchStateJS, &wide),
		emulation.SetDeviceMetricsOverride(320, 640, 1, true),
		chromedp.Evaluate(switchStateJS, &narrow),
	)
	if err != nil {
		t.Fatalf("open the delegated timeline as the relative: %v", err)
	}
	if want := "Aftaler for " + birthe.Name + " – Overblik"; title != want {
		t.Errorf("the window's title is %q, want %q", title, want)
	}
	if want := "Aftaler for " + birthe.Name; wide.Heading != want {
		t.Errorf("the heading is %q, want %q", wide.Heading, want)
	}
	// The demo gives her two restricted entries; the relative's delegation
	// leaves them out.
	if ok, _ := regexp.MatchString(`^2 fortrolige aftaler vises ikke, fordi Birthe ikke har delt dem med dig\.$`, wide.HiddenNote); !ok {
		t.Errorf("the note on hidden entries is %q", wide.HiddenNote)
	}
	for _, w := range []string{"psykiatri", "Psykiatri"} {
		if strings.Contains(body, w) {
			t.Errorf("the relative's page holds %q, of a hidden entry", w)
		}
	}

	if wide.Tabs < 2 || wide.Marked != 1 || !strings.Contains(wide.Current, birthe.Name) {
		t.Errorf("the switch: %+v, want her own and Birthe's, Birthe's marked as the one shown", wide)
	}
	for _, s := range []switchState{wide, narrow} {
		if s.MinHeight < 44 {
			t.Errorf("at %dpx a tab is %.1fpx high, want at least 44", s.ViewWidth, s.MinHeight)
		}
	}
	// "Birthe Østergaard Madsen" does not fit beside "Mine egne" in 320px.
	if narrow.ViewWidth != 320 || narrow.PageWidth > narrow.ViewWidth || narrow.Rows < 2 {
		t.Errorf("at 320px: %+v, want the tabs on more than one row and nothing wider than the window", narrow)
	}
}
