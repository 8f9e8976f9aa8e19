package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/config"
	"github.com/overblik/overblik/fhir/fhirsim"
	"github.com/overblik/overblik/sources/fhirsource"
	"github.com/overblik/overblik/testdata"
	"github.com/overblik/overblik/web"
)

func TestRunExitStatus(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.yaml")
	os.WriteFile(broken, []byte("listen: 127.0.0.1:0\ncache:\n  fresh_for: soon\nsources: []\n"), 0o644)
	tests := []struct {
		name     string
		args     []string
		want     int
		contains string
	}{
		{"no command", nil, exitUsage, "usage"},
		{"unknown command", []string{"frobnicate"}, exitUsage, "unknown command"},
		{"bad flag", []string{"serve", "--nope"}, exitUsage, "nope"},
		{"broken config names the key", []string{"serve", "--config", broken}, exitUsage, "cache.fresh_for"},
		{"missing config", []string{"serve", "--config", filepath.Join(dir, "absent.yaml")}, exitUsage, "absent.yaml"},
		{"help", []string{"help"}, exitOK, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got := run(context.Background(), tc.args, &stdout, &stderr, func(string) string { return "" })
			if got != tc.want {
				t.Errorf("exit = %d, want %d; stderr: %s", got, tc.want, stderr.String())
			}
			if !strings.Contains(stdout.String()+stderr.String(), tc.contains) {
				t.Errorf("output lacks %q: %s%s", tc.contains, stdout.String(), stderr.String())
			}
		})
	}
}

// TestServeWithConfig runs `overblik serve` as an operator would: a YAML file
// naming three FHIR servers, an environment variable overriding one URL, and
// a graceful stop.
func TestServeWithConfig(t *testing.T) {
	cph, _ := time.LoadLocation("Europe/Copenhagen")
	data := testdata.Demo(time.Now(), cph)
	urls := map[string]string{}
	for _, sector := range []string{"hospital", "municipality", "gp"} {
		res, _ := data.Sector(sector)
		sim, err := fhirsim.New(res, fhirsim.Options{TimeZone: cph})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(sim)
		t.Cleanup(srv.Close)
		urls[sector] = srv.URL
	}
	keySum := sha256.Sum256([]byte("test-clinician-key"))
	cfg := `listen: 127.0.0.1:0
metrics_listen: off
api_keys: [{name: journal, key_sha256: ` + hex.EncodeToString(keySum[:]) + `, role: clinician}]
database_path: ` + filepath.Join(t.TempDir(), "access.db") + `
window: {past: 90d, future: 180d}
cache: {fresh_for: 2m}
sources:
  - {name: hosp, display: Hospitalet, sector: hospital, kind: fhir, base_url: ` + urls["hospital"] + `, page_size: 5, timeout: 5s}
  - {name: kommune, display: Kommunen, sector: municipality, kind: fhir, base_url: http://127.0.0.1:1/unused}
  - {name: gp, display: Lægen, sector: gp, kind: fhir, base_url: ` + urls["gp"] + `}
`
	path := filepath.Join(t.TempDir(), "overblik.yaml")
	os.WriteFile(path, []byte(cfg), 0o644)
	env := map[string]string{"OVERBLIK_SOURCE_KOMMUNE_BASE_URL": urls["municipality"]}

	ctx, cancel := context.WithCancel(context.Background())
	stdoutR, stdoutW := io.Pipe()
	stderr := &syncBuffer{} // the server logs from its own goroutines
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "--config", path}, stdoutW, stderr, func(k string) string { return env[k] })
		stdoutW.Close()
	}()
	line, err := bufio.NewReader(stdoutR).ReadString('\n')
	if err != nil {
		t.Fatalf("no start-up line: %v; stderr: %s", err, stderr.String())
	}
	go io.Copy(io.Discard, stdoutR)
	base := strings.TrimSpace(line[strings.Index(line, "http://"):])

	if resp, err := http.Get(base + "/api/v1/patients/x/timeline"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("API without a key: %v %v, want 401", resp.StatusCode, err)
	}
	authed := func(method, url, body string) (*http.Response, error) {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer test-clinician-key")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(web.ReasonHeader, "referral")
		return http.DefaultClient.Do(req)
	}
	resp, err := authed(http.MethodPost, base+"/api/v1/patients/lookup",
		`{"identifier":"urn:oid:1.2.208.176.1.2|`+data.Patients[1].CPR+`","reason":"referral"}`)
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Handle string }
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	resp, err = authed(http.MethodGet, base+"/api/v1/patients/"+h.Handle+"/timeline", "")
	if err != nil {
		t.Fatal(err)
	}
	var tl apiTimeline
	json.NewDecoder(resp.Body).Decode(&tl)
	resp.Body.Close()
	sectors := map[any]int{}
	for _, e := range tl.Entries {
		sectors[e["sector"]]++
	}
	if len(sectors) != 3 || tl.Stale {
		t.Errorf("serve timeline: sectors %v, stale %v, sources %v", sectors, tl.Stale, tl.Sources)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit = %d after SIGTERM-like cancel, want 0; stderr: %s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not shut down")
	}
	if strings.Contains(stderr.String(), data.Patients[1].CPR) {
		t.Errorf("the log contains the CPR:\n%s", stderr.String())
	}
}

