package fhirsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/overblik/overblik/fhir"
)

// sleepRecorder stands in for the timer: it records delays without waiting.
type sleepRecorder struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (s *sleepRecorder) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delays = append(s.delays, d)
	return ctx.Err()
}

func (s *sleepRecorder) Delays() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.delays)
}

// rawGet returns status, headers and body, whatever the content type.
func rawGet(t *testing.T, u string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", u, err)
	}
	return resp.StatusCode, resp.Header, body
}

func TestLatencyJitter(t *testing.T) {
	rec := &sleepRecorder{}
	_, ts := newTestServer(t, fixture(), Options{Latency: 100 * time.Millisecond, LatencyJitter: 50 * time.Millisecond, Seed: 3, Sleep: rec.Sleep})
	for range 20 {
		if status, _, _ := rawGet(t, ts.URL+"/Patient/p1"); status != 200 {
			t.Fatalf("status %d, want 200", status)
		}
	}
	delays := rec.Delays()
	if len(delays) != 20 {
		t.Fatalf("%d delays, want 20: %v", len(delays), delays)
	}
	distinct := map[time.Duration]bool{}
	for _, d := range delays {
		if d < 100*time.Millisecond || d >= 150*time.Millisecond {
			t.Errorf("delay %v outside [100ms, 150ms)", d)
		}
		distinct[d] = true
	}
	if len(distinct) < 10 {
		t.Errorf("only %d distinct delays in 20: the jitter does not vary", len(distinct))
	}
}

func TestSlowBody(t *testing.T) {
	rec := &sleepRecorder{}
	_, ts := newTestServer(t, fixture(), Options{SlowBody: time.Second, Sleep: rec.Sleep})
	_, plain := newTestServer(t, fixture(), Options{})
	for _, path := range []string{"/Appointment?patient=p1", "/Patient/p1", "/metadata"} {
		t.Run(path, func(t *testing.T) {
			before := len(rec.Delays())
			status, h, got := rawGet(t, ts.URL+path)
			_, _, want := rawGet(t, plain.URL+path)
			if status != 200 || h.Get("Content-Length") != strconv.Itoa(len(want)) {
				t.Errorf("status %d, Content-Length %s; want 200, %d", status, h.Get("Content-Length"), len(want))
			}
			// fullUrl and links carry the server's own address.
			if !bytes.Equal(got, bytes.ReplaceAll(want, []byte(plain.URL), []byte(ts.URL))) {
				t.Errorf("slow body differs from the plain one:\n%s\n%s", got, want)
			}
			delays := rec.Delays()[before:]
			if len(delays) != slowBodyChunks-1 {
				t.Fatalf("%d pauses, want %d", len(delays), slowBodyChunks-1)
			}
			for _, d := range delays {
				if d != time.Second/slowBodyChunks {
					t.Errorf("pause %v, want %v", d, time.Second/slowBodyChunks)
				}
			}
		})
	}
}

func TestGarbageAndContentType(t *testing.T) {
	tests := []struct {
		name      string
		opts      Options
		wantJSON  bool
		wantCType string
	}{
		{name: "garbage", opts: Options{GarbageRate: 1}, wantJSON: false, wantCType: "application/fhir+json"},
		{name: "wrong content type", opts: Options{WrongContentType: true}, wantJSON: true, wantCType: "text/html; charset=utf-8"},
		{name: "both", opts: Options{GarbageRate: 1, WrongContentType: true}, wantJSON: false, wantCType: "text/html; charset=utf-8"},
		{name: "neither", wantJSON: true, wantCType: "application/fhir+json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ts := newTestServer(t, fixture(), tt.opts)
			for _, path := range []string{"/Appointment?patient=p1", "/Patient/p1", "/metadata"} {
				status, h, body := rawGet(t, ts.URL+path)
				if status != 200 {
					t.Errorf("%s: status %d, want 200", path, status)
				}
				if got := json.Valid(body); got != tt.wantJSON {
					t.Errorf("%s: valid JSON %v, want %v: %.80s", path, got, tt.wantJSON, body)
				}
				if got := h.Get("Content-Type"); got != tt.wantCType {
					t.Errorf("%s: Content-Type %q, want %q", path, got, tt.wantCType)
				}
				if h.Get("Content-Length") != strconv.Itoa(len(body)) {
					t.Errorf("%s: Content-Length %s for %d bytes", path, h.Get("Content-Length"), len(body))
				}
			}
			// A 404 stays an honest OperationOutcome.
			status, _, body := rawGet(t, ts.URL+"/Patient/nobody")
			if status != 404 || outcomeCode(t, body) != "not-found" {
				t.Errorf("404 changed by the fault modes: %d %s", status, body)
			}
		})
	}
}

