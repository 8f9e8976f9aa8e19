package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/view"
)

// Identity is who sent a request, as an Authenticator established it.
type Identity = access.Identity

// Authenticator tells who sent a request: from a session cookie, a bearer
// access token or an API key. The auth package implements it.
type Authenticator interface {
	// Identify returns ok=false when the request carries no credentials or
	// an ended session; an error wrapping ErrBadCredentials for a bearer
	// credential that is wrong or expired (401).
	Identify(ctx context.Context, r *http.Request) (id Identity, ok bool, err error)
}

// ErrBadCredentials is a presented credential that is not accepted.
var ErrBadCredentials = access.ErrBadCredentials

// AccessControl keeps who may see a patient's data, for the account pages:
// grants, blocks and the audit log; *access.Service implements it. Reading
// patient data goes through Views.
type AccessControl interface {
	Grant(ctx context.Context, p access.Principal, r access.GrantRequest) (access.Delegation, error)
	Revoke(ctx context.Context, p access.Principal, id string) error
	Grants(ctx context.Context, p access.Principal) ([]access.Delegation, error)
	Received(ctx context.Context, p access.Principal) ([]access.Delegation, error)
	SharesRestricted(ctx context.Context, p access.Principal) (bool, error)
	SetBlock(ctx context.Context, p access.Principal, blocked bool) error
	Block(ctx context.Context, p access.Principal) (access.Block, error)
	AuditLog(ctx context.Context, p access.Principal, cursor string, limit int) (access.AuditPage, error)
	AuditLogWithoutOwnReads(ctx context.Context, p access.Principal, cursor string, limit int) (access.AuditPage, error)
	CalendarFeeds // calendar.go
}

const (
	ctxIdentityKey = "overblik.identity"
	csrfField      = "csrf"
	// ReasonHeader carries a clinician's reason on API reads, so it never
	// sits in a URL (and so in access logs).
	ReasonHeader = "Overblik-Reason"
)

// secured reports whether the server runs with access control.
func (s *Server) secured() bool { return s.deps.Auth != nil }

// identify runs the Authenticator once per request and keeps the identity.
// It never refuses: routes say which roles they need with require.
func (s *Server) identify(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !s.secured() {
			return next(c)
		}
		if err := s.bearerBudget(c); err != nil { // ratelimit.go
			return err
		}
		id, ok, err := s.deps.Auth.Identify(c.Request().Context(), c.Request())
		if errors.Is(err, ErrBadCredentials) {
			s.badBearer(c)
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

// principal is who asks; the zero Principal without access control.
func (s *Server) principal(c echo.Context) (access.Principal, error) {
	if !s.secured() {
		return access.Principal{}, nil
	}
	id, ok := identity(c)
	if !ok {
		return access.Principal{}, errUnauthorized(nil)
	}
	return id.Principal, nil
}

// open is the one way a handler reads a patient's data: Views decides,
// audits and filters; its refusals become 404 or 400 here.
func (s *Server) open(c echo.Context, r view.Request) (*view.View, error) {
	p, err := s.principal(c)
	if err != nil {
		return nil, err
	}
	r.Principal = p
	v, err := s.deps.Views.Open(c.Request().Context(), r)
	if err != nil {
		return nil, accessError(err)
	}
	return v, nil
}
