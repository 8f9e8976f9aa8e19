// Package web serves a patient's merged timeline: HTML pages that work without
// JavaScript, in Danish and English, and a JSON API. It maps errors to HTTP
// status itself, since Echo's default handler does not unwrap them.
package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"path"
	"runtime/debug"
	"strconv"
	"sync"
	"time"
	_ "time/tzdata" // the default display zone must load on machines without zoneinfo

	"github.com/labstack/echo/v4"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/view"
)

//go:embed templates/*.html templates/parts/*.html static/*
var files embed.FS

// Views is the one read of patient data web makes: every route that shows
// any goes through it (*view.Viewer), which decides, audits and filters.
type Views interface {
	Open(ctx context.Context, r view.Request) (*view.View, error)
	Lookup(ctx context.Context, p access.Principal, id aggregator.Identifier, reason string) (aggregator.PatientRef, error)
	Worklist(ctx context.Context, p access.Principal, from, to string) ([]*view.View, error)
}

// Patients turns an identifier into its handle without registering it: the
// grant form names a relative by identifier. *aggregator.Patients is one.
type Patients interface {
	Handle(id aggregator.Identifier) string
}

// DemoPatient is a made-up patient listed on the front page in demo mode.
type DemoPatient struct {
	Handle, Name string
}

// Config is what the operator sets.
type Config struct {
	Location *time.Location // display zone; Europe/Copenhagen when nil
	Demo     []DemoPatient  // non-empty only in demo mode: GET / lists them
	// DefaultIdentifierSystem is used when a lookup gives a bare value without "system|".
	DefaultIdentifierSystem string
	// NoAccessControl shows a notice in every page footer that anyone who
	// reaches the server sees every timeline (a server without Auth).
	NoAccessControl bool
	// LoginPath is where a page sends someone not logged in.
	LoginPath string
	// TLS says the server is reached over HTTPS (directly or behind a
	// proxy): it then sends HSTS.
	TLS bool
	// RateLimits is how many requests a minute each limited route allows
	// one caller (ratelimit.go); zero values take the defaults.
	RateLimits RateLimits
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client; from anywhere else the connection's address counts.
	TrustedProxies []netip.Prefix
	// PublicURL is where people reach the server (https://overblik.example.dk):
	// calendar feed addresses are made under it. Empty offers no feeds.
	PublicURL string
	// Site is who runs overblik, for the accessibility statement and the
	// privacy page every footer links to (site.go).
	Site Site
}

// Deps are what the web layer is built on; cmd wires them.
type Deps struct {
	// Views reads patient data (required).
	Views Views
	// Patients names a relative's handle on the grant form.
	Patients Patients
	// Auth turns access control on (Access must then be set too): every
	// route names the roles that may use it, patient data goes out only
	// through Views, and forms carry CSRF tokens. Without it the server is
	// the loopback-only demo of before.
	Auth Authenticator
	// Access keeps grants, blocks and the audit log the account pages show.
	Access AccessControl
	// AuthRoutes serves the login, the provider's callback and the logout
	// under /auth/.
	AuthRoutes http.Handler
	Ready      func(ctx context.Context) error // for /readyz; nil = always ready
	// Outages, in demo mode only, offers switches to take simulated sources down.
	Outages Outages
	// Changes, in demo mode only, offers switches that move, cancel and add
	// appointments at the simulated sources (demo.go).
	Changes DemoChanges
	// Sources tells each source's own state, for the admin page (admin.go);
	// nil leaves it empty.
	Sources SourceStates
	// Metrics, when set, is served at /metrics to admins.
	Metrics http.Handler
	// Checks, when set, lets an admin run every source's configuration
	// checks from the admin page.
	Checks func(ctx context.Context) []SourceCheck
	// Messages, when set, takes FHIR messages pushed to POST
	// /fhir/$process-message (MedCom HospitalNotifications), see inbound.go.
	Messages MessageReceiver
	// Notices, when set, keeps notice preferences (/account) and lists the
	// notices given up on (/admin): notify.go.
	Notices Notices
	// Marks, when set, keeps the conflicts clinicians mark handled on the
	// worklist (worklist.go).
	Marks ConflictMarks
	// Mailbox, in demo mode without an SMTP server, holds the notices
	// sent, shown at /demo/mail.
	Mailbox DemoMailbox
	Logger  *slog.Logger
}

