package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser starts Debian's headless Chromium for one test. It fails, never
// skips, when Chromium is missing: make test installs it.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("CHROMIUM")
	if path == "" {
		var err error
		if path, err = exec.LookPath("chromium"); err != nil {
			t.Fatalf("Chromium is needed for the browser tests (apt-get install chromium; make test does): %v", err)
		}
	}
	// Not t.TempDir: Chromium's helper processes may still be writing there
	// when the test ends, and a failed clean-up would fail the test.
	profile, err := os.MkdirTemp("", "overblik-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("lang", "da"),
		chromedp.UserDataDir(profile),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc(); os.RemoveAll(profile) })
	if err := chromedp.Run(ctx); err != nil { // starts the browser
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// serveDemo runs `overblik demo`'s own wiring (its sources, its OpenID
// provider, demo users) on a loopback port for one test, and returns it with
// the address a browser opens.
func serveDemo(t *testing.T) (*runningDemo, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rd, err := openDemo(t.Context(), time.Now(), ln.Addr(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rd.Close)
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: rd.app.handler}}
	srv.Start()
	t.Cleanup(srv.Close)
	return rd, demoBaseURL(ln.Addr())
}

// TestBrowserDemo walks the demo as a newcomer would, in a real browser,
// with pages that need no JavaScript: `overblik demo`'s own wiring, the
// login through the demo's OpenID provider, the patient's own timeline with
// all three sectors, then the GP system taken down with the front page's
// button, and the banner and the GP's last good entries after it.
func TestBrowserDemo(t *testing.T) {
	rd, base := serveDemo(t)
	ctx := browser(t)

	var before, page string
	err := chromedp.Run(ctx,
		// Nobody is logged in: a timeline address leads to the login.
		chromedp.Navigate(base+"/p/"+patientHandle(t, rd.app, rd.demo.patients[0].Handle)+"?lang=da"),
		chromedp.WaitVisible(`form:has(input[value="patient-1"]) button`, chromedp.ByQuery),
		chromedp.Text("body", &before, chromedp.ByQuery),
		chromedp.Click(`form:has(input[value="patient-1"]) button`, chromedp.ByQuery),
		chromedp.WaitVisible(`main h1`, chromedp.ByQuery),
		chromedp.Text("main", &page, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("log in as the first demo patient: %v", err)
	}
	if !strings.Contains(before, "Vælg en demobruger") {
		t.Errorf("an anonymous visit to a timeline did not lead to the login page:\n%s", before)
	}
	for _, want := range []string{"Dine aftaler", "Hospital", "Kommune", "Egen læge"} {
		if !strings.Contains(page, want) {
			t.Errorf("the patient's timeline lacks %q:\n%s", want, page)
		}
	}

	var after string
	err = chromedp.Run(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.Click(`form[action="/demo/sources/laegehuset"] button`, chromedp.ByQuery, chromedp.NodeVisible),
		chromedp.WaitVisible(`.outage-down`, chromedp.ByQuery),
		chromedp.Navigate(base+"/p/"+patientHandle(t, rd.app, rd.demo.patients[0].Handle)),
		chromedp.WaitVisible(`main h1`, chromedp.ByQuery),
		chromedp.Text("main", &after, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("take the GP down: %v", err)
	}
	if !strings.Contains(after, "Vi kan ikke hente nye oplysninger fra Lægehuset Trøjborg lige nu.") {
		t.Errorf("no banner for the GP after taking it down:\n%s", after)
	}
	if !strings.Contains(after, "Egen læge") {
		t.Error("the GP's last good entries are gone from the page")
	}
}

// TestBrowserClinician is the demo's clinician in a real browser: the CPR
// form says what is wrong with a number as typed, and that no source knows
// a person; a look-up opens the patient's page under a banner naming her,
// her age and her CPR number with its last four digits hidden, at an
// address without the number, and a reload shows it again.
func TestBrowserClinician(t *testing.T) {
	_, base := serveDemo(t)
	ctx := browser(t)

	if err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/clinician/conflicts?lang=da"),
		chromedp.Click(`form:has(input[value="clinician"]) button`, chromedp.ByQuery, chromedp.NodeVisible),
		chromedp.WaitVisible(`main h1`, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("log in as the demo clinician: %v", err)
	}
	lookup := func(cpr string, wait string) (text, location string) {
		t.Helper()
		err := chromedp.Run(ctx,
			chromedp.Navigate(base+"/"),
			chromedp.SetValue(`#identifier`, cpr, chromedp.ByQuery, chromedp.NodeVisible),
			chromedp.SetValue(`#reason`, "opfølgning efter udskrivelse", chromedp.ByQuery),
			chromedp.Click(`form.lookup button[type="submit"]`, chromedp.ByQuery),
			chromedp.WaitVisible(wait, chromedp.ByQuery),
			chromedp.Text("main", &text, chromedp.ByQuery),
			chromedp.Location(&location),
		)
		if err != nil {
			t.Fatalf("look up %q: %v", cpr, err)
		}
		return text, location
	}
	for _, tc := range []struct{ typed, want string }{
		{"300241014", "Et CPR-nummer har 10 cifre"},
		{"3013410148", "skal være en dato, der findes"},
		{"3002410149", "Ingen af kilderne kender en person med det nummer"},
	} {
		text, _ := lookup(tc.typed, `#identifier-error`)
		var invalid string
		var ok bool
		if err := chromedp.Run(ctx, chromedp.AttributeValue(`#identifier`, "aria-invalid", &invalid, &ok, chromedp.ByQuery)); err != nil || invalid != "true" {
			t.Errorf("%s: the field is not marked invalid (%q, %v)", tc.typed, invalid, err)
		}
		if !strings.Contains(text, tc.want) {
			t.Errorf("%s: the form says %q, want %q", tc.typed, text, tc.want)
		}
	}

	banner, location := lookup("300241-0148", `.patient-banner`)
	if strings.Contains(location, "0148") || strings.Contains(location, "udskrivelse") || !strings.Contains(location, "/clinician/p/") {
		t.Errorf("the patient's address is %s", location)
	}
	cph, _ := time.LoadLocation("Europe/Copenhagen")
	now := time.Now().In(cph)
	age := now.Year() - 1941 // born "30 February 1941": her birthday is after the 28th
	if now.Month() < time.March {
		age--
	}
	for _, want := range []string{"Birthe Østergaard Madsen", strconv.Itoa(age) + " år", "CPR 300241-xxxx", "Patienten blev udskrevet fra"} {
		if !strings.Contains(banner, want) {
			t.Errorf("the clinician's page lacks %q:\n%s", want, banner)
		}
	}
	if strings.Contains(banner, "3002410148") {
		t.Error("the page shows the whole CPR number")
	}
	var again, title string
	if err := chromedp.Run(ctx,
		chromedp.Reload(),
		chromedp.WaitVisible(`.patient-banner`, chromedp.ByQuery),
		chromedp.Text(`.patient-banner`, &again, chromedp.ByQuery),
		chromedp.Title(&title),
	); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if !strings.Contains(again, "Birthe Østergaard Madsen") || strings.Contains(title, "Birthe") {
		t.Errorf("after a reload: banner %q, title %q", again, title)
	}
}
