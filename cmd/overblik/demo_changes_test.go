package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The demo's change switches move, cancel and add an appointment of the
// first demo patient at a simulated source; the change reaches the cache at
// once, so the very next load of her page marks it, and the changes API
// lists it.
func TestDemoChangeSwitches(t *testing.T) {
	env := startDemoEnv(t)
	var patients []struct{ Handle, Name string }
	env.get(t, "/api/v1/patients", &patients)
	h := patients[0].Handle
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	page := func() string {
		t.Helper()
		resp, err := browser.Get(env.url + "/p/" + h)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	page() // she has looked: what changes now is marked on her next load
	since := env.clock.Now()
	change := func(source, kind string) int {
		t.Helper()
		resp, err := http.Post(env.url+"/api/v1/demo/change", "application/json",
			strings.NewReader(`{"source": "`+source+`", "kind": "`+kind+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	env.clock.Add(time.Second)
	for _, c := range []struct{ source, kind string }{{"aarhus-uh", "move"}, {"aarhus-kommune", "cancel"}, {"laegehuset", "add"}} {
		if code := change(c.source, c.kind); code != http.StatusNoContent {
			t.Fatalf("%s %s: %d", c.kind, c.source, code)
		}
	}
	body := page()
	for _, w := range []string{"Flyttet fra", "Aflyst siden sidst", ">Ny<", "Ekstra tid (demo)"} {
		if !strings.Contains(body, w) {
			t.Errorf("her page after the changes lacks %q", w)
		}
	}
	var got struct {
		Changes []struct{ Kind, Entry string }
	}
	env.get(t, "/api/v1/patients/"+h+"/changes?since="+url.QueryEscape(since.Format(time.RFC3339)), &got)
	kinds := map[string]string{}
	for _, c := range got.Changes {
		src, _, _ := strings.Cut(c.Entry, "/")
		kinds[src] += c.Kind
	}
	if kinds["aarhus-uh"] != "moved" || kinds["aarhus-kommune"] != "cancelled" || kinds["laegehuset"] != "added" {
		t.Errorf("changes by source = %v, want moved, cancelled and added", kinds)
	}
	if code := change("nosuch", "add"); code != http.StatusNotFound {
		t.Errorf("an unknown source: %d", code)
	}
	if code := change("laegehuset", "delete"); code != http.StatusBadRequest {
		t.Errorf("an unknown kind: %d", code)
	}
}

// TestDemoChangeSwitchSendsANotice: in the demo as `overblik demo` wires
// it, a change made with a switch reaches the demo's mailbox as a notice to
// the patient, so a newcomer sees notices work without an SMTP server, even
// when nobody looked at her timeline before pressing it.
func TestDemoChangeSwitchSendsANotice(t *testing.T) {
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
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer demo-clinician-key")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := do(http.MethodGet, "/demo/mail", ""); code != http.StatusOK || strings.Contains(body, "birthe@example.test") {
		t.Fatalf("/demo/mail before any change: %d, and it lists a notice to Birthe already:\n%s", code, body)
	}
	if code, body := do(http.MethodPost, "/api/v1/demo/change", `{"source": "aarhus-uh", "kind": "move"}`); code != http.StatusNoContent {
		t.Fatalf("move: %d %s", code, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := do(http.MethodGet, "/demo/mail", "")
		if strings.Contains(body, "birthe@example.test") && strings.Contains(body, "Der er en ændring i dine aftaler") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no notice to Birthe in /demo/mail 10 s after the switch:\n%s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