func TestShippedConfigsLoad(t *testing.T) {
	// Their API keys are placeholders, for a key of the user's own.
	env := envFunc(map[string]string{"OVERBLIK_API_KEY_CARE_COORDINATION_SHA256": keyHash, "OVERBLIK_API_KEY_DEMO_CLINICIAN_SHA256": keyHash})
	for _, f := range []string{"overblik.example.yaml", "overblik.demo.yaml"} {
		t.Run(f, func(t *testing.T) {
			cfg, err := config.Load(filepath.Join("..", "..", f), env, sourceKinds())
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Sources) != 3 {
				t.Errorf("%d sources, want 3", len(cfg.Sources))
			}
			// Each names everything the privacy page and the accessibility statement need.
			if len(cfg.Warnings) != 0 || cfg.Site.Operator == "" || cfg.Site.Statement.IsZero() {
				t.Errorf("site %+v, warnings %q", cfg.Site, cfg.Warnings)
			}
			if _, err := newApp(t.Context(), cfg, demoExtras{}, nil, nil); err == nil {
				t.Error("newApp without a handle secret should fail")
			}
			cfg.EnsureHandleSecret()
			cfg.DatabasePath = filepath.Join(t.TempDir(), "access.db") // not in the source tree
			if _, err := newApp(t.Context(), cfg, demoExtras{}, slogDiscard(), nil); err != nil {
				t.Errorf("wiring %s: %v", f, err)
			}
		})
	}
}

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestCheckCommand(t *testing.T) {
	cph, _ := time.LoadLocation("Europe/Copenhagen")
	res, _ := testdata.Demo(time.Now(), cph).Sector("hospital")
	sim, err := fhirsim.New(res, fhirsim.Options{TimeZone: cph})
	if err != nil {
		t.Fatal(err)
	}
	good := httptest.NewServer(sim)
	t.Cleanup(good.Close)
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"security"}]}`, http.StatusUnauthorized)
	}))
	t.Cleanup(refusing.Close)
	write := func(urls ...string) string {
		cfg := "sources:\n"
		for i, u := range urls {
			cfg += "  - {name: s" + strconv.Itoa(i) + ", display: S, sector: hospital, kind: fhir, base_url: " + u + ", timeout: 2s}\n"
		}
		path := filepath.Join(t.TempDir(), "overblik.yaml")
		os.WriteFile(path, []byte(cfg), 0o644)
		return path
	}
	tests := []struct {
		name string
		urls []string
		want int
		says []string
	}{
		{"all good", []string{good.URL}, exitOK, []string{"s0", "fhir version", "ok", "searches"}},
		{"one refuses us", []string{good.URL, refusing.URL}, exitFailed, []string{"s1", "authentication", "FAIL", "refused our credentials (HTTP 401)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got := run(context.Background(), []string{"check", "--config", write(tc.urls...)}, &stdout, &stderr, func(string) string { return "" })
			if got != tc.want {
				t.Errorf("exit = %d, want %d\n%s%s", got, tc.want, stdout.String(), stderr.String())
			}
			for _, s := range tc.says {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("output lacks %q:\n%s", s, stdout.String())
				}
			}
		})
	}
}

// TestCheckWarnsOfAKeyOfAnotherKind: a configuration that gave an iCal
// source a FHIR key loaded before connectors owned their keys, and still
// does; check says the key is ignored.
func TestCheckWarnsOfAKeyOfAnotherKind(t *testing.T) {
	feed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/calendar")
		io.WriteString(w, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nEND:VCALENDAR\r\n")
	}))
	t.Cleanup(feed.Close)
	path := filepath.Join(t.TempDir(), "overblik.yaml")
	cfg := "sources:\n  - {name: k, display: K, sector: municipality, kind: ical, url: '" + feed.URL + "/{identifier}.ics', page_size: 20}\n"
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	got := run(context.Background(), []string{"check", "--config", path}, &stdout, &stderr, func(string) string { return "" })
	if got == exitUsage {
		t.Fatalf("exit = %d: the configuration was refused\n%s", got, stderr.String())
	}
	if want := "sources[0].page_size: is for kind fhir, not ical: ignored"; !strings.Contains(stderr.String(), "configuration warning: ") || !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
	}
}

// TestNewAppClosesWhatItOpenedWhenItFails: a start that fails late (the
// login provider cannot be reached, after the cache, the database and the
// access change feed were opened) leaves no goroutine or connection behind.
func TestNewAppClosesWhatItOpenedWhenItFails(t *testing.T) {
	d, err := startDemo(time.Now(), slogDiscard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	cfg := d.cfg
	cfg.Cache.RedisURL, cfg.Cache.RedisPrefix = "redis://127.0.0.1:6379/0", "overblik-test-newapp:"
	cfg.DatabasePath = filepath.Join(t.TempDir(), "access.db")
	cfg.APIKeys = []config.APIKeyConfig{demoAPIKey}
	cfg.Login = config.LoginConfig{Issuer: "http://127.0.0.1:1", ClientID: "x", ClientSecret: []byte("y"),
		RedirectURL: "http://127.0.0.1:8080/auth/callback", PostLogoutURL: "http://127.0.0.1:8080/"}
	before := runtime.NumGoroutine()
	for range 3 {
		if _, err := newApp(t.Context(), cfg, demoExtras{}, slogDiscard(), nil); err == nil {
			t.Fatal("newApp with an unreachable login provider succeeded")
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Errorf("%d goroutines after three failed starts, %d before: newApp leaves what it opened running", n, before)
	}
}

// TestServeRefusesPublishedKeys: serve with the old example's key, or with
// the shipped demo configuration given the public demo key, exits 2 and
// names the key.
func TestServeRefusesPublishedKeys(t *testing.T) {
	old := filepath.Join(t.TempDir(), "overblik.yaml")
	if err := os.WriteFile(old, []byte("listen: 127.0.0.1:0\nmetrics_listen: off\n"+minimalConfig+
		"api_keys: [{name: care-coordination, key_sha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8, role: clinician}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, config string
		env          map[string]string
		want         []string
	}{
		{"the old example's key", old, nil, []string{`api_keys[0].key_sha256: the API key "care-coordination" is the key of the old overblik.example.yaml ("password")`}},
		{"the shipped example", "../../overblik.example.yaml", nil, []string{"api_keys[0].key_sha256: want the SHA-256 of the key", "head -c 32 /dev/urandom | base64", "OVERBLIK_API_KEY_CARE_COORDINATION_SHA256"}},
		{"the shipped demo configuration", "../../overblik.demo.yaml", nil, []string{"api_keys[0].key_sha256: want the SHA-256 of the key", "OVERBLIK_API_KEY_DEMO_CLINICIAN_SHA256"}},
		{"the demo configuration with the public demo key", "../../overblik.demo.yaml", map[string]string{"OVERBLIK_API_KEY_DEMO_CLINICIAN_SHA256": demoAPIKey.KeySHA256},
			[]string{`OVERBLIK_API_KEY_DEMO_CLINICIAN_SHA256: the API key "demo-clinician" is the public key of the demo ("demo-clinician-key")`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got := run(context.Background(), []string{"serve", "--config", tc.config}, &stdout, &stderr, envFunc(tc.env))
			if got != exitUsage {
				t.Fatalf("exit = %d, want %d; stderr: %s", got, exitUsage, stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("serve started: %s", stdout.String())
			}
			assertErrContains(t, stderr.String(), tc.want...)
		})
	}
}

// TestServeRefusesWithoutAuthentication: serve with no login and no API
// keys exits with status 2 and says why, before it listens.
func TestServeRefusesWithoutAuthentication(t *testing.T) {
	path := filepath.Join(t.TempDir(), "overblik.yaml")
	if err := os.WriteFile(path, []byte("listen: 0.0.0.0:0\n"+minimalConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	got := run(context.Background(), []string{"serve", "--config", path}, &stdout, &stderr, func(string) string { return "" })
	if got != exitUsage {
		t.Fatalf("exit = %d, want %d; stderr: %s", got, exitUsage, stderr.String())
	}
	if !strings.Contains(stderr.String(), "no authentication method configured") || stdout.Len() != 0 {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
}

// demoTimelines builds the demo patients' timelines as of now, with the
// demo's configuration as modify leaves it.
func demoTimelines(t *testing.T, now time.Time, modify func(*config.Config)) []*aggregator.Timeline {
	t.Helper()
	d, err := startDemo(now, slogDiscard())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	modify(d.cfg)
	a, err := newApp(t.Context(), d.cfg, demoExtras{patients: d.patients}, slogDiscard(), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var out []*aggregator.Timeline
	for _, p := range d.patients {
		ref, _, _ := a.patients.Resolve(context.Background(), p.Handle)
		tl, err := a.svc.Timeline(context.Background(), ref)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tl)
	}
	return out
}

// TestConflictRulesReachTheService switches a rule off in the configuration
// and checks the demo patient that has a heavy day no longer gets one.
func TestConflictRulesReachTheService(t *testing.T) {
	cph, _ := time.LoadLocation("Europe/Copenhagen")
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, cph)
	rulesOf := func(off bool) map[string]int {
		counts := map[string]int{}
		for _, tl := range demoTimelines(t, now, func(c *config.Config) { c.Conflicts.HeavyDay.Off = off }) {
			for _, c := range tl.Conflicts {
				counts[string(c.Rule)]++
			}
		}
		return counts
	}
	if on := rulesOf(false); on["heavy-day"] == 0 {
		t.Fatalf("the demo has no heavy day to switch off: %v", on)
	}
	if off := rulesOf(true); off["heavy-day"] != 0 || off["overlap"] == 0 {
		t.Errorf("with heavy_day off: %v, want no heavy-day and the other rules still on", off)
	}
}

// TestMergeRulesReachTheService: the demo's discharge meeting, booked by
// the hospital and by the home nursing, is one entry with both parts; with
// merge.meetings.off in the configuration it is two.
func TestMergeRulesReachTheService(t *testing.T) {
	cph, _ := time.LoadLocation("Europe/Copenhagen")
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, cph)
	meetings := func(yaml string) (entries, joint int) {
		merge := mustParseConfig(t, yaml+minimalConfig, nil).Merge
		for _, tl := range demoTimelines(t, now, func(c *config.Config) { c.Merge = merge }) {
			for _, e := range tl.Entries {
				if strings.HasPrefix(e.Title, "Udskrivningssamtale") || strings.HasPrefix(e.Title, "Udskrivningsmøde") {
					entries++
					if len(e.Parts) == 2 {
						joint++
					}
				}
			}
		}
		return entries, joint
	}
	if entries, joint := meetings(""); entries != 1 || joint != 1 {
		t.Errorf("by default: %d discharge meeting entries, %d of them joint; want the one, joint", entries, joint)
	}
	if entries, joint := meetings("merge: {meetings: {off: true}}\n"); entries != 2 || joint != 0 {
		t.Errorf("with merge.meetings.off: %d discharge meeting entries, %d of them joint; want two apart", entries, joint)
	}
}

// TestExampleShowsTheDefaults: the example claims to show the defaults,
// of the keys every source has and of each connector's own; keep it honest.
func TestExampleShowsTheDefaults(t *testing.T) {
	// The example's API key is a placeholder (TestServeRefusesPublishedKeys):
	// an operator gives the hash of their own.
	c, err := config.Load("../../overblik.example.yaml", envFunc(map[string]string{"OVERBLIK_API_KEY_CARE_COORDINATION_SHA256": keyHash}), sourceKinds())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	d := config.Default()
	if c.Listen != d.Listen || c.Timezone != d.Timezone || c.PatientIdentifierSystem != d.PatientIdentifierSystem ||
		c.Window != d.Window || !reflect.DeepEqual(c.Cache, d.Cache) || c.MetricsListen != d.MetricsListen || c.RateLimits != d.RateLimits ||
		c.Worklist != d.Worklist || c.Merge != d.Merge {
		t.Errorf("example top-level values differ from the defaults:\n got %+v\nwant %+v", c, d)
	}
	var sectors []string
	for _, s := range c.Sources {
		sectors = append(sectors, s.Sector)
		fc, ok := s.Section.(*fhirsource.Config)
		if s.Kind != fhirsource.Kind || !ok || !strings.HasPrefix(fc.BaseURL, "https://") {
			t.Errorf("source %s: got kind %q, section %+v; want fhir over https", s.Name, s.Kind, s.Section)
			continue
		}
		if def := fhirsource.DefaultConfig(); fc.Include != def.Include || fc.FullReread != def.FullReread || s.Timeout != config.DefaultTimeout && s.Name != "laegehuset" {
			t.Errorf("source %s: include %v, full_reread %v, timeout %v differ from the defaults", s.Name, fc.Include, fc.FullReread, s.Timeout)
		}
	}
	if want := []string{"hospital", "municipality", "gp"}; !slices.Equal(sectors, want) {
		t.Errorf("got sectors %v, want %v", sectors, want)
	}
}

// A FHIR source as the wiring opens it reads in two steps
// (aggregator.Reader): a wrapper that hid that would make every refresh
// normalise again what it read last time.
func TestFHIRSourcesAreReaders(t *testing.T) {
	c, err := config.Load("../../overblik.example.yaml", envFunc(map[string]string{"OVERBLIK_API_KEY_CARE_COORDINATION_SHA256": keyHash}), sourceKinds())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for _, sc := range c.Sources {
		src, err := openSource(connectors(nil), sc, c, nil, nil)
		if err != nil {
			t.Fatalf("source %s: %v", sc.Name, err)
		}
		if _, ok := src.(aggregator.Reader); !ok {
			t.Errorf("source %s (%s) is a %T, not an aggregator.Reader", sc.Name, sc.Kind, src)
		}
	}
}