const (
	defaultZone  = "Europe/Copenhagen"
	langCookie   = "lang"
	bodyLimit    = 64 << 10
	cssFile      = "overblik.css"
	ctxLangKey   = "overblik.lang"
	staticMaxAge = "public, max-age=86400"
	// csp allows no inline style or script: the pages need neither.
	csp = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

// ErrDegraded, wrapped by Config.Ready, means the server works with less
// (e.g. its shared cache is down): /readyz answers 200 "degraded", so the
// replica stays in rotation, rather than 503.
var ErrDegraded = errors.New("degraded")

// Server is the HTTP front of overblik.
type Server struct {
	cfg    Config
	deps   Deps
	log    *slog.Logger
	loc    *time.Location
	now    func() time.Time // replaced in tests
	e      *echo.Echo
	neg    negotiator
	tr     map[string]*translator
	pages  map[string]map[string]*template.Template // lang -> page -> template
	static map[string]staticFile
	css    string // stylesheet URL, versioned by content so it can be cached long
	bufs   sync.Pool
	// renders keeps timeline JSON rendered per build: 64 MiB holds about
	// two thousand 30 KB timelines.
	renders *renderCache
	// failedBearer counts wrong bearer credentials per client address.
	failedBearer *rateLimiter
	feedsSeen    feedsSeen    // calendar.go
	passes       lookupPasses // a clinician's look-up reason, per session and patient (lookuppass.go)
}

type staticFile struct {
	body    []byte
	ctype   string
	version string // content hash
	etag    string
}

// New builds the server and its routes. It panics if the embedded templates
// do not parse, which the package tests rule out, or without Views.
func New(cfg Config, deps Deps) *Server {
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if deps.Views == nil {
		panic("web: Deps.Views is required")
	}
	loc := cfg.Location
	if loc == nil {
		l, err := time.LoadLocation(defaultZone)
		if err != nil {
			log.Warn("display zone not available, using UTC", "zone", defaultZone, "err", err)
			l = time.UTC
		}
		loc = l
	}
	if deps.Auth != nil && (deps.Access == nil || deps.Patients == nil) {
		panic("web: Deps.Auth needs Deps.Access and Deps.Patients")
	}
	s := &Server{
		cfg:     cfg,
		deps:    deps,
		log:     log,
		loc:     loc,
		now:     time.Now,
		neg:     newNegotiator(),
		tr:      map[string]*translator{},
		bufs:    sync.Pool{New: func() any { return new(bytes.Buffer) }},
		renders: newRenderCache(64 << 20),
	}
	for l, msgs := range newCatalog() {
		s.tr[l] = &translator{lang: l, msgs: msgs, loc: loc}
	}
	s.static = loadStatic()
	s.css = "/static/" + cssFile + "?v=" + s.static[cssFile].version
	s.pages = parsePages(s.tr)
	s.cfg.RateLimits = cfg.RateLimits.withDefaults()
	s.failedBearer = newRateLimiter(s.cfg.RateLimits.FailedBearer, time.Minute, func() time.Time { return s.now() })
	s.e = s.routes()
	return s
}

// Handler returns the *echo.Echo serving every route.
func (s *Server) Handler() http.Handler { return s.e }

func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = ipExtractor(s.cfg.TrustedProxies)
	e.Use(s.recoverPanic, s.headers, s.language, s.identify)

	// Who may use each route is stated here, route by route (see
	// authz.go); without Config.Auth every check lets everything through.
	limit, csrf := limitBody, s.checkCSRF
	rl := s.cfg.RateLimits // each route gets a limiter of its own (ratelimit.go)
	anyone, patient := s.require(), s.require(access.RolePatient)
	clinician, admin := s.require(access.RoleClinician), s.require(access.RoleAdmin)
	viewers := s.require(access.RolePatient, access.RoleRelative, access.RoleClinician)

	e.GET("/", s.home)
	// Anyone may read these, signed in or not (site.go); /was is the
	// short address Danish public sites give their accessibility statement.
	e.GET(accessibilityPath, s.accessibilityPage)
	e.GET(privacyPath, s.privacyPage)
	e.GET("/was", func(c echo.Context) error { return c.Redirect(http.StatusFound, accessibilityPath) })
	e.POST("/lookup", s.lookupForm, limit, clinician, s.limitByPrincipal(rl.Lookup), csrf)
	e.GET("/p/:handle", s.timelinePage, viewers)
	e.GET("/static/:name", s.serveStatic)
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)

	api := e.Group("/api/v1")
	api.GET("/patients", s.apiPatients, anyone)
	api.POST("/patients/lookup", s.apiLookup, limit, viewers, s.limitByPrincipal(rl.Lookup), csrf)
	api.GET("/patients/:handle/timeline", s.apiTimeline, viewers)
	api.GET("/patients/:handle/changes", s.apiChanges, viewers)
	api.GET("/patients/:handle/conflicts", s.apiConflicts, viewers)

	clin := e.Group(clinicianPrefix)
	clin.GET("/p/:handle", s.clinicianPage, clinician)
	clin.POST("/p/:handle", s.clinicianPage, limit, clinician, csrf)
	clin.GET("/conflicts", s.worklist, clinician)
	clin.POST("/conflicts/handled", s.markHandledForm, limit, clinician, csrf) // worklist.go
	if s.deps.Outages != nil {
		e.POST("/demo/sources/:name", s.demoOutageForm, limit, anyone, csrf)
		api.POST("/demo/sources/:name", s.apiDemoOutage, limit, anyone, csrf)
	}
	if s.deps.Changes != nil {
		e.POST("/demo/change", s.demoChangeForm, limit, anyone, csrf)
		api.POST("/demo/change", s.apiDemoChange, limit, anyone, csrf)
	}
	s.calendarRoutes(e, api) // calendar.go
	if s.secured() {
		e.GET("/account", s.accountPage, patient)
		e.POST("/account/grants", s.grantForm, limit, patient, csrf)
		e.POST("/account/grants/:id/revoke", s.revokeForm, limit, patient, csrf)
		e.POST("/account/block", s.blockForm, limit, patient, csrf)
		e.GET("/account/log", s.auditLogPage, patient)
		e.GET("/admin", s.adminPage, admin)
		e.POST("/admin/checks", s.adminPage, limit, admin, csrf)
		if s.deps.Notices != nil {
			e.POST("/account/notices", s.noticesForm, limit, patient, csrf) // notify.go
		}
	}
	if s.deps.Mailbox != nil {
		e.GET("/demo/mail", s.demoMail, anyone)
	}
	if s.deps.AuthRoutes != nil {
		h := echo.WrapHandler(s.deps.AuthRoutes)
		e.GET("/auth/*", h, s.limitByAddress(rl.Login))
		e.POST("/auth/*", h, limit, s.limitByAddress(rl.Login))
	}
	if s.deps.Metrics != nil {
		e.GET("/metrics", echo.WrapHandler(s.deps.Metrics), admin)
	}
	if s.deps.Messages != nil {
		e.POST("/fhir/$process-message", s.processMessage)
	}
	return e
}