func TestGarbageRateIsSeeded(t *testing.T) {
	valid := func() []bool {
		_, ts := newTestServer(t, fixture(), Options{GarbageRate: 0.5, Seed: 11})
		var out []bool
		for range 40 {
			_, _, body := rawGet(t, ts.URL+"/Patient/p1")
			out = append(out, json.Valid(body))
		}
		return out
	}
	first, second := valid(), valid()
	if !slices.Equal(first, second) {
		t.Errorf("same seed, different garbage:\n%v\n%v", first, second)
	}
	if !slices.Contains(first, true) || !slices.Contains(first, false) {
		t.Errorf("garbage rate 0.5 over 40: %v, want both", first)
	}
}

func TestThrottle(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want func(t *testing.T, v string)
	}{
		{name: "default Retry-After", opts: Options{ThrottleRate: 1}, want: func(t *testing.T, v string) {
			if v != "1" {
				t.Errorf("Retry-After %q, want 1", v)
			}
		}},
		{name: "rounded up to whole seconds", opts: Options{ThrottleRate: 1, RetryAfter: 2500 * time.Millisecond}, want: func(t *testing.T, v string) {
			if v != "3" {
				t.Errorf("Retry-After %q, want 3", v)
			}
		}},
		{name: "HTTP-date", opts: Options{ThrottleRate: 1, RetryAfter: 30 * time.Second, RetryAfterDate: true}, want: func(t *testing.T, v string) {
			at, err := http.ParseTime(v)
			if err != nil {
				t.Fatalf("Retry-After %q is not an HTTP-date: %v", v, err)
			}
			// Wall-clock seconds around the request; not a timing assertion on the code.
			if d := time.Until(at); d < 25*time.Second || d > 35*time.Second {
				t.Errorf("Retry-After %q is %v away, want about 30s", v, d)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ts := newTestServer(t, fixture(), tt.opts)
			status, h, body := rawGet(t, ts.URL+"/Appointment?patient=p1")
			if status != http.StatusTooManyRequests || outcomeCode(t, body) != "throttled" {
				t.Fatalf("got %d %s, want 429 throttled", status, body)
			}
			tt.want(t, h.Get("Retry-After"))
		})
	}
}

func TestAdmin(t *testing.T) {
	t.Run("off by default", func(t *testing.T) {
		sim, ts := newTestServer(t, fixture(), Options{})
		resp, err := http.Post(ts.URL+"/_sim/down", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 200 || sim.Down() {
			t.Errorf("POST /_sim/down without Admin: status %d, down %v", resp.StatusCode, sim.Down())
		}
	})
	// Mounted under a path, with faults that must not touch the switches.
	sim, err := New(fixture(), Options{Admin: true, BaseURL: "http://sim.test/fhir", FailStatus: 500})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		method, path string
		wantStatus   int
		wantDown     bool
	}{
		{"GET", "/fhir/_sim/state", 200, false},
		{"POST", "/fhir/_sim/down", 200, true},
		{"GET", "/fhir/_sim/state", 200, true},
		{"POST", "/fhir/_sim/up", 200, false},
		{"GET", "/fhir/_sim/down", 405, false},
		{"POST", "/fhir/_sim/state", 405, false},
		{"POST", "/fhir/_sim/explode", 404, false},
		{"POST", "/_sim/down", 200, true}, // root works too
	}
	for _, st := range steps {
		r := httpRequest(t, st.method, "http://sim.test"+st.path)
		w := newRecorder()
		sim.ServeHTTP(w, r)
		if w.status != st.wantStatus || sim.Down() != st.wantDown {
			t.Errorf("%s %s: status %d, down %v; want %d, %v (%s)", st.method, st.path, w.status, sim.Down(), st.wantStatus, st.wantDown, w.body.String())
		}
		if w.status == 200 {
			var state struct{ Down bool }
			if err := json.Unmarshal(w.body.Bytes(), &state); err != nil || state.Down != st.wantDown {
				t.Errorf("%s %s: state %s, want down %v", st.method, st.path, w.body.String(), st.wantDown)
			}
		}
	}
}

