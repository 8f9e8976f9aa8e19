package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files, and the README's screenshots (TestBrowserAccessibility)")

// testClock is a settable clock shared by the aggregator and the test.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// syncBuffer collects log output written from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type demoEnv struct {
	demo  *demo
	app   *app
	url   string
	clock *testClock
	logs  *syncBuffer
}

// startDemoEnv runs the whole product on the demo sources as of a fixed day,
// behind a real HTTP server.
func startDemoEnv(t *testing.T) *demoEnv {
	t.Helper()
	cph, _ := time.LoadLocation("Europe/Copenhagen")
	return startDemoEnvAt(t, time.Date(2026, 11, 26, 12, 0, 0, 0, cph))
}

// startDemoEnvAt is startDemoEnv on another day.
func startDemoEnvAt(t *testing.T, now time.Time) *demoEnv {
	t.Helper()
	clk := &testClock{now: now}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := startDemo(clk.Now(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	d.cfg.HandleSecret = []byte("a fixed secret so handles are golden-stable")
	outages := &demoOutages{demo: d}
	changes := &demoChanges{demo: d, now: clk.Now}
	a, err := newApp(t.Context(), d.cfg, demoExtras{patients: d.patients, outages: outages, changes: changes}, log, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	outages.app, changes.app = a, a
	srv := httptest.NewServer(a.handler)
	t.Cleanup(func() { srv.Close(); a.Close() })
	return &demoEnv{demo: d, app: a, url: srv.URL, clock: clk, logs: logs}
}

func (e *demoEnv) get(t *testing.T, path string, v any) string {
	t.Helper()
	resp, err := http.Get(e.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	return string(body)
}

type apiTimeline struct {
	Patient struct {
		Handle string `json:"handle"`
	} `json:"patient"`
	Stale   bool             `json:"stale"`
	Entries []map[string]any `json:"entries"`
	Sources []map[string]any `json:"sources"`
}

// TestDemoEndToEnd fetches every demo patient's timeline over HTTP from three
// simulated FHIR servers and compares it with a golden file.
func TestDemoEndToEnd(t *testing.T) {
	env := startDemoEnv(t)
	var patients []struct{ Handle, Name string }
	env.get(t, "/api/v1/patients", &patients)
	if len(patients) < 3 {
		t.Fatalf("got %d demo patients, want at least 3", len(patients))
	}
	home := env.get(t, "/", nil)
	for i, p := range patients {
		if !strings.Contains(home, "/p/"+p.Handle) {
			t.Errorf("front page does not link patient %d", i)
		}
		var raw json.RawMessage
		env.get(t, "/api/v1/patients/"+p.Handle+"/timeline", &raw)
		var tl apiTimeline
		if err := json.Unmarshal(raw, &tl); err != nil {
			t.Fatal(err)
		}
		sectors := map[string]int{}
		for _, e := range tl.Entries {
			sectors[e["sector"].(string)]++
		}
		for _, s := range []string{"hospital", "municipality", "gp"} {
			if sectors[s] == 0 {
				t.Errorf("patient %d has no %s entries", i, s)
			}
		}
		if tl.Stale || len(tl.Sources) != 3 {
			t.Errorf("patient %d: stale=%v, %d sources", i, tl.Stale, len(tl.Sources))
		}
		golden(t, filepath.Join("testdata", "timeline-"+string(rune('a'+i))+".json"), raw)

		page := env.get(t, "/p/"+p.Handle, nil)
		for _, label := range []string{"Hospital", "Kommune", "Egen læge", "Aflyst"} {
			if !strings.Contains(page, label) {
				t.Errorf("patient %d page lacks %q", i, label)
			}
		}
	}
	assertNoCPR(t, env)
}

// golden compares a timeline with its golden file after blanking what
// varies between runs (durations).
func golden(t *testing.T, path string, raw []byte) {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	for _, s := range v["sources"].([]any) {
		s.(map[string]any)["duration_ms"] = 0
	}
	got, _ := json.MarshalIndent(v, "", "  ")
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("timeline differs from %s (go test ./cmd/overblik -run EndToEnd -update, then review the diff):\n%s", path, firstDiff(string(want), string(got)))
	}
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) && i < len(gl); i++ {
		if wl[i] != gl[i] {
			return "line " + strconv.Itoa(i+1) + ":\n want: " + wl[i] + "\n  got: " + gl[i]
		}
	}
	return "lengths differ"
}

// assertNoCPR checks the log of a whole run for the demo patients' CPR numbers.
func assertNoCPR(t *testing.T, env *demoEnv) {
	t.Helper()
	logs := env.logs.String()
	for _, cpr := range demoCPRs(t) {
		if strings.Contains(logs, cpr) {
			t.Errorf("log contains a CPR number:\n%s", logs)
		}
	}
}

// demoCPRs reads the demo identifiers from a fresh demo: newApp replaced
// the ones in the running demo with handles.
func demoCPRs(t *testing.T) []string {
	t.Helper()
	d, err := startDemo(time.Now(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	var out []string
	for _, p := range d.patients {
		_, cpr, ok := strings.Cut(p.Handle, "|")
		if !ok || len(cpr) != 10 {
			t.Fatalf("demo patient identifier %q is not system|CPR", p.Handle)
		}
		out = append(out, cpr)
	}
	return out
}

// TestDeadSourceLeavesTheOthers stops the GP simulator: the timeline keeps the
// hospital and municipality entries, marks the GP failed, and keeps its last
// good entries marked stale; the page shows a banner. When it comes back, the
// next refresh picks it up.
func TestDeadSourceLeavesTheOthers(t *testing.T) {
	env := startDemoEnv(t)
	var patients []struct{ Handle, Name string }
	env.get(t, "/api/v1/patients", &patients)
	path := "/api/v1/patients/" + patients[0].Handle + "/timeline"
	var before apiTimeline
	env.get(t, path, &before)
	fetched := before.Sources[2]["last_success"]

	env.demo.sims["laegehuset"].SetDown(true)
	env.clock.Add(3 * time.Minute) // older than fresh_for: the next read refreshes in the background
	after := waitFor(t, env, path, func(tl apiTimeline) bool { return tl.Stale })

	if len(after.Entries) != len(before.Entries) {
		t.Errorf("entries after the GP failed = %d, want all %d kept", len(after.Entries), len(before.Entries))
	}
	for _, e := range after.Entries {
		wantStale := e["sector"] == "gp"
		if e["stale"] != wantStale {
			t.Errorf("entry %v stale = %v, want %v", e["id"], e["stale"], wantStale)
		}
		if wantStale && e["fetched_at"] != fetched {
			t.Errorf("stale entry fetched_at = %v, want the last success %v", e["fetched_at"], fetched)
		}
	}
	gp := after.Sources[2]
	if gp["ok"] != false || gp["error_kind"] != "unavailable" || gp["last_success"] != fetched {
		t.Errorf("GP source status = %v", gp)
	}
	for _, s := range after.Sources[:2] {
		if s["ok"] != true {
			t.Errorf("source %v failed with the GP", s["name"])
		}
	}
	page := env.get(t, "/p/"+patients[0].Handle, nil)
	if !strings.Contains(page, "Vi kan ikke hente nye oplysninger fra Lægehuset Trøjborg lige nu.") {
		t.Errorf("timeline page has no banner for the failed GP source")
	}

	env.demo.sims["laegehuset"].SetDown(false)
	env.clock.Add(3 * time.Minute)
	waitFor(t, env, path, func(tl apiTimeline) bool { return !tl.Stale })
}

// waitFor reads the timeline until cond holds: each read of an old timeline
// starts a background refresh, whose result a later read sees.
func waitFor(t *testing.T, env *demoEnv, path string, cond func(apiTimeline) bool) apiTimeline {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var tl apiTimeline
		env.get(t, path, &tl)
		if cond(tl) {
			return tl
		}
		if time.Now().After(deadline) {
			t.Fatalf("timeline never reached the expected state; last: stale=%v sources=%v", tl.Stale, tl.Sources)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestUnknownHandle(t *testing.T) {
	env := startDemoEnv(t)
	resp, err := http.Get(env.url + "/api/v1/patients/nosuchhandle/timeline")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown handle: %d, want 404", resp.StatusCode)
	}
	// A CPR posted for lookup comes back as a handle that does not contain it.
	body := strings.NewReader(`{"identifier":"3002410148"}`)
	resp, err = http.Post(env.url+"/api/v1/patients/lookup", "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Handle string }
	json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if got.Handle == "" || strings.Contains(got.Handle, "3002410148") {
		t.Errorf("lookup handle = %q", got.Handle)
	}
	var tl apiTimeline
	env.get(t, "/api/v1/patients/"+got.Handle+"/timeline", &tl)
	if len(tl.Entries) < 20 {
		t.Errorf("looked-up patient has %d entries", len(tl.Entries))
	}
}

// TestDemoOutageSwitch takes the hospital down from the front page's form:
// the very next timeline read shows it failed, without waiting for fresh_for.
func TestDemoOutageSwitch(t *testing.T) {
	env := startDemoEnv(t)
	var patients []struct{ Handle, Name string }
	env.get(t, "/api/v1/patients", &patients)
	path := "/api/v1/patients/" + patients[1].Handle + "/timeline"
	var tl apiTimeline
	env.get(t, path, &tl)

	resp, err := http.PostForm(env.url+"/demo/sources/aarhus-uh", map[string][]string{"down": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	env.get(t, path, &tl)
	if tl.Sources[0]["ok"] != false || !tl.Stale {
		t.Errorf("after taking the hospital down: sources %v", tl.Sources)
	}
	if home := env.get(t, "/", nil); !strings.Contains(home, "Start igen") {
		t.Error("front page does not show the hospital as down")
	}
}

// TestMetricsEndpoint scrapes /metrics after a timeline view: per-source
// circuit state and the build duration are there, and no patient is.
func TestMetricsEndpoint(t *testing.T) {
	env := startDemoEnv(t)
	var patients []struct{ Handle, Name string }
	env.get(t, "/api/v1/patients", &patients)
	env.get(t, "/api/v1/patients/"+patients[0].Handle+"/timeline", nil)
	body := env.get(t, "/metrics", nil)
	for _, want := range []string{`overblik_source_circuit_state{source="laegehuset"} 0`, "overblik_timeline_build_duration_seconds_count 1"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, p := range patients {
		if strings.Contains(body, p.Handle) {
			t.Errorf("/metrics names a patient handle")
		}
	}
	for _, cpr := range demoCPRs(t) {
		if strings.Contains(body, cpr) {
			t.Errorf("/metrics holds a CPR number")
		}
	}
}
