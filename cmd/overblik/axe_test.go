package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// axePath is Deque's axe-core as tools/axe installs it (make test-env runs
// npm ci there).
const axePath = "../../tools/axe/node_modules/axe-core/axe.min.js"

// axeTags are the rule sets every page must pass: WCAG 2.0 and 2.1, A and
// AA, and axe's best practices (landmarks, heading order, ...).
var axeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"}

var axeSource = sync.OnceValues(func() (string, error) {
	b, err := os.ReadFile(axePath)
	return string(b), err
})

// axeViolation is the part of an axe-core result a failure message needs.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		HTML    string `json:"html"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// axeCheck runs axe-core on the document the tab in ctx shows, as it is
// laid out now, and fails the test with every violation: rule, impact, the
// elements' selectors and page, which names the page in the message.
func axeCheck(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	src, err := axeSource()
	if err != nil {
		t.Fatalf("axe-core is needed for the accessibility test (make test-env runs npm ci in tools/axe): %v", err)
	}
	var loaded bool
	if err := chromedp.Run(ctx, chromedp.Evaluate(`typeof window.axe !== "undefined"`, &loaded)); err != nil {
		t.Fatalf("%s: %v", page, err)
	}
	if !loaded {
		if err := chromedp.Run(ctx, chromedp.Evaluate(src, nil)); err != nil {
			t.Fatalf("%s: inject axe-core: %v", page, err)
		}
	}
	tags, _ := json.Marshal(axeTags)
	script := fmt.Sprintf(`axe.run(document, {runOnly: {type: "tag", values: %s}, resultTypes: ["violations"]})
		.then(r => JSON.stringify(r.violations))`, tags)
	var out string
	if err := chromedp.Run(ctx, chromedp.Evaluate(script, &out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	})); err != nil {
		t.Fatalf("%s: run axe-core: %v", page, err)
	}
	var vs []axeViolation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		t.Fatalf("%s: axe-core's answer: %v", page, err)
	}
	for _, v := range vs {
		var b strings.Builder
		fmt.Fprintf(&b, "%s: %s (%s): %s", page, v.ID, v.Impact, v.Help)
		for _, n := range v.Nodes {
			fmt.Fprintf(&b, "\n    %v %s\n      %s", n.Target, n.HTML, strings.ReplaceAll(n.Summary, "\n", "\n      "))
		}
		t.Error(b.String())
	}
}

// The widths every page is checked at: a laptop, and a phone.
const (
	wideWidth   = 1280
	narrowWidth = 390
	reflowWidth = 320 // checked for sideways scrolling only
)

