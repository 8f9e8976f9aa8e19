package web

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// RateLimits is how many requests a minute each limited route allows one
// caller. Every route has a limiter of its own, so hammering one (say the
// login) never locks anyone out of another (the look-up). Zero takes the
// default.
type RateLimits struct {
	// Login limits /auth/ (the login and the provider's callback, two
	// requests per sign-in; the logout apart) per client address: nobody
	// is signed in yet.
	Login int
	// Lookup limits finding a patient by identifier (the form and the API,
	// each its own) per signed-in principal, so colleagues behind one
	// address do not share a budget.
	Lookup int
	// FailedBearer is how many wrong bearer credentials one client address
	// may send; past it, that address's bearer requests answer 429 for the
	// rest of the minute without being checked.
	FailedBearer int
}

// Defaults of RateLimits, per minute.
const (
	DefaultLoginPerMinute        = 60
	DefaultLookupPerMinute       = 30
	DefaultFailedBearerPerMinute = 20
)

func (r RateLimits) withDefaults() RateLimits {
	if r.Login <= 0 {
		r.Login = DefaultLoginPerMinute
	}
	if r.Lookup <= 0 {
		r.Lookup = DefaultLookupPerMinute
	}
	if r.FailedBearer <= 0 {
		r.FailedBearer = DefaultFailedBearerPerMinute
	}
	return r
}

// ipExtractor tells the client's address: the connection's, or, when the
// connection comes from a trusted proxy, the nearest address in
// X-Forwarded-For that is not one of them. Nothing else is trusted
// (Echo's own default would trust every private network).
func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		p = p.Masked()
		opts = append(opts, echo.TrustIPRange(&net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// clientKey is the rate-limit key of the request's client address. An IPv6
// client is counted by its /64, which one subscriber usually holds whole.
func clientKey(c echo.Context) string {
	a, err := netip.ParseAddr(c.RealIP())
	if err != nil {
		return "addr:" + c.RealIP()
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "net:" + p.String()
	}
	return "addr:" + a.String()
}

// limitByAddress limits a route per client address.
func (s *Server) limitByAddress(perMinute int) echo.MiddlewareFunc {
	l := newRateLimiter(perMinute, time.Minute, func() time.Time { return s.now() })
	return l.middleware(clientKey)
}

// limitByPrincipal limits a route per signed-in principal; it runs after
// require, so without access control (nobody signs in) it falls back to
// the client address.
func (s *Server) limitByPrincipal(perMinute int) echo.MiddlewareFunc {
	l := newRateLimiter(perMinute, time.Minute, func() time.Time { return s.now() })
	return l.middleware(func(c echo.Context) string {
		if id, ok := identity(c); ok && id.Principal.Subject != "" {
			return "principal:" + id.Principal.Subject
		}
		return clientKey(c)
	})
}

// bearerBudget refuses, before anything is checked, a bearer credential
// from an address that sent too many wrong ones this minute.
func (s *Server) bearerBudget(c echo.Context) error {
	if c.Request().Header.Get("Authorization") == "" {
		return nil
	}
	if wait, over := s.failedBearer.exceeded(clientKey(c)); over {
		return tooManyRequests(c, wait)
	}
	return nil
}

// badBearer counts a wrong bearer credential against its address.
func (s *Server) badBearer(c echo.Context) { s.failedBearer.allow(clientKey(c)) }

func tooManyRequests(c echo.Context, wait time.Duration) error {
	c.Response().Header().Set("Retry-After", fmt.Sprint(max(1, int(wait.Round(time.Second).Seconds()))))
	return &requestError{status: http.StatusTooManyRequests, code: "too_many_requests", msg: "error.too_many"}
}

// rateLimiter allows each key a number of requests per window. Fixed
// windows keep it small; the clock is injected so tests need no sleeping.
type rateLimiter struct {
	mu     sync.Mutex
	n      int
	window time.Duration
	now    func() time.Time
	seen   map[string]*rateWindow
}

type rateWindow struct {
	start time.Time
	count int
}

func newRateLimiter(n int, window time.Duration, now func() time.Time) *rateLimiter {
	return &rateLimiter{n: n, window: window, now: now, seen: map[string]*rateWindow{}}
}

// allow counts a request of key and reports whether it is within the limit
// and, if not, how long until the window ends.
func (l *rateLimiter) allow(key string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.seen) > 10000 { // forget finished windows rather than grow without bound
		for k, w := range l.seen {
			if now.Sub(w.start) >= l.window {
				delete(l.seen, k)
			}
		}
	}
	w, ok := l.seen[key]
	if !ok || now.Sub(w.start) >= l.window {
		l.seen[key] = &rateWindow{start: now, count: 1}
		return 0, true
	}
	if w.count >= l.n {
		return w.start.Add(l.window).Sub(now), false
	}
	w.count++
	return 0, true
}

// exceeded reports, without counting, whether key has used up its window.
func (l *rateLimiter) exceeded(key string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w, ok := l.seen[key]
	if !ok || now.Sub(w.start) >= l.window || w.count < l.n {
		return 0, false
	}
	return w.start.Add(l.window).Sub(now), true
}

func (l *rateLimiter) middleware(key func(echo.Context) string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if wait, ok := l.allow(key(c)); !ok {
				return tooManyRequests(c, wait)
			}
			return next(c)
		}
	}
}
