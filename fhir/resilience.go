package fhir

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of the resilience options.
const (
	DefaultMaxAttempts        = 3
	DefaultBackoffBase        = 200 * time.Millisecond
	DefaultBackoffMax         = 2 * time.Second
	DefaultMaxRetryAfter      = 5 * time.Second
	DefaultRetryBudget        = 8 * time.Second
	DefaultBreakerThreshold   = 5
	DefaultBreakerCooldown    = 2 * time.Second
	DefaultBreakerCooldownMax = 8 * time.Second
	DefaultMaxConcurrent      = 8
)

// ErrCircuitOpen: the client's circuit breaker is open because the server
// failed repeatedly; no request was sent. Callers treat it as "unavailable".
// The error returned is a *CircuitOpenError, which says when to try again.
var ErrCircuitOpen = errors.New("circuit breaker open: the server failed repeatedly, not asking it until the cool-down ends")

// CircuitOpenError is ErrCircuitOpen with the rest of the cool-down: a
// request after Wait is the trial that may close the breaker again. Wait is
// 0 when a trial is under way already.
type CircuitOpenError struct {
	Wait time.Duration
}

func (e *CircuitOpenError) Error() string { return ErrCircuitOpen.Error() }

func (e *CircuitOpenError) Is(target error) bool { return target == ErrCircuitOpen }

// BreakerState is the state of a client's circuit breaker.
type BreakerState int

const (
	BreakerClosed   BreakerState = iota // requests flow
	BreakerOpen                         // requests fail at once with ErrCircuitOpen
	BreakerHalfOpen                     // the cool-down is over: the next request is the one trial
)

func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return "BreakerState(" + strconv.Itoa(int(s)) + ")"
}

// outcome is what one try says about the server's health.
type outcome int

const (
	healthy   outcome = iota // it answered (even 404 or garbage: it is up)
	unhealthy                // 5xx, 429, network error, deadline
	neutral                  // says nothing about the server (caller cancelled, credentials refused)
)

// breaker is a consecutive-failures circuit breaker. A nil *breaker lets
// everything through. Its cool-down starts at cooldown and doubles with
// each failed trial up to maxCooldown: a server that is down long is asked
// less often, one back after a short failure is noticed within seconds.
type breaker struct {
	threshold   int
	cooldown    time.Duration
	maxCooldown time.Duration
	now         func() time.Time
	// changed is told when the breaker opens or closes again; called
	// without the lock held.
	changed func(open bool)

	mu       sync.Mutex
	state    BreakerState // closed, open or half-open (a trial is granted)
	failures int          // consecutive, while closed
	openedAt time.Time
	wait     time.Duration // the cool-down since openedAt
}

// allow asks to send one try. trial reports that it is the half-open trial,
// whose outcome decides the state; record must follow with it.
func (b *breaker) allow() (trial bool, err error) {
	if b == nil {
		return false, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerClosed:
		return false, nil
	case BreakerOpen:
		left := b.wait - b.now().Sub(b.openedAt)
		if left <= 0 {
			b.state = BreakerHalfOpen
			return true, nil
		}
		return false, &CircuitOpenError{Wait: left}
	}
	return false, &CircuitOpenError{} // half-open with the trial in flight
}

func (b *breaker) record(trial bool, o outcome) {
	if b == nil {
		return
	}
	b.mu.Lock()
	was := b.state
	b.update(trial, o)
	now := b.state
	b.mu.Unlock()
	if b.changed != nil && was != now && (now == BreakerClosed || was == BreakerClosed) {
		b.changed(now != BreakerClosed)
	}
}

func (b *breaker) update(trial bool, o outcome) {
	if trial {
		switch o {
		case healthy:
			b.state, b.failures = BreakerClosed, 0
		case unhealthy:
			b.state, b.openedAt = BreakerOpen, b.now()
			b.wait = min(2*b.wait, max(b.maxCooldown, b.cooldown))
		case neutral:
			// Back to open with the cool-down already over: the next try is a trial.
			b.state = BreakerOpen
		}
		return
	}
	if b.state != BreakerClosed {
		return // a try sent before the breaker opened; the trial decides
	}
	switch o {
	case healthy:
		b.failures = 0
	case unhealthy:
		b.failures++
		if b.failures >= b.threshold {
			b.state, b.openedAt, b.wait = BreakerOpen, b.now(), b.cooldown
		}
	}
}

func (b *breaker) State() BreakerState {
	if b == nil {
		return BreakerClosed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == BreakerOpen && b.now().Sub(b.openedAt) >= b.wait {
		return BreakerHalfOpen
	}
	return b.state
}

// retryableStatus: answers that may well differ a moment later. 501 and 505
// are 5xx but permanent.
func retryableStatus(code int) bool {
	return code == http.StatusTooManyRequests ||
		code >= 500 && code <= 599 && code != http.StatusNotImplemented && code != http.StatusHTTPVersionNotSupported
}

// classifyTransport says whether an error from sending a request or reading
// its body is worth another try, and what it says about the server.
func classifyTransport(ctx context.Context, err error) (retry bool, o outcome) {
	var (
		unknownCA *x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
	)
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return false, neutral // the caller left
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
		return false, unhealthy // too slow for the caller's deadline
	case errors.Is(err, ErrAuth):
		return false, neutral
	case errors.Is(err, ErrInvalid):
		return false, healthy // e.g. a refused redirect: it answered
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &verify):
		return false, unhealthy // configuration: another try cannot help
	}
	return true, unhealthy
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP-date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > int64(24*time.Hour/time.Second) {
			n = int64(24 * time.Hour / time.Second) // no overflow; far beyond any cap anyway
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// backoff is the full-jitter wait before retry number n (1-based): uniform
// in [0, min(max, base*2^(n-1))).
func backoff(n int, base, ceiling time.Duration, rnd func() float64) time.Duration {
	d := base
	for i := 1; i < n && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	return time.Duration(rnd() * float64(d))
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// semaphore bounds concurrent requests; a nil one is unlimited.
type semaphore chan struct{}

func (s semaphore) acquire(ctx context.Context) error {
	if s == nil {
		return nil
	}
	select {
	case s <- struct{}{}:
		return nil
	default:
	}
	select {
	case s <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s semaphore) release() {
	if s != nil {
		<-s
	}
}

// defaultRand is math/rand/v2's goroutine-safe source: jitter needs no
// cryptographic quality.
func defaultRand() float64 { return rand.Float64() }
