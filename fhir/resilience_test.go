package fhir

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is time that moves only when the client sleeps.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sleeps = append(f.sleeps, d)
	f.t = f.t.Add(d)
	return nil
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

func (f *fakeClock) Sleeps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sleeps)
}

// reply is one scripted answer; status 0 means a 200 search Bundle,
// status -1 a dropped connection.
type reply struct {
	status     int
	retryAfter string
	body       string
}

// scripted serves replies in order, repeating the last.
func scripted(t *testing.T, replies ...reply) *recorder {
	t.Helper()
	var n atomic.Int64
	return newRecorder(t, func(_ *recorder, w http.ResponseWriter, _ *http.Request) {
		i := int(n.Add(1)) - 1
		r := replies[min(i, len(replies)-1)]
		switch r.status {
		case 0:
			fmt.Fprint(w, cmpOr(r.body, searchset("", "a1")))
		case -1:
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			conn.Close()
		default:
			if r.retryAfter != "" {
				w.Header().Set("Retry-After", r.retryAfter)
			}
			w.WriteHeader(r.status)
			fmt.Fprint(w, r.body)
		}
	})
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestRetry(t *testing.T) {
	clockStart := newFakeClock().Now()
	tests := []struct {
		name       string
		replies    []reply
		opts       Options
		ctxTimeout time.Duration // real deadline; 0 = none
		wantReqs   int
		wantStatus int // 0: success wanted
		wantErr    error
		wantSleeps []time.Duration // nil: check only the count, against full jitter bounds
		wantNSleep int
	}{
		{name: "503 then success", replies: []reply{{status: 503}, {}}, wantReqs: 2, wantNSleep: 1},
		{name: "network error then success", replies: []reply{{status: -1}, {}}, wantReqs: 2, wantNSleep: 1},
		{name: "5xx until attempts run out", replies: []reply{{status: 500}, {status: 502}, {status: 504}, {}}, wantReqs: 3, wantStatus: 504, wantNSleep: 2},
		{name: "one attempt means no retry", opts: Options{MaxAttempts: 1}, replies: []reply{{status: 503}, {}}, wantReqs: 1, wantStatus: 503},
		{name: "429 with Retry-After seconds", replies: []reply{{status: 429, retryAfter: "2"}, {}}, wantReqs: 2, wantSleeps: []time.Duration{2 * time.Second}},
		{name: "503 with Retry-After HTTP-date", replies: []reply{{status: 503, retryAfter: clockStart.Add(3 * time.Second).Format(http.TimeFormat)}, {}},
			wantReqs: 2, wantSleeps: []time.Duration{3 * time.Second}},
		{name: "Retry-After date in the past means now", replies: []reply{{status: 429, retryAfter: clockStart.Add(-time.Hour).Format(http.TimeFormat)}, {}},
			wantReqs: 2, wantSleeps: []time.Duration{0}},
		{name: "unparsable Retry-After falls back to backoff", replies: []reply{{status: 429, retryAfter: "soon"}, {}}, wantReqs: 2, wantNSleep: 1},
		{name: "Retry-After over the cap ends retries", replies: []reply{{status: 429, retryAfter: "60"}, {}}, wantReqs: 1, wantStatus: 429, wantSleeps: []time.Duration{}},
		{name: "Retry-After beyond the budget ends retries", opts: Options{RetryBudget: time.Second}, replies: []reply{{status: 429, retryAfter: "2"}, {}},
			wantReqs: 1, wantStatus: 429, wantSleeps: []time.Duration{}},
		{name: "budget spent by earlier waits", opts: Options{MaxAttempts: 5, RetryBudget: 5 * time.Second}, replies: []reply{{status: 429, retryAfter: "2"}, {status: 429, retryAfter: "2"}, {status: 429, retryAfter: "2"}, {}},
			wantReqs: 3, wantStatus: 429, wantSleeps: []time.Duration{2 * time.Second, 2 * time.Second}},
		{name: "never waits past the ctx deadline", ctxTimeout: time.Minute, opts: Options{MaxRetryAfter: time.Hour, RetryBudget: time.Hour},
			replies: []reply{{status: 503, retryAfter: "120"}, {}}, wantReqs: 1, wantStatus: 503, wantSleeps: []time.Duration{}},
		{name: "404 is not retried", replies: []reply{{status: 404}, {}}, wantReqs: 1, wantStatus: 404, wantSleeps: []time.Duration{}},
		{name: "400 is not retried", replies: []reply{{status: 400}, {}}, wantReqs: 1, wantStatus: 400, wantSleeps: []time.Duration{}},
		{name: "501 is not retried", replies: []reply{{status: 501}, {}}, wantReqs: 1, wantStatus: 501, wantSleeps: []time.Duration{}},
		{name: "garbage is not retried", replies: []reply{{body: "<html>"}, {}}, wantReqs: 1, wantErr: ErrInvalid, wantSleeps: []time.Duration{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := scripted(t, tt.replies...)
			clock := newFakeClock()
			opts := tt.opts
			opts.Now, opts.Sleep = clock.Now, clock.Sleep
			opts.Rand = func() float64 { return 0.999 }
			c := newTestClient(t, rec.srv.URL, opts)
			ctx := context.Background()
			if tt.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
				defer cancel()
			}
			_, err := c.Search(ctx, "Appointment", nil)
			switch {
			case tt.wantStatus != 0:
				var fe *Error
				if !errors.As(err, &fe) || fe.StatusCode != tt.wantStatus {
					t.Fatalf("err = %v, want HTTP %d", err, tt.wantStatus)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			case err != nil:
				t.Fatalf("err = %v, want success", err)
			}
			if got := len(rec.requests()); got != tt.wantReqs {
				t.Errorf("%d requests, want %d", got, tt.wantReqs)
			}
			sleeps := clock.Sleeps()
			if tt.wantSleeps != nil {
				if !slices.Equal(sleeps, tt.wantSleeps) && !(len(sleeps) == 0 && len(tt.wantSleeps) == 0) {
					t.Errorf("sleeps = %v, want %v", sleeps, tt.wantSleeps)
				}
				return
			}
			if len(sleeps) != tt.wantNSleep {
				t.Fatalf("sleeps = %v, want %d of them", sleeps, tt.wantNSleep)
			}
			for i, d := range sleeps { // rand 0.999: just under the ceiling of retry i+1
				ceiling := min(DefaultBackoffBase<<i, DefaultBackoffMax)
				if d >= ceiling || d < ceiling*99/100 {
					t.Errorf("sleep %d = %v, want just under %v", i, d, ceiling)
				}
			}
		})
	}
}

func TestRetryAfterOnError(t *testing.T) {
	rec := scripted(t, reply{status: 429, retryAfter: "30"})
	c := newTestClient(t, rec.srv.URL, Options{})
	_, err := c.Search(context.Background(), "Appointment", nil)
	var fe *Error
	if !errors.As(err, &fe) || fe.RetryAfter != 30*time.Second {
		t.Fatalf("err = %#v, want *Error with RetryAfter 30s", err)
	}
}

func TestRetryStopsWhenCancelledWhileWaiting(t *testing.T) {
	rec := scripted(t, reply{status: 503}, reply{})
	ctx, cancel := context.WithCancel(context.Background())
	c := newTestClient(t, rec.srv.URL, Options{Sleep: func(ctx context.Context, _ time.Duration) error {
		cancel() // the caller gives up during the backoff
		return ctx.Err()
	}})
	_, err := c.Search(ctx, "Appointment", nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	var fe *Error
	if !errors.As(err, &fe) || fe.StatusCode != 503 {
		t.Errorf("err = %v, want it to keep the 503 that caused the wait", err)
	}
	if n := len(rec.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestBackoff(t *testing.T) {
	base, ceiling := 100*time.Millisecond, time.Second
	tests := []struct {
		n    int
		rnd  float64
		want time.Duration
	}{
		{n: 1, rnd: 0, want: 0},
		{n: 1, rnd: 0.5, want: 50 * time.Millisecond},
		{n: 2, rnd: 0.5, want: 100 * time.Millisecond},
		{n: 3, rnd: 0.5, want: 200 * time.Millisecond},
		{n: 4, rnd: 0.5, want: 400 * time.Millisecond},
		{n: 5, rnd: 0.5, want: 500 * time.Millisecond},  // capped at 1s
		{n: 60, rnd: 0.5, want: 500 * time.Millisecond}, // no overflow
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.n, "/", tt.rnd), func(t *testing.T) {
			if got := backoff(tt.n, base, ceiling, func() float64 { return tt.rnd }); got != tt.want {
				t.Errorf("backoff = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		v      string
		want   time.Duration
		wantOK bool
	}{
		{v: "", wantOK: false},
		{v: "0", want: 0, wantOK: true},
		{v: " 7 ", want: 7 * time.Second, wantOK: true},
		{v: "-1", wantOK: false},
		{v: "1.5", wantOK: false},
		{v: "99999999999999999", want: 24 * time.Hour, wantOK: true},
		{v: "Sun, 01 Mar 2026 12:00:10 GMT", want: 10 * time.Second, wantOK: true},
		{v: "Sunday, 01-Mar-26 12:01:00 GMT", want: time.Minute, wantOK: true},
		{v: "Sun, 01 Mar 2026 11:00:00 GMT", want: 0, wantOK: true},
		{v: "tomorrow", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.v, func(t *testing.T) {
			got, ok := retryAfter(http.Header{"Retry-After": {tt.v}}, now)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tt.v, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestCircuitBreaker(t *testing.T) {
	var status atomic.Int64
	status.Store(503)
	rec := newRecorder(t, func(_ *recorder, w http.ResponseWriter, _ *http.Request) {
		if s := int(status.Load()); s != 200 {
			w.WriteHeader(s)
			return
		}
		fmt.Fprint(w, searchset("", "a1"))
	})
	clock := newFakeClock()
	c := newTestClient(t, rec.srv.URL, Options{MaxAttempts: 1, BreakerThreshold: 3, BreakerCooldown: time.Minute, Now: clock.Now, Sleep: clock.Sleep})
	search := func() error {
		_, err := c.Search(context.Background(), "Appointment", nil)
		return err
	}
	step := func(name string, wantState BreakerState, wantReqs int, check func(error) bool) {
		t.Helper()
		err := search()
		if !check(err) {
			t.Errorf("%s: unexpected err %v", name, err)
		}
		if got := c.BreakerState(); got != wantState {
			t.Errorf("%s: state %v, want %v", name, got, wantState)
		}
		if got := len(rec.requests()); got != wantReqs {
			t.Errorf("%s: %d requests so far, want %d", name, got, wantReqs)
		}
	}
	isStatus := func(code int) func(error) bool {
		return func(err error) bool { var fe *Error; return errors.As(err, &fe) && fe.StatusCode == code }
	}
	isOpen := func(err error) bool {
		return errors.Is(err, ErrCircuitOpen) && strings.HasPrefix(err.Error(), "GET Appointment")
	}
	ok := func(err error) bool { return err == nil }

	step("failure 1", BreakerClosed, 1, isStatus(503))
	status.Store(404) // an answer, even a 404, resets the count
	step("404", BreakerClosed, 2, isStatus(404))
	status.Store(503)
	step("failure 1 again", BreakerClosed, 3, isStatus(503))
	step("failure 2", BreakerClosed, 4, isStatus(503))
	step("failure 3 opens", BreakerOpen, 5, isStatus(503))
	step("open: fails fast", BreakerOpen, 5, isOpen)
	clock.Advance(time.Minute - time.Second)
	step("still cooling down", BreakerOpen, 5, isOpen)
	clock.Advance(time.Second)
	if got := c.BreakerState(); got != BreakerHalfOpen {
		t.Errorf("after the cool-down: state %v, want half-open", got)
	}
	step("failed trial reopens", BreakerOpen, 6, isStatus(503))
	step("open again", BreakerOpen, 6, isOpen)
	clock.Advance(time.Minute)
	status.Store(200)
	step("good trial closes", BreakerClosed, 7, ok)
	step("closed", BreakerClosed, 8, ok)
}

func TestBreakerTrialIsSingle(t *testing.T) {
	clock := newFakeClock()
	b := &breaker{threshold: 1, cooldown: time.Second, now: clock.Now}
	b.record(false, unhealthy)
	if _, err := b.allow(); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("allow while open = %v, want ErrCircuitOpen", err)
	}
	clock.Advance(time.Second)
	trial, err := b.allow()
	if err != nil || !trial {
		t.Fatalf("first allow after cool-down = %v, %v; want a trial", trial, err)
	}
	if _, err := b.allow(); !errors.Is(err, ErrCircuitOpen) {
		t.Errorf("second allow during the trial = %v, want ErrCircuitOpen", err)
	}
	b.record(false, unhealthy) // a late answer to a try sent before opening must not decide
	if got := b.State(); got != BreakerHalfOpen {
		t.Errorf("state after a late failure = %v, want half-open", got)
	}
	b.record(true, neutral) // the trial's caller gave up: another trial may go
	if trial, err := b.allow(); err != nil || !trial {
		t.Errorf("allow after a neutral trial = %v, %v; want a new trial", trial, err)
	}
}

// TestBreakerCooldownDoubles: each failed trial doubles the cool-down up to
// its cap, the refusal says how long is left, and a good trial starts over
// at the first cool-down.
func TestBreakerCooldownDoubles(t *testing.T) {
	clock := newFakeClock()
	b := &breaker{threshold: 1, cooldown: 2 * time.Second, maxCooldown: 5 * time.Second, now: clock.Now}
	waitLeft := func() time.Duration {
		t.Helper()
		_, err := b.allow()
		var oe *CircuitOpenError
		if !errors.As(err, &oe) || !errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("allow while open = %v, want a *CircuitOpenError", err)
		}
		return oe.Wait
	}
	// failTrialAfter waits out a cool-down of d, checking that a moment
	// before it the breaker still refuses, and fails the trial.
	failTrialAfter := func(d time.Duration) {
		t.Helper()
		if got := waitLeft(); got != d {
			t.Errorf("wait left at the start = %v, want %v", got, d)
		}
		clock.Advance(d - time.Millisecond)
		if got := waitLeft(); got != time.Millisecond {
			t.Errorf("wait left a moment before the end = %v, want 1ms", got)
		}
		clock.Advance(time.Millisecond)
		trial, err := b.allow()
		if err != nil || !trial {
			t.Fatalf("allow after %v = %v, %v; want the trial", d, trial, err)
		}
		b.record(true, unhealthy)
	}
	b.record(false, unhealthy) // opens
	failTrialAfter(2 * time.Second)
	failTrialAfter(4 * time.Second)
	failTrialAfter(5 * time.Second) // capped
	failTrialAfter(5 * time.Second)
	clock.Advance(5 * time.Second)
	if trial, err := b.allow(); err != nil || !trial {
		t.Fatalf("allow after the cap = %v, %v; want the trial", trial, err)
	}
	if _, err := b.allow(); !errors.Is(err, ErrCircuitOpen) {
		t.Errorf("allow during the trial = %v, want ErrCircuitOpen", err)
	}
	b.record(true, healthy)
	if got := b.State(); got != BreakerClosed {
		t.Fatalf("state after a good trial = %v, want closed", got)
	}
	b.record(false, unhealthy) // opens again: the first cool-down
	if got := waitLeft(); got != 2*time.Second {
		t.Errorf("cool-down after closing and opening again = %v, want 2s", got)
	}
}

func TestBreakerIgnoresCancelledCalls(t *testing.T) {
	rec := newRecorder(t, func(_ *recorder, w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, searchset("")) })
	c := newTestClient(t, rec.srv.URL, Options{BreakerThreshold: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 3 {
		if _, err := c.Search(ctx, "Appointment", nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	}
	if got := c.BreakerState(); got != BreakerClosed {
		t.Errorf("state = %v, want closed: the caller leaving says nothing about the server", got)
	}
}

func TestBreakerDisabled(t *testing.T) {
	rec := scripted(t, reply{status: 503})
	c := newTestClient(t, rec.srv.URL, Options{MaxAttempts: 1, BreakerThreshold: -1})
	for i := range 10 {
		var fe *Error
		if _, err := c.Search(context.Background(), "Appointment", nil); !errors.As(err, &fe) {
			t.Fatalf("call %d: err = %v, want the server's 503", i, err)
		}
	}
	if got := c.BreakerState(); got != BreakerClosed {
		t.Errorf("state = %v, want closed", got)
	}
}

func TestMaxConcurrent(t *testing.T) {
	arrived := make(chan struct{}, 10)
	release := make(chan struct{})
	rec := newRecorder(t, func(_ *recorder, w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		fmt.Fprint(w, searchset("", "a1"))
	})
	c := newTestClient(t, rec.srv.URL, Options{MaxConcurrent: 2, BreakerThreshold: -1})
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() { _, errs[i] = c.Search(context.Background(), "Appointment", nil) })
	}
	<-arrived
	<-arrived
	// Both slots are taken: a third call waits for one and gives up with its ctx.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_, err := c.Search(ctx, "Appointment", nil)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("third call: err = %v, want context.DeadlineExceeded", err)
	}
	if n := len(rec.requests()); n != 2 {
		t.Errorf("server saw %d requests, want 2 (the limit)", n)
	}
	close(release)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	// The slots came back.
	if _, err := c.Search(context.Background(), "Appointment", nil); err != nil {
		t.Errorf("after release: %v", err)
	}
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGzip(t *testing.T) {
	page := []byte(searchset("", "a1", "a2"))
	bomb := gzipped(t, append([]byte(`{"resourceType":"Bundle","entry":[`), make([]byte, 8<<20)...))
	tests := []struct {
		name     string
		encoding string
		status   int
		body     []byte
		limit    int64
		wantErr  error
		wantOut  string // Outcome of a non-2xx answer
		wantReqs int
	}{
		{name: "gzip decoded", encoding: "gzip", body: gzipped(t, page), wantReqs: 1},
		{name: "x-gzip decoded", encoding: "x-gzip", body: gzipped(t, page), wantReqs: 1},
		{name: "identity", encoding: "identity", body: page, wantReqs: 1},
		{name: "gzip bomb hits the limit", encoding: "gzip", body: bomb, limit: 1 << 20, wantErr: ErrTooLarge, wantReqs: 1},
		{name: "decoded size exactly the limit", encoding: "gzip", body: gzipped(t, page), limit: int64(len(page)), wantReqs: 1},
		{name: "decoded size one over the limit", encoding: "gzip", body: gzipped(t, page), limit: int64(len(page)) - 1, wantErr: ErrTooLarge, wantReqs: 1},
		// Empty gzip members decode to nothing: only the limit on the wire stops them.
		{name: "compressed bytes over the limit", encoding: "gzip", body: append(bytes.Repeat(gzipped(t, nil), 50000), gzipped(t, page)...),
			limit: 256 << 10, wantErr: ErrTooLarge, wantReqs: 1},
		{name: "corrupt gzip is invalid, not retried", encoding: "gzip", body: []byte("this is not gzip at all"), wantErr: ErrInvalid, wantReqs: 1},
		{name: "bad checksum", encoding: "gzip", body: corruptTrailer(gzipped(t, page)), wantErr: ErrInvalid, wantReqs: 1},
		{name: "unknown encoding", encoding: "br", body: page, wantErr: ErrInvalid, wantReqs: 1},
		{name: "gzipped OperationOutcome", encoding: "gzip", status: 404, body: gzipped(t, []byte(operationOutcome("no such thing", ""))), wantOut: "no such thing", wantReqs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var acceptEnc atomic.Value
			rec := newRecorder(t, func(_ *recorder, w http.ResponseWriter, r *http.Request) {
				acceptEnc.Store(r.Header.Get("Accept-Encoding"))
				w.Header().Set("Content-Encoding", tt.encoding)
				w.WriteHeader(cmpOrInt(tt.status, 200))
				w.Write(tt.body)
			})
			c := newTestClient(t, rec.srv.URL, Options{MaxBodyBytes: tt.limit})
			got, err := c.Search(context.Background(), "Appointment", nil)
			switch {
			case tt.status != 0:
				var fe *Error
				if !errors.As(err, &fe) || fe.StatusCode != tt.status || fe.Outcome != tt.wantOut {
					t.Fatalf("err = %#v, want HTTP %d with outcome %q", err, tt.status, tt.wantOut)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if g, w := ids(t, got.Resources), []string{"Appointment/a1", "Appointment/a2"}; !slices.Equal(g, w) {
					t.Errorf("got %q, want %q", g, w)
				}
			}
			if g := acceptEnc.Load(); g != "gzip" {
				t.Errorf("Accept-Encoding = %v, want gzip", g)
			}
			if n := len(rec.requests()); n != tt.wantReqs {
				t.Errorf("%d requests, want %d", n, tt.wantReqs)
			}
		})
	}
}

func cmpOrInt(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

// corruptTrailer flips a bit of the CRC-32 in a gzip stream's trailer.
func corruptTrailer(b []byte) []byte {
	b = slices.Clone(b)
	b[len(b)-8] ^= 1
	return b
}

func BenchmarkSearchGzip200(b *testing.B) {
	var entries []string
	for i := range 200 {
		entries = append(entries, fmt.Sprintf(`{"resource":{"resourceType":"Appointment","id":"a%d","status":"booked","start":"2026-03-%02dT09:00:00+01:00","participant":[]}}`, i, i%28+1))
	}
	plain := []byte(`{"resourceType":"Bundle","type":"searchset","entry":[` + strings.Join(entries, ",") + `]}`)
	body := gzipped(b, plain)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(body)
	}))
	defer srv.Close()
	c := newTestClient(b, srv.URL, Options{})
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	for b.Loop() {
		res, err := c.Search(context.Background(), "Appointment", nil)
		if err != nil || len(res.Resources) != 200 {
			b.Fatalf("got %v, %v", res, err)
		}
	}
}

func TestBreakerCountsCallsNotTries(t *testing.T) {
	rec := scripted(t, reply{status: 503})
	clock := newFakeClock()
	c := newTestClient(t, rec.srv.URL, Options{MaxAttempts: 3, BreakerThreshold: 2, BreakerCooldown: time.Minute, Now: clock.Now, Sleep: clock.Sleep})
	steps := []struct {
		name      string
		advance   time.Duration
		wantState BreakerState
		wantReqs  int
	}{
		{name: "one call of three tries is one failure", wantState: BreakerClosed, wantReqs: 3},
		{name: "the second failed call opens", wantState: BreakerOpen, wantReqs: 6},
		{name: "open: nothing sent", wantState: BreakerOpen, wantReqs: 6},
		{name: "the trial is one try, not retried", advance: time.Minute, wantState: BreakerOpen, wantReqs: 7},
	}
	for _, st := range steps {
		clock.Advance(st.advance)
		if _, err := c.Search(context.Background(), "Appointment", nil); err == nil {
			t.Fatalf("%s: search succeeded", st.name)
		}
		if got := c.BreakerState(); got != st.wantState {
			t.Errorf("%s: state %v, want %v", st.name, got, st.wantState)
		}
		if got := len(rec.requests()); got != st.wantReqs {
			t.Errorf("%s: %d requests so far, want %d", st.name, got, st.wantReqs)
		}
	}
}

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "120", "-5", "Sun, 01 Mar 2026 12:00:10 GMT", "Sunday, 01-Mar-26 12:01:00 GMT", "Sun Mar  1 12:00:10 2026", "1e9", ""} {
		f.Add(s)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := retryAfter(http.Header{"Retry-After": {v}}, now)
		if d < 0 || (!ok && d != 0) {
			t.Errorf("retryAfter(%q) = %v, %v", v, d, ok)
		}
	})
}

// syncBuffer is a bytes.Buffer safe for a logger shared with servers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogsRetriesAndBreakerWithoutTheQuery(t *testing.T) {
	const cpr = "0101001234"
	var status atomic.Int64
	status.Store(503)
	rec := newRecorder(t, func(_ *recorder, w http.ResponseWriter, _ *http.Request) {
		if s := int(status.Load()); s != 200 {
			w.WriteHeader(s)
			fmt.Fprint(w, operationOutcome("nothing for "+cpr, ""))
			return
		}
		fmt.Fprint(w, searchset(""))
	})
	var logs syncBuffer
	clock := newFakeClock()
	c := newTestClient(t, rec.srv.URL, Options{BreakerThreshold: 1, BreakerCooldown: time.Second, Now: clock.Now, Sleep: clock.Sleep,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	params := url.Values{"identifier": {"urn:oid:1.2.208.176.1.2|" + cpr}}
	if _, err := c.Search(context.Background(), "Patient", params); err == nil {
		t.Fatal("want a 503")
	}
	clock.Advance(time.Second)
	status.Store(200)
	if _, err := c.Search(context.Background(), "Patient", params); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	for _, want := range []string{"fhir: retrying", "op=\"GET Patient\"", "attempt=2", "circuit breaker open", "circuit breaker closed", "fhir_server=" + rec.srv.URL} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, cpr) {
		t.Errorf("logs contain the CPR number:\n%s", out)
	}
}
