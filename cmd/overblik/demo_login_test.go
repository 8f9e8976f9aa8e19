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

// TestDemoLogsInThroughItsProvider wires the demo as `overblik demo` does and
// logs the demo relative in through the in-process provider: the front page
// offers the delegator's timeline, which opens; another patient's does not.
func TestDemoLogsInThroughItsProvider(t *testing.T) {
	now := time.Now()
	d, err := startDemo(now, slogDiscard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := demoBaseURL(ln.Addr())
	idp, login, err := startDemoLogin(base, d.patients, slogDiscard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Close() })
	a, err := newApp(d.cfg, demoExtras{patients: d.patients, login: login}, slogDiscard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	hs := &httptest.Server{Listener: ln, Config: &http.Server{Handler: a.handler}}
	hs.Start()
	t.Cleanup(hs.Close)

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	body := func(resp *http.Response, err error) (*http.Response, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	_, page := body(c.Get(base + "/auth/login?next=/"))
	m := regexp.MustCompile(`name="authRequestID" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no demo login page: %s", page)
	}
	for _, who := range []string{d.patients[0].Name, d.patients[1].Name, d.patients[2].Name, "Klara Kliniker", "Adam Admin"} {
		if !strings.Contains(page, who) {
			t.Errorf("login page does not list %s", who)
		}
	}
	if strings.Contains(page, "password") {
		t.Errorf("login page asks for a password")
	}
	if resp, _ := body(http.Get(base + "/api/v1/patients")); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous demo patient list: %d, want 401", resp.StatusCode)
	}
	_, home := body(c.PostForm(idp.Issuer+"/login", url.Values{"authRequestID": {m[1]}, "user": {"relative"}}))
	if resp, list := body(c.Get(base + "/api/v1/patients")); resp.StatusCode != http.StatusOK || !strings.Contains(list, d.patients[3].Name) {
		t.Errorf("signed-in demo patient list: %d %s", resp.StatusCode, list)
	}
	delegator := patientHandle(t, a, d.patients[0].Handle)
	if !strings.Contains(home, `href="/p/`+delegator+`"`) {
		t.Fatalf("the relative's front page does not offer the delegator's timeline: %s", home)
	}
	if resp, _ := body(c.Get(base + "/p/" + delegator)); resp.StatusCode != http.StatusOK {
		t.Errorf("delegator's timeline: %d", resp.StatusCode)
	}
	if resp, _ := body(c.Get(base + "/p/" + patientHandle(t, a, d.patients[1].Handle))); resp.StatusCode != http.StatusNotFound {
		t.Errorf("another patient's timeline: %d, want 404", resp.StatusCode)
	}

	// The admin runs the sources' checks from the admin page.
	admin := &http.Client{Timeout: 10 * time.Second}
	admin.Jar, _ = cookiejar.New(nil)
	_, page = body(admin.Get(base + "/auth/login?next=/admin"))
	m = regexp.MustCompile(`name="authRequestID" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no demo login page for the admin")
	}
	_, adminPage := body(admin.PostForm(idp.Issuer+"/login", url.Values{"authRequestID": {m[1]}, "user": {"admin"}}))
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(adminPage)
	if csrf == nil {
		t.Fatalf("admin page has no form: %s", adminPage)
	}
	resp, checks := body(admin.PostForm(base+"/admin/checks", url.Values{"csrf": {csrf[1]}}))
	if resp.StatusCode != http.StatusOK || !strings.Contains(checks, "aarhus-uh") || strings.Contains(checks, d.patients[0].Name) {
		t.Errorf("admin checks: %d %s", resp.StatusCode, checks)
	}
}

// patientHandle checks h is a registered handle (newApp swapped the demo's
// identifiers for handles) and returns it.
func patientHandle(t *testing.T, a *app, h string) string {
	t.Helper()
	if _, ok, err := a.patients.Resolve(t.Context(), h); err != nil || !ok {
		t.Fatalf("%q is not a registered handle", h)
	}
	return h
}