// TestBrowserAccessibility walks every page of the demo as each demo user
// (and as nobody) in a real browser, at 1280 and 390 pixels wide, and runs
// axe-core's WCAG 2.1 A/AA and best-practice rules on each: any violation
// fails it. Each page must also fit 320 pixels without scrolling sideways
// and have no button or field under 44 pixels high, and the keyboard's
// focus ring must stand out at 3:1. With -update it also writes the
// README's screenshots. One browser and one tab: well under a minute.
func TestBrowserAccessibility(t *testing.T) {
	rd, base := serveDemo(t)
	birthe := patientHandle(t, rd.app, rd.demo.patients[0].Handle)
	jorgen := patientHandle(t, rd.app, rd.demo.patients[1].Handle)
	ase := patientHandle(t, rd.app, rd.demo.patients[2].Handle)
	browserCtx := browser(t)

	// One tab for everyone: each user starts without the cookies of the
	// one before (ours and the demo provider's).
	tab := func(t *testing.T) context.Context {
		t.Helper()
		if err := chromedp.Run(browserCtx, network.ClearBrowserCookies(),
			network.SetCookie("lang", "da").WithURL(base)); err != nil { // Danish first, as the demo's users
			t.Fatalf("clear cookies: %v", err)
		}
		return browserCtx
	}
	// check opens a page (the actions end on it), runs axe-core on it at
	// each width, and measures it at 320 px.
	check := func(t *testing.T, ctx context.Context, name string, actions ...chromedp.Action) {
		t.Helper()
		actions = append(actions, chromedp.WaitReady("body", chromedp.ByQuery))
		if err := chromedp.Run(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var loc string
		if err := chromedp.Run(ctx, chromedp.Location(&loc)); err != nil {
			t.Fatal(err)
		}
		where := fmt.Sprintf("%s (%s)", name, strings.TrimPrefix(loc, base))
		for _, w := range []int64{wideWidth, narrowWidth} {
			if err := chromedp.Run(ctx, chromedp.EmulateViewport(w, 900)); err != nil {
				t.Fatal(err)
			}
			axeCheck(t, ctx, fmt.Sprintf("%s at %d px", where, w))
		}
		// At 320 px (WCAG 1.4.10: 1280 px zoomed to 400%) long Danish
		// words wrap: nothing makes the page scroll sideways.
		var wider []string
		if err := chromedp.Run(ctx, chromedp.EmulateViewport(reflowWidth, 900), chromedp.Evaluate(`(() => {
			const root = document.documentElement;
			if (root.scrollWidth <= root.clientWidth) return [];
			const wide = [...document.querySelectorAll("body *")]
				.filter(e => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > root.clientWidth + 0.5);
			// The innermost: what is too wide itself, not what holds it.
			return wide.filter(e => !wide.some(o => o !== e && e.contains(o)))
				.map(e => e.tagName.toLowerCase() + (e.className ? "." + e.className : "") + ": " + e.textContent.replace(/\s+/g, " ").trim().slice(0, 60));
		})()`, &wider)); err != nil {
			t.Fatal(err)
		}
		if len(wider) > 0 {
			t.Errorf("%s at %d px: wider than the screen:\n    %s", where, reflowWidth, strings.Join(wider, "\n    "))
		}
		// Every button and field of ours is at least 44 px high, for a
		// finger (the demo's provider stands in for one we did not write).
		var small []string
		if err := chromedp.Run(ctx, chromedp.Evaluate(`!document.querySelector("header.site") ? [] :
			[...document.querySelectorAll('button, select, input:not([type="hidden"]):not([type="checkbox"]):not([type="radio"])')]
			.filter(e => e.offsetParent !== null && e.getBoundingClientRect().height < 44)
			.map(e => e.outerHTML.slice(0, 100) + " is " + Math.round(e.getBoundingClientRect().height) + " px high")`, &small)); err != nil {
			t.Fatal(err)
		}
		for _, m := range small {
			t.Errorf("%s: %s, want at least 44", where, m)
		}
	}
	open := func(path string) chromedp.Action { return chromedp.Navigate(base + path) }
	// login signs a demo user in through the demo's provider, whose page
	// is checked too.
	login := func(t *testing.T, ctx context.Context, user string) {
		t.Helper()
		if err := chromedp.Run(ctx, open("/auth/login?next=/"),
			chromedp.WaitVisible(`form:has(input[value="`+user+`"]) button`, chromedp.ByQuery)); err != nil {
			t.Fatalf("the demo login page: %v", err)
		}
		if user == "patient-1" {
			check(t, ctx, "the demo login page")
		}
		if err := chromedp.Run(ctx,
			chromedp.Click(`form:has(input[value="`+user+`"]) button`, chromedp.ByQuery),
			chromedp.WaitVisible(`header.site`, chromedp.ByQuery)); err != nil { // back at overblik
			t.Fatalf("log in as %s: %v", user, err)
		}
	}

	t.Run("anonymous", func(t *testing.T) {
		ctx := tab(t)
		check(t, ctx, "front page", open("/"))
		check(t, ctx, "accessibility statement", open("/accessibility"))
		check(t, ctx, "privacy", open("/privacy"))
		check(t, ctx, "front page in English", open("/?lang=en"))
	})
	t.Run("patient", func(t *testing.T) {
		ctx := tab(t)
		login(t, ctx, "patient-1")
		check(t, ctx, "patient's front page", open("/"))
		focusRings(t, ctx, "patient's front page", 8)
		check(t, ctx, "patient's timeline", open("/p/"+birthe))
		if *update {
			screenshot(t, ctx, "../../docs/screenshot-patient-phone.png", 390, 844)
		}
		check(t, ctx, "patient's timeline in English", open("/p/"+birthe+"?lang=en"))
		check(t, ctx, "account", open("/account?lang=da"))
		check(t, ctx, "access log", open("/account/log"))
		check(t, ctx, "accessibility statement", open("/accessibility"))
		check(t, ctx, "privacy", open("/privacy"))
	})
	t.Run("second patient", func(t *testing.T) {
		ctx := tab(t)
		login(t, ctx, "patient-2")
		check(t, ctx, "second patient's timeline", open("/p/"+jorgen))
	})
	t.Run("relative", func(t *testing.T) {
		ctx := tab(t)
		login(t, ctx, "relative")
		check(t, ctx, "relative's front page", open("/"))
		check(t, ctx, "relative's own timeline", open("/p/"+ase))
		check(t, ctx, "relative reading the delegator's timeline", open("/p/"+birthe))
		if *update {
			screenshot(t, ctx, "../../docs/screenshot-relative.png", wideWidth, 1000)
		}
		check(t, ctx, "relative's account", open("/account"))
	})
	t.Run("clinician", func(t *testing.T) {
		ctx := tab(t)
		login(t, ctx, "clinician")
		check(t, ctx, "clinician's front page with the look-up", open("/"))
		check(t, ctx, "look-up with a mistyped number", open("/"),
			chromedp.SetValue(`#identifier`, "300241014", chromedp.ByQuery, chromedp.NodeVisible),
			chromedp.SetValue(`#reason`, "opfølgning efter udskrivelse", chromedp.ByQuery),
			chromedp.Click(`form.lookup button[type="submit"]`, chromedp.ByQuery),
			chromedp.WaitVisible(`#identifier-error`, chromedp.ByQuery))
		check(t, ctx, "clinician's patient page", open("/"),
			chromedp.SetValue(`#identifier`, "300241-0148", chromedp.ByQuery, chromedp.NodeVisible),
			chromedp.SetValue(`#reason`, "opfølgning efter udskrivelse", chromedp.ByQuery),
			chromedp.Click(`form.lookup button[type="submit"]`, chromedp.ByQuery),
			chromedp.WaitVisible(`.patient-banner`, chromedp.ByQuery))
		if *update {
			screenshot(t, ctx, "../../docs/screenshot-clinician.png", wideWidth, 1000)
		}
		check(t, ctx, "reason form", open("/clinician/p/"+jorgen))
		check(t, ctx, "worklist", open("/clinician/conflicts"))
		check(t, ctx, "accessibility statement in English", open("/accessibility?lang=en"))
		check(t, ctx, "privacy in English", open("/privacy?lang=en"))
	})
	t.Run("admin", func(t *testing.T) {
		ctx := tab(t)
		login(t, ctx, "admin")
		check(t, ctx, "admin", open("/admin?lang=da"))
		check(t, ctx, "admin's checks", open("/admin"),
			chromedp.Click(`form[action="/admin/checks"] button`, chromedp.ByQuery, chromedp.NodeVisible),
			chromedp.WaitVisible(`section[aria-labelledby="checks"] table`, chromedp.ByQuery))
		check(t, ctx, "demo mailbox", open("/demo/mail"))
		check(t, ctx, "not found", open("/p/no-such-handle"))
	})
}

// focusRings presses Tab n times on the page the tab shows and checks
// the ring around each element the keyboard reaches: an outline of at
// least 2 px whose colour has a contrast of at least 3:1 against the
// background behind the element (WCAG 1.4.11).
func focusRings(t *testing.T, ctx context.Context, page string, n int) {
	t.Helper()
	for range n {
		var ring struct {
			Element string  `json:"element"`
			Style   string  `json:"style"`
			Width   float64 `json:"width"`
			Ratio   float64 `json:"ratio"`
		}
		if err := chromedp.Run(ctx, chromedp.KeyEvent(kb.Tab), chromedp.Evaluate(`(() => {
			const e = document.activeElement, cs = getComputedStyle(e);
			const rgb = c => c.match(/[\d.]+/g).map(Number);
			const lum = c => {
				const [r, g, b] = rgb(c).slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
				return 0.2126 * r + 0.7152 * g + 0.0722 * b;
			};
			let bg = e.parentElement;
			while (bg && (rgb(getComputedStyle(bg).backgroundColor)[3] === 0)) bg = bg.parentElement;
			const a = lum(cs.outlineColor), b = lum(getComputedStyle(bg || document.body).backgroundColor);
			return {element: e.outerHTML.slice(0, 80), style: cs.outlineStyle, width: parseFloat(cs.outlineWidth),
				ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)};
		})()`, &ring)); err != nil {
			t.Fatalf("%s: Tab: %v", page, err)
		}
		if ring.Style == "none" || ring.Width < 2 || ring.Ratio < 3 {
			t.Errorf("%s: the focus ring of %s is %s %.0f px at %.1f:1, want at least 2 px at 3:1", page, ring.Element, ring.Style, ring.Width, ring.Ratio)
		}
	}
}

// screenshot writes what the tab shows, at width × height (the first
// screen), to path as PNG: the README's pictures.
func screenshot(t *testing.T, ctx context.Context, path string, width, height int64) {
	t.Helper()
	var png []byte
	if err := chromedp.Run(ctx,
		chromedp.EmulateViewport(width, height),
		chromedp.CaptureScreenshot(&png),
	); err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	if err := os.WriteFile(filepath.Clean(path), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
