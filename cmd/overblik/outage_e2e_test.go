package main

import (
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemoOutageBannerClearsAfterStartAgain runs `overblik demo` as the
// command wires it (the real clock, its own login, the background refresh)
// with a patient signed in. The front page's "Tag ned" takes the GP system
// down: her timeline says so, with the GP's phone, and the GP is asked again
// in the background while she looks. "Start igen" brings it back: within
// seconds the banner is gone from her page, without waiting for the
// minute's refresh, however the breaker's cool-down fell.
func TestDemoOutageBannerClearsAfterStartAgain(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rd, err := openDemo(t.Context(), time.Now(), ln.Addr(), slogDiscard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rd.Close)
	t.Cleanup(rd.app.startBackground(t.Context(), slogDiscard())) // stopped before rd closes
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: rd.app.handler}}
	srv.Start()
	t.Cleanup(srv.Close)
	base := demoBaseURL(ln.Addr())
	c := signInDemo(t, base, "patient-1")
	timeline := base + "/p/" + patientHandle(t, rd.app, rd.demo.patients[0].Handle) + "?lang=da"

	if page := readPage(t, c, timeline); strings.Contains(page, `class="banner"`) {
		t.Fatalf("a banner before anything was taken down:\n%s", page)
	}

	home := switchDemoSource(t, c, base, "laegehuset", true)
	form, _, _ := strings.Cut(home[strings.Index(home, `action="/demo/sources/laegehuset"`)+1:], "</form>")
	if !strings.Contains(form, `name="down" value="0"><button type="submit">Start igen</button>`) {
		t.Fatalf("the front page offers no \"Start igen\" for the GP after taking it down")
	}
	page := readPage(t, c, timeline)
	for _, want := range []string{
		`<p class="banner" role="status">Vi kan ikke hente nye oplysninger fra Lægehuset Trøjborg lige nu. Lægens aftaler herunder er fra i dag kl. `,
		`og kan være ændret. Ring 0000 3000, hvis du er i tvivl.</p>`,
		`Øvrige kilder opdateret kl. `,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the timeline with the GP down lacks %q", want)
		}
	}
	// While she looks, the GP is asked again in the background.
	asked := rd.demo.sims["laegehuset"].Requests()
	waitUntil(t, 15*time.Second, "the GP is asked again while down", func() bool {
		return rd.demo.sims["laegehuset"].Requests() > asked
	})

	switchDemoSource(t, c, base, "laegehuset", false)
	waitUntil(t, 10*time.Second, "the banner is gone after \"Start igen\"", func() bool {
		return !strings.Contains(readPage(t, c, timeline), `class="banner"`)
	})
	if page := readPage(t, c, timeline); !strings.Contains(page, "Opdateret kl. ") || strings.Contains(page, "Øvrige kilder") {
		t.Errorf("after \"Start igen\" the general line does not say plainly when the page was updated")
	}
}

// signInDemo signs a demo user in through the demo's OpenID provider, as the
// login page's button does, and returns a browser holding the session.
func signInDemo(t *testing.T, base, user string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.Get(base + "/auth/login?next=/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="authRequestID" value="([^"]+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no demo login page: %.300s", b)
	}
	login := resp.Request.URL.ResolveReference(&url.URL{Path: "/login"}) // the provider's form posts there
	resp, err = c.PostForm(login.String(), url.Values{"authRequestID": {string(m[1])}, "user": {user}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign in as %s: %d", user, resp.StatusCode)
	}
	return c
}

// switchDemoSource presses the front page's "Tag ned" (down) or "Start
// igen" button of source name and returns the front page it leads back to.
func switchDemoSource(t *testing.T, c *http.Client, base, name string, down bool) string {
	t.Helper()
	csrf := regexp.MustCompile(`action="/demo/sources/` + name + `" class="row"><input type="hidden" name="csrf" value="([^"]+)">`).
		FindStringSubmatch(readPage(t, c, base+"/"))
	if csrf == nil {
		t.Fatalf("the front page has no switch for %s", name)
	}
	value := "0"
	if down {
		value = "1"
	}
	resp, err := c.PostForm(base+"/demo/sources/"+name, url.Values{"csrf": {csrf[1]}, "down": {value}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/" {
		t.Fatalf("switch %s down=%v: %d at %s", name, down, resp.StatusCode, resp.Request.URL)
	}
	return string(b)
}

func readPage(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %.300s", u, resp.StatusCode, b)
	}
	return string(b)
}

// waitUntil polls cond every 100ms until it holds or within has passed.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
