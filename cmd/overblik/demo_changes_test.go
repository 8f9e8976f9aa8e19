package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
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
