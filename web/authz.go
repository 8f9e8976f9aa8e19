package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/aggregator"
)

// Identity is who sent a request, as an Authenticator established it.
type Identity struct {
	Principal access.Principal
	// CSRF is the session's form token, which every state-changing form
	// must carry; empty for a bearer token, which a browser never sends by
	// itself.
	CSRF string
	// Session is true for a browser session cookie, false for a bearer
	// token or API key.
	Session bool
}

// Authenticator tells who sent a request: from a session cookie, a bearer
// access token or an API key. The auth package implements it.
type Authenticator interface {
	// Identify returns ok=false when the request carries no credentials or
	// an ended session; an error wrapping ErrBadCredentials for a bearer
	// credential that is wrong or expired (401).
	Identify(ctx context.Context, r *http.Request) (id Identity, ok bool, err error)
}

// ErrBadCredentials is a presented credential that is not accepted.
var ErrBadCredentials = errors.New("bad credentials")

// AccessControl is what web asks before it sends patient data or changes
// who may see it; *access.Service implements it.
type AccessControl interface {
	Authorize(ctx context.Context, p access.Principal, patient string, a access.Action, reason string) (access.Decision, error)
	Grant(ctx context.Context, p access.Principal, r access.GrantRequest) (access.Delegation, error)
	Revoke(ctx context.Context, p access.Principal, id string) error
	Grants(ctx context.Context, p access.Principal) ([]access.Delegation, error)
	Received(ctx context.Context, p access.Principal) ([]access.Delegation, error)
	SetBlock(ctx context.Context, p access.Principal, blocked bool) error
	Block(ctx context.Context, p access.Principal) (access.Block, error)
	AuditLog(ctx context.Context, p access.Principal, cursor string, limit int) (access.AuditPage, error)
}

const (
	ctxIdentityKey = "overblik.identity"
	csrfField      = "csrf"
	// ReasonHeader carries a clinician's reason on API reads, so it never
	// sits in a URL (and so in access logs).
	ReasonHeader = "Overblik-Reason"
)

// secured reports whether the server runs with access control.
func (s *Server) secured() bool { return s.cfg.Auth != nil }

// identify runs the Authenticator once per request and keeps the identity.
// It never refuses: routes say which roles they need with require.
func (s *Server) identify(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !s.secured() {
			return next(c)
		}
		id, ok, err := s.cfg.Auth.Identify(c.Request().Context(), c.Request())
		if errors.Is(err, ErrBadCredentials) {
			return errUnauthorized(err)
		}
		if err != nil {
			return fmt.Errorf("identify: %w", err)
		}
		if ok {
			c.Set(ctxIdentityKey, id)
		}
		return next(c)
	}
}

// identity is the request's caller; ok=false when nobody is logged in.
func identity(c echo.Context) (Identity, bool) {
	id, ok := c.Get(ctxIdentityKey).(Identity)
	return id, ok
}

// require lets a request through when its caller holds one of roles (any
// role when none are given). Nobody logged in: pages go to the login, the
// API answers 401. A caller without the role gets 404, as for a page that
// does not exist. Without access control configured it lets everything
// through: the loopback-only demo of before.
func (s *Server) require(roles ...access.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !s.secured() {
				return next(c)
			}
			id, ok := identity(c)
			if !ok {
				if isAPI(c) || c.Request().Method != http.MethodGet {
					return errUnauthorized(nil)
				}
				return c.Redirect(http.StatusSeeOther, s.loginHref(c.Request().URL.EscapedPath()))
			}
			if id.Principal.Has(access.RoleSource) {
				// A system that pushes data to us may post it (inbound.go), nothing else.
				return errNotFound(errors.New("a source's credentials open no page"))
			}
			if len(roles) == 0 {
				return next(c)
			}
			for _, r := range roles {
				if id.Principal.Has(r) {
					return next(c)
				}
			}
			return errNotFound(fmt.Errorf("route needs one of %v", roles))
		}
	}
}

// loginHref is the login with where to come back to (a path: never a
// handle-less identifier, and never another site).
func (s *Server) loginHref(back string) string {
	if s.cfg.LoginPath == "" {
		return "/"
	}
	return s.cfg.LoginPath + "?next=" + url.QueryEscape(back)
}

func isAPI(c echo.Context) bool { return strings.HasPrefix(c.Request().URL.Path, "/api/") }

