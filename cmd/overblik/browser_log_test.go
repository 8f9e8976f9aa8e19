package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserLogReflows is "Hvem har set mit overblik" in a real browser at
// the widths of small phones: at 390 and 320 CSS pixels the page is no
// wider than the screen (WCAG 1.4.10: no scrolling sideways), with rows
// that hold a clinician's long reason and workplace; and the grant form
// beside it too.
func TestBrowserLogReflows(t *testing.T) {
	rd, base := serveDemo(t)
	birthe := patientHandle(t, rd.app, rd.demo.patients[0].Handle)

	// A clinician's system reads Birthe's timeline with reasons of every
	// shape: a coded one, a long one, and one long word.
	for _, reason := range []string{
		"code:discharge",
		"Opfølgning efter udskrivelse fra ortopædkirurgisk afdeling, koordinering med hjemmeplejen og egen læge om medicin",
		"hjemmesygeplejerskekoordineringsopfølgningsbesøg",
	} {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/patients/"+birthe+"/timeline", nil)
		req.Header.Set("Authorization", "Bearer demo-clinician-key")
		req.Header.Set("Overblik-Reason", reason)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("the clinician's read: %d", resp.StatusCode)
		}
	}

	ctx := browser(t)
	if err := chromedp.Run(ctx,
		chromedp.EmulateViewport(320, 800),
		chromedp.Navigate(base+"/account/log?own=1&lang=da"),
		chromedp.Click(`form:has(input[value="patient-1"]) button`, chromedp.ByQuery, chromedp.NodeVisible),
		chromedp.WaitVisible(`main h1`, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("log in as the first demo patient on her log: %v", err)
	}
	for _, width := range []int64{390, 320} {
		for _, page := range []string{"/account/log?own=1", "/account/log", "/account"} {
			var text string
			var sizes []int
			if err := chromedp.Run(ctx,
				chromedp.EmulateViewport(width, 800),
				chromedp.Navigate(base+page),
				chromedp.WaitVisible(`main h1`, chromedp.ByQuery),
				chromedp.Text(`main`, &text, chromedp.ByQuery),
				chromedp.Evaluate(`[document.documentElement.scrollWidth, document.documentElement.clientWidth, window.innerWidth]`, &sizes),
			); err != nil {
				t.Fatalf("%s at %d px: %v", page, width, err)
			}
			if len(sizes) != 3 || sizes[2] != int(width) {
				t.Fatalf("%s at %d px: sizes %v, want a window %d px wide", page, width, sizes, width)
			}
			if sizes[0] > sizes[1] {
				t.Errorf("%s at %d px: the document is %d px wide in a viewport of %d: the reader must scroll sideways", page, width, sizes[0], sizes[1])
			}
			if strings.HasPrefix(page, "/account/log") {
				for _, want := range []string{"Opfølgning efter udskrivelse", "hjemmesygeplejerskekoordineringsopfølgningsbesøg", "Begrundelse"} {
					if !strings.Contains(text, want) {
						t.Errorf("%s at %d px lacks %q:\n%s", page, width, want, text)
					}
				}
			}
		}
	}
}
