package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserGrantForm is the demo's first patient giving a relative access
// in a real browser: the form says what is wrong with a number as typed
// (too short, a date that does not exist, her own, someone who already has
// access) beside the field and keeps what she typed; a good number is
// confirmed after the redirect, and the list then says whom the grant is
// for by the masked number, never the whole one.
func TestBrowserGrantForm(t *testing.T) {
	_, base := serveDemo(t)
	ctx := browser(t)

	if err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/account?lang=da"),
		chromedp.Click(`form:has(input[value="patient-1"]) button`, chromedp.ByQuery, chromedp.NodeVisible),
		chromedp.WaitVisible(`main h1`, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("log in as the first demo patient: %v", err)
	}
	// Each try starts from a fresh form, so what is awaited can only be on
	// the page the submit leads to.
	grant := func(typed, label, wait string) (main, location string) {
		t.Helper()
		if err := chromedp.Run(ctx,
			chromedp.Navigate(base+"/account?lang=da"),
			chromedp.SetValue(`#identifier`, typed, chromedp.ByQuery, chromedp.NodeVisible),
			chromedp.SetValue(`#label`, label, chromedp.ByQuery),
			chromedp.Click(`form.grant-form button[type="submit"]`, chromedp.ByQuery),
			chromedp.WaitVisible(wait, chromedp.ByQuery),
			chromedp.Text("main", &main, chromedp.ByQuery),
			chromedp.Location(&location),
		); err != nil {
			t.Fatalf("grant to %q: %v", typed, err)
		}
		return main, location
	}
	for _, tc := range []struct{ typed, want string }{
		{"123", "Et CPR-nummer har 10 cifre"},
		{"3013410148", "skal være en dato, der findes"},
		{"300241-0148", "Det er dit eget CPR-nummer"},
		{"3002500246", "Du har allerede givet den person adgang"}, // the demo's daughter
	} {
		text, location := grant(tc.typed, "Søn", `form.grant-form .form-error:not(:empty)`)
		if !strings.Contains(text, tc.want) || !strings.Contains(text, "Adgangen er ikke givet") {
			t.Errorf("%s: the form says %q, want %q", tc.typed, text, tc.want)
		}
		var invalid, kept string
		var ok bool
		if err := chromedp.Run(ctx,
			chromedp.AttributeValue(`#identifier`, "aria-invalid", &invalid, &ok, chromedp.ByQuery),
			chromedp.Value(`#identifier`, &kept, chromedp.ByQuery),
		); err != nil || invalid != "true" || kept != tc.typed {
			t.Errorf("%s: field aria-invalid %q, value %q (%v): want it marked and kept as typed", tc.typed, invalid, kept, err)
		}
		if strings.Contains(location, "0148") || strings.Contains(location, "Søn") {
			t.Errorf("%s: the address carries what she typed: %s", tc.typed, location)
		}
		if strings.Contains(text, "Gemt:") {
			t.Errorf("%s: a refused grant is confirmed:\n%s", tc.typed, text)
		}
	}

	text, location := grant("310245-0133", "Nabo", `p.done`)
	if !strings.Contains(text, "Gemt: Nabo") || !strings.Contains(text, "kan nu se dit overblik") {
		t.Errorf("no confirmation after the grant:\n%s", text)
	}
	if strings.Contains(location, "0133") || strings.Contains(location, "Nabo") {
		t.Errorf("the address after the redirect carries the grant: %s", location)
	}
	var grants string
	if err := chromedp.Run(ctx, chromedp.Text(`ul.grants`, &grants, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(grants, "Nabo") || !strings.Contains(grants, "CPR 310245-xxxx") || strings.Contains(grants, "0133") {
		t.Errorf("the list does not say whom the grant is for, or shows the whole number:\n%s", grants)
	}

	// A reload shows the page, not the confirmation again: it was said once.
	var again string
	if err := chromedp.Run(ctx,
		chromedp.Reload(),
		chromedp.WaitVisible(`ul.grants`, chromedp.ByQuery),
		chromedp.Text("main", &again, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(again, "Gemt:") {
		t.Errorf("the confirmation is shown again after a reload:\n%s", again)
	}
}