func httpRequest(t *testing.T, method, u string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// respRecorder is a minimal http.ResponseWriter.
type respRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *respRecorder { return &respRecorder{header: http.Header{}} }

func (r *respRecorder) Header() http.Header { return r.header }
func (r *respRecorder) WriteHeader(s int)   { r.status = s }
func (r *respRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = 200
	}
	return r.body.Write(b)
}

func TestNewRejectsBadFaults(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"throttle rate above 1", Options{ThrottleRate: 2}, "throttle rate"},
		{"negative garbage rate", Options{GarbageRate: -0.1}, "garbage rate"},
		{"negative jitter", Options{LatencyJitter: -time.Second}, "latency jitter"},
		{"negative slow body", Options{SlowBody: -time.Second}, "slow body"},
		{"negative retry after", Options{RetryAfter: -time.Second}, "retry after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(fixture(), tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

// TestClientMeetsFaults points the fhir client at each fault mode: what the
// simulator does is what a connector's tests can count on.
func TestClientMeetsFaults(t *testing.T) {
	params := url.Values{"patient": {"p1"}}
	tests := []struct {
		name       string
		opts       Options
		check      func(t *testing.T, err error)
		wantSleeps []time.Duration // the client's waits
	}{
		{name: "throttled: Retry-After honoured, then the 429", opts: Options{ThrottleRate: 1, RetryAfter: 2 * time.Second},
			check: func(t *testing.T, err error) {
				var fe *fhir.Error
				if !errors.As(err, &fe) || fe.StatusCode != 429 || fe.RetryAfter != 2*time.Second {
					t.Errorf("err = %v, want a 429 with RetryAfter 2s", err)
				}
			}, wantSleeps: []time.Duration{2 * time.Second, 2 * time.Second}},
		{name: "garbage is invalid", opts: Options{GarbageRate: 1},
			check: func(t *testing.T, err error) {
				if !errors.Is(err, fhir.ErrInvalid) {
					t.Errorf("err = %v, want ErrInvalid", err)
				}
			}},
		{name: "wrong content type is tolerated", opts: Options{WrongContentType: true},
			check: func(t *testing.T, err error) {
				if err != nil {
					t.Errorf("err = %v, want the JSON read anyway", err)
				}
			}},
		{name: "slow body still arrives", opts: Options{SlowBody: time.Second, Sleep: (&sleepRecorder{}).Sleep},
			check: func(t *testing.T, err error) {
				if err != nil {
					t.Error(err)
				}
			}},
		{name: "down is unavailable", opts: Options{FailStatus: 503},
			check: func(t *testing.T, err error) {
				var fe *fhir.Error
				if !errors.As(err, &fe) || fe.StatusCode != 503 {
					t.Errorf("err = %v, want a 503", err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ts := newTestServer(t, fixture(), tt.opts)
			clientSleeps := &sleepRecorder{}
			c, err := fhir.NewClient(ts.URL, nil, fhir.Options{Sleep: clientSleeps.Sleep})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Search(context.Background(), "Appointment", params)
			tt.check(t, err)
			if tt.wantSleeps != nil && !slices.Equal(clientSleeps.Delays(), tt.wantSleeps) {
				t.Errorf("client waited %v, want %v", clientSleeps.Delays(), tt.wantSleeps)
			}
		})
	}
}
