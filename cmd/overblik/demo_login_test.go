package main

import (
	"encoding/json"
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
	a, err := newApp(t.Context(), d.cfg, demoExtras{patients: d.patients, login: login}, slogDiscard(), nil)
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

// demoSite is the demo as `overblik demo` wires it, on a loopback port.
type demoSite struct {
	d    *demo
	a    *app
	base string
	idp  string // the demo provider's issuer
}

func startDemoSite(t *testing.T) *demoSite {
	t.Helper()
	return startDemoSiteAt(t, time.Now())
}

// startDemoSiteAt is the demo with its data made as of now.
func startDemoSiteAt(t *testing.T, now time.Time) *demoSite {
	t.Helper()
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
	d.cfg.PublicURL = base // as openDemo does
	a, err := newApp(t.Context(), d.cfg, demoExtras{patients: d.patients, login: login}, slogDiscard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	hs := &httptest.Server{Listener: ln, Config: &http.Server{Handler: a.handler}}
	hs.Start()
	t.Cleanup(hs.Close)
	return &demoSite{d: d, a: a, base: base, idp: idp.Issuer}
}

// login signs the demo user in through the provider's page and returns a
// browser holding the session.
func (s *demoSite) login(t *testing.T, user string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	page := s.read(t, c, s.base+"/auth/login?next=/")
	m := regexp.MustCompile(`name="authRequestID" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no demo login page: %.300s", page)
	}
	resp, err := c.PostForm(s.idp+"/login", url.Values{"authRequestID": {m[1]}, "user": {user}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login as %s: %d", user, resp.StatusCode)
	}
	return c
}

func (s *demoSite) read(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	return readPage(t, c, u)
}

// TestDemoRelativeLearnsNothingOfARestrictedEntry: the demo's first patient
// has a restricted appointment that overlaps a visible one, and delegated to
// the demo relative without restricted entries. The relative reads the
// timeline, its conflicts, its changes and its page: nothing names the
// entry or its conflict, while the patient sees both, and her log shows
// every view the relative made.
func TestDemoRelativeLearnsNothingOfARestrictedEntry(t *testing.T) {
	s := startDemoSite(t)
	birthe := patientHandle(t, s.a, s.d.patients[0].Handle)
	relative, patient := s.login(t, "relative"), s.login(t, "patient-1")
	api := s.base + "/api/v1/patients/" + birthe
	secret := regexp.MustCompile(`(?i)psykiatri`)
	reads := []string{api + "/timeline", api + "/conflicts", api + "/changes", api + "/timeline?lang=en", s.base + "/p/" + birthe}
	for _, u := range reads {
		if b := s.read(t, relative, u); secret.MatchString(b) {
			t.Errorf("%s shows the relative the restricted entry: %s", u, secret.FindString(b))
		}
	}
	own := s.read(t, patient, api+"/conflicts")
	var cs struct {
		Conflicts []struct{ Rule, Message string }
	}
	if err := json.Unmarshal([]byte(own), &cs); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range cs.Conflicts {
		found = found || (c.Rule == "overlap" && strings.Contains(c.Message, "psykiatrisk ambulatorium"))
	}
	if !found {
		t.Errorf("the patient does not see the overlap of her restricted appointment: %s", own)
	}
	if page := s.read(t, patient, s.base+"/p/"+birthe); !secret.MatchString(page) {
		t.Error("the patient's page does not show her restricted appointment")
	}
	log := s.read(t, patient, s.base+"/account/log")
	if n := strings.Count(log, s.d.patients[2].Name); n < len(reads) {
		t.Errorf("the patient's log names the relative %d times, want at least %d (one per view)", n, len(reads))
	}
}

// TestDemoWorklistFollowsTheClinicianOrganisation: the demo clinician's
// login names her workplace, so her worklist holds the patients with a visit
// from it whose timelines are cached, though she never looked them up, and
// no one else; each patient listed reads it in their log.
func TestDemoWorklistFollowsTheClinicianOrganisation(t *testing.T) {
	s := startDemoSite(t)
	birthe := patientHandle(t, s.a, s.d.patients[0].Handle)
	jorgen := patientHandle(t, s.a, s.d.patients[1].Handle)
	patient := s.login(t, "patient-1")
	s.read(t, patient, s.base+"/p/"+birthe) // cached now
	clinician := s.login(t, "clinician")
	work := s.read(t, clinician, s.base+"/clinician/conflicts?from=2020-01-01&to=2030-12-31")
	if !strings.Contains(work, "/clinician/p/"+birthe) {
		t.Errorf("the worklist lacks Birthe, who has visits from the clinician's home-care unit")
	}
	if strings.Contains(work, "/clinician/p/"+jorgen) {
		t.Errorf("the worklist lists Jørgen, whose timeline nobody opened and whom the clinician never looked up")
	}
	log := s.read(t, patient, s.base+"/account/log")
	if !strings.Contains(log, "Klara Kliniker</strong>, sundhedsperson, Hjemmeplejen Midtbyen") || !strings.Contains(log, "koordineringsproblemer") {
		t.Errorf("Birthe's log does not say the clinician and her workplace saw her on the worklist: %.2000s", log)
	}
}