// headers sets the security headers before the handler runs, so error pages
// carry them too. Pages hold health data: nothing is cached unless a handler
// says otherwise.
func (s *Server) headers(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", csp)
		h.Set("Cache-Control", "no-store")
		if s.cfg.TLS || c.IsTLS() {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		return next(c)
	}
}

// limitBody caps request bodies; reading past the cap fails with an
// *http.MaxBytesError, which classify maps to 413.
func limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.ContentLength > bodyLimit {
			return echo.ErrStatusRequestEntityTooLarge
		}
		r.Body = http.MaxBytesReader(c.Response(), r.Body, bodyLimit)
		return next(c)
	}
}

// language negotiates the request's language once and remembers an explicit
// ?lang= choice in a cookie.
func (s *Server) language(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		l, fromQuery := s.neg.lang(c.Request())
		if fromQuery {
			c.SetCookie(&http.Cookie{
				Name:     langCookie,
				Value:    l,
				Path:     "/",
				MaxAge:   365 * 24 * 3600,
				HttpOnly: true,
				Secure:   c.IsTLS(),
				SameSite: http.SameSiteLaxMode,
			})
		}
		c.Set(ctxLangKey, l)
		return next(c)
	}
}

// recoverPanic turns a panic into an error for handleError, so a bug costs one
// request and is logged once, with its stack.
func (s *Server) recoverPanic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.log.Error("panic in handler", "route", c.Path(), "handle", c.Param("handle"),
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", r)
		}()
		return next(c)
	}
}