// checkCSRF guards state-changing requests made with a session cookie: a
// form must carry the session's token, and an API call must be JSON, which a
// page on another site cannot send without the browser asking us first.
// Bearer callers send no cookies, so there is nothing to forge.
func (s *Server) checkCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, ok := identity(c)
		if !ok || !id.Session {
			return next(c)
		}
		r := c.Request()
		if isAPI(c) {
			mt, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
			if mt != echo.MIMEApplicationJSON {
				return errForbidden(errors.New("session API call without a JSON body"))
			}
			return next(c)
		}
		if err := r.ParseForm(); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return fmt.Errorf("parse form: %w", err)
			}
			return errBadRequest("error.bad_request", fmt.Errorf("parse form: %w", err))
		}
		got := r.PostForm.Get(csrfField)
		if id.CSRF == "" || subtle.ConstantTimeCompare([]byte(got), []byte(id.CSRF)) != 1 {
			return errForbidden(errors.New("missing or wrong CSRF token"))
		}
		return next(c)
	}
}

func errUnauthorized(cause error) error {
	return &requestError{status: http.StatusUnauthorized, code: "unauthorized", msg: "error.unauthorized", err: cause}
}

func errForbidden(cause error) error {
	return &requestError{status: http.StatusForbidden, code: "forbidden", msg: "error.forbidden", err: cause}
}

// accessError maps a refusal from access: not visible is the 404 of an
// unknown patient, so it tells nothing; a missing reason or bad input is
// 400; anything else (the store failing) stays a 5xx and nothing is sent.
func accessError(err error) error {
	switch {
	case errors.Is(err, access.ErrNotVisible):
		return &requestError{status: http.StatusNotFound, code: "not_found", msg: "error.unknown_patient", err: err}
	case errors.Is(err, access.ErrReasonRequired):
		return errBadRequest("error.reason_required", err)
	case errors.Is(err, access.ErrInvalid):
		return errBadRequest("error.bad_request", err)
	}
	return fmt.Errorf("access: %w", err)
}

// authorize asks access whether the caller may do a on patient's data; the
// audit row is written before it answers. Without access control it allows
// everything, restricted entries included.
func (s *Server) authorize(c echo.Context, patient string, a access.Action, reason string) (access.Decision, error) {
	if !s.secured() {
		return access.Decision{Restricted: true}, nil
	}
	id, ok := identity(c)
	if !ok {
		return access.Decision{}, errUnauthorized(nil)
	}
	d, err := s.cfg.Access.Authorize(c.Request().Context(), id.Principal, patient, a, reason)
	if err != nil {
		return access.Decision{}, accessError(err)
	}
	return d, nil
}

// authorizedTimeline resolves handle, authorizes a view and only then reads
// and filters the timeline.
func (s *Server) authorizedTimeline(c echo.Context, handle, reason string) (aggregator.PatientRef, *aggregator.Timeline, error) {
	p, tl, _, err := s.authorizedDecision(c, handle, reason)
	return p, tl, err
}

// authorizedDecision is authorizedTimeline with the access decision, for
// what is derived from the timeline (its changes, its rendered bytes) and
// must respect whether the viewer sees restricted entries too.
func (s *Server) authorizedDecision(c echo.Context, handle, reason string) (aggregator.PatientRef, *aggregator.Timeline, access.Decision, error) {
	var d access.Decision
	ctx := c.Request().Context()
	p, ok, err := s.pats.Resolve(ctx, handle)
	if err != nil {
		return p, nil, d, fmt.Errorf("resolve patient: %w", err)
	}
	if !ok {
		return p, nil, d, errUnknownPatient()
	}
	d, err = s.authorize(c, p.Handle, access.ActionView, reason)
	if err != nil {
		return p, nil, d, err
	}
	tl, err := s.tl.Timeline(ctx, p)
	if err != nil {
		return p, nil, d, fmt.Errorf("timeline: %w", err)
	}
	if tl == nil {
		tl = &aggregator.Timeline{Patient: p.Handle}
	}
	if s.secured() {
		tl = access.Filter(tl, d)
	}
	return p, tl, d, nil
}

// rateLimiter allows each client address a number of requests per window
// on the routes it guards (login, look-ups), so nobody can walk through
// identifiers or hammer the provider. Fixed windows keep it small; the
// clock is injected so tests need no sleeping.
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

func (l *rateLimiter) allow(key string) bool {
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
		return true
	}
	if w.count >= l.n {
		return false
	}
	w.count++
	return true
}

func (l *rateLimiter) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		host, _, err := net.SplitHostPort(c.Request().RemoteAddr)
		if err != nil {
			host = c.Request().RemoteAddr
		}
		if !l.allow(host) {
			c.Response().Header().Set("Retry-After", fmt.Sprint(int(l.window.Seconds())))
			return &requestError{status: http.StatusTooManyRequests, code: "too_many_requests", msg: "error.too_many"}
		}
		return next(c)
	}
}
