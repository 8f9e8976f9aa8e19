package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser starts Debian's headless Chromium for one test. It fails, never
// skips, when Chromium is missing: .ci/run installs it.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("CHROMIUM")
	if path == "" {
		var err error
		if path, err = exec.LookPath("chromium"); err != nil {
			t.Fatalf("Chromium is needed for the browser tests (apt-get install chromium; .ci/run does): %v", err)
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("lang", "da"),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Run(ctx); err != nil { // starts the browser
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// TestBrowserDemoOutage walks the demo as a newcomer would, in a real
// browser without JavaScript in the pages: open a patient, see all three
// sectors, take the GP system down with the front page's button, and see
// the banner and the GP entries kept.
func TestBrowserDemoOutage(t *testing.T) {
	env := startDemoEnv(t)
	ctx := browser(t)
	var home, page string
	err := chromedp.Run(ctx,
		chromedp.Navigate(env.url+"/?lang=da"),
		chromedp.WaitVisible(`ul.demo a`, chromedp.ByQuery),
		chromedp.OuterHTML("body", &home, chromedp.ByQuery),
		chromedp.Click(`ul.demo a`, chromedp.ByQuery, chromedp.NodeVisible),
		chromedp.WaitVisible(`h1`, chromedp.ByQuery),
		chromedp.Text("main", &page, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("open a patient: %v", err)
	}
	for _, want := range []string{"Hospital", "Kommune", "Egen læge"} {
		if !strings.Contains(page, want) {
			t.Errorf("timeline page lacks %q", want)
		}
	}
	var after string
	err = chromedp.Run(ctx,
		chromedp.Navigate(env.url+"/"),
		chromedp.WaitVisible(`form[action="/demo/sources/laegehuset"] button`, chromedp.ByQuery),
		chromedp.Click(`form[action="/demo/sources/laegehuset"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`.outage-down`, chromedp.ByQuery),
		chromedp.Click(`ul.demo a`, chromedp.ByQuery, chromedp.NodeVisible),
		chromedp.WaitVisible(`h1`, chromedp.ByQuery),
		chromedp.Text("main", &after, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("take the GP down: %v", err)
	}
	if !strings.Contains(after, "Lægehuset Trøjborg") || !strings.Contains(after, "svarer ikke") {
		t.Errorf("no banner for the GP after taking it down:\n%s", after)
	}
	if !strings.Contains(after, "Egen læge") {
		t.Error("the GP's last good entries are gone from the page")
	}
}