// translatorFor returns the request's translator; Danish when the language
// middleware did not run (e.g. an error before routing).
func (s *Server) translatorFor(c echo.Context) *translator {
	if l, ok := c.Get(ctxLangKey).(string); ok {
		if t, ok := s.tr[l]; ok {
			return t
		}
	}
	l, _ := s.neg.lang(c.Request())
	return s.tr[l]
}

func (s *Server) healthz(c echo.Context) error {
	return writeBytes(c, http.StatusOK, echo.MIMETextPlainCharsetUTF8, []byte("ok\n"))
}

func (s *Server) readyz(c echo.Context) error {
	if s.deps.Ready != nil {
		err := s.deps.Ready(c.Request().Context())
		switch {
		case errors.Is(err, ErrDegraded):
			// Serving, with less: keep the replica in rotation and say so.
			return writeBytes(c, http.StatusOK, echo.MIMETextPlainCharsetUTF8, []byte("degraded\n"))
		case err != nil:
			s.log.Warn("not ready", "err", err)
			return writeBytes(c, http.StatusServiceUnavailable, echo.MIMETextPlainCharsetUTF8, []byte("not ready\n"))
		}
	}
	return writeBytes(c, http.StatusOK, echo.MIMETextPlainCharsetUTF8, []byte("ready\n"))
}

func (s *Server) serveStatic(c echo.Context) error {
	f, ok := s.static[c.Param("name")]
	if !ok {
		return echo.ErrNotFound
	}
	h := c.Response().Header()
	h.Set("Cache-Control", staticMaxAge)
	h.Set("ETag", f.etag)
	if c.Request().Header.Get("If-None-Match") == f.etag {
		return c.NoContent(http.StatusNotModified)
	}
	return writeBytes(c, http.StatusOK, f.ctype, f.body)
}

// writeBytes sends b with its Content-Length, which spares Echo's chunked encoding.
func writeBytes(c echo.Context, status int, ctype string, b []byte) error {
	c.Response().Header().Set(echo.HeaderContentLength, strconv.Itoa(len(b)))
	return c.Blob(status, ctype, b)
}

// loadStatic reads the embedded static files once; they never change at run time.
func loadStatic() map[string]staticFile {
	out := map[string]staticFile{}
	entries, err := fs.ReadDir(files, "static")
	if err != nil {
		panic(fmt.Errorf("web: read embedded static files: %w", err))
	}
	for _, de := range entries {
		if de.IsDir() {
			continue
		}
		b, err := fs.ReadFile(files, "static/"+de.Name())
		if err != nil {
			panic(fmt.Errorf("web: read embedded %s: %w", de.Name(), err))
		}
		sum := sha256.Sum256(b)
		ctype := mime.TypeByExtension(path.Ext(de.Name()))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		v := hex.EncodeToString(sum[:8])
		out[de.Name()] = staticFile{body: b, ctype: ctype, version: v, etag: `"` + v + `"`}
	}
	return out
}
