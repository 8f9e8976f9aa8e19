package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
	"github.com/overblik/overblik/aggregator/rediscache"
	"github.com/overblik/overblik/config"
	"github.com/overblik/overblik/fhir"
	"github.com/overblik/overblik/metrics"
	"github.com/overblik/overblik/notify"
	"github.com/overblik/overblik/sources"
	"github.com/overblik/overblik/sources/fhirsource"
	"github.com/overblik/overblik/sources/ical"
	"github.com/overblik/overblik/sources/medcom"
	"github.com/overblik/overblik/view"
	"github.com/overblik/overblik/web"
)

// connectors are the kinds of source, each a connector's folder under
// sources/ with its Kind, its Config (the source's own keys, tagged yaml,
// with DefaultConfig and Check) and Open. Adding a connector is its folder
// and one line here. The medcom sources read back what hospitals posted
// to the inbox (nil in `overblik check`, and to read a configuration).
func connectors(inbox *medcom.Store) []connector {
	return []connector{
		connect(fhirsource.Kind, fhirsource.DefaultConfig, fhirsource.Open),
		connect(ical.Kind, ical.DefaultConfig, ical.Open),
		connect(medcom.Kind, medcom.DefaultConfig, inbox.Source),
	}
}

// connector is one line of the table: a kind, a fresh section of its keys,
// and how to open a source from one.
type connector struct {
	kind    string
	section func() config.Section
	open    func(config.Section, sources.Settings) (aggregator.Source, error)
}

// connect is the table's line for a connector's Kind, DefaultConfig and
// Open: *C is the section the configuration decodes a source's own keys
// into, and Open gets it back.
func connect[C any, PC interface {
	*C
	config.Section
}, S aggregator.Source](kind string, defaults func() C, open func(C, sources.Settings) (S, error)) connector {
	return connector{
		kind:    kind,
		section: func() config.Section { c := defaults(); return PC(&c) },
		open: func(sec config.Section, s sources.Settings) (aggregator.Source, error) {
			c, ok := sec.(PC)
			if !ok || c == nil {
				return nil, fmt.Errorf("kind %s: the section is a %T", kind, sec)
			}
			src, err := open(*c, s)
			if err != nil {
				return nil, err
			}
			return src, nil
		},
	}
}

// sourceKinds are the kinds a configuration may name, for config.
func sourceKinds() []config.Kind {
	var out []config.Kind
	for _, c := range connectors(nil) {
		out = append(out, config.Kind{Name: c.kind, Section: c.section})
	}
	return out
}

// openSource opens the configured source sc with its connector in table.
func openSource(table []connector, sc config.Source, cfg *config.Config, log *slog.Logger, now func() time.Time) (aggregator.Source, error) {
	i := slices.IndexFunc(table, func(c connector) bool { return c.kind == sc.Kind })
	if i < 0 {
		return nil, fmt.Errorf("no connector for kind %q", sc.Kind)
	}
	sector, _ := aggregator.ParseSector(sc.Sector) // validated
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return table[i].open(sc.Section, sources.Settings{
		Name: sc.Name, Sector: sector, Generic: sc.Detail == "generic", MaxBytes: sc.MaxBytes,
		Location: cfg.Location, IdentifierSystem: cfg.PatientIdentifierSystem, Logger: log.With("source", sc.Name), Now: now,
	})
}

// app is the wired product: sources, aggregator, patients, web.
type app struct {
	svc       *aggregator.Service
	patients  *aggregator.Patients
	handler   http.Handler
	refresher *aggregator.Refresher
	rdb       redis.UniversalClient // the process's one Redis client, when redis_url is set
	notifier  *notify.Notifier      // notices (notify.go); nil: none
	metrics   http.Handler          // /metrics: on metrics_listen (serve), and to admins on the web server
	closers   []func() error        // in the order to call them
	// The goroutines that live as long as the app (the access change feed),
	// stopped first by Close.
	stopBG context.CancelFunc
	bgCtx  context.Context
	bg     sync.WaitGroup
}

// background runs f until Close.
func (a *app) background(f func(ctx context.Context)) {
	if a.stopBG == nil {
		ctx, cancel := context.WithCancel(context.Background())
		a.stopBG = cancel
		a.bgCtx = ctx
	}
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		f(a.bgCtx)
	}()
}

// startBackground keeps viewed patients fresh until the returned stop is
// called (serve and demo start it; tests drive refreshes themselves). stop
// waits for the refreshes already started.
func (a *app) startBackground(ctx context.Context, log *slog.Logger) (stop func()) {
	if a.refresher == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := a.refresher.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("background refresh stopped", "err", err)
		}
	}()
	return func() { cancel(); <-done }
}

// Close releases what newApp opened, after the server has stopped.
func (a *app) Close() {
	if a.stopBG != nil {
		a.stopBG()
		a.bg.Wait()
	}
	if a.svc != nil {
		a.svc.Close()
	}
	for _, c := range a.closers {
		_ = c()
	}
}

// demoExtras are what only the demo mode hands to the web layer.
type demoExtras struct {
	patients []web.DemoPatient // Handle holds system|value; newApp swaps it for the real handle
	outages  web.Outages
	changes  web.DemoChanges // move, cancel and add appointments (demo_changes.go)
	login    *demoLogin      // the in-process OpenID provider and its delegations (access.go)
	mailbox  *notify.Mailbox // where the demo's e-mail goes without --smtp (notify.go)
	notices  []demoNotice    // who the demo opts in to notices (notify.go)
}

// newApp wires the product; now is the clock (nil: the real one). ctx
// bounds the start (opening and migrating the database, the login
// provider's discovery); when newApp fails, it has closed what it opened.
func newApp(ctx context.Context, cfg *config.Config, extras demoExtras, log *slog.Logger, now func() time.Time) (_ *app, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &app{}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	m := metrics.New()
	db, err := a.openDatabase(ctx, cfg, extras.login, log) // access.go
	if err != nil {
		return nil, err
	}
	inbox, err := a.openInbox(ctx, cfg, db) // app_medcom.go
	if err != nil {
		return nil, err
	}
	table := connectors(inbox)
	var regs []aggregator.Registration
	for _, sc := range cfg.Sources {
		src, err := openSource(table, sc, cfg, log, now)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", sc.Name, err)
		}
		regs = append(regs, aggregator.Registration{Source: src, Display: sc.Display, Phone: sc.Phone, Timeout: sc.Timeout, ChangeFeed: sc.ChangeFeed})
		if b, ok := src.(interface{ BreakerState() fhir.BreakerState }); ok {
			if err := m.WatchCircuit(sc.Name, func() int { return int(b.BreakerState()) }); err != nil {
				return nil, fmt.Errorf("source %s: %w", sc.Name, err)
			}
		}
	}
	backend, ready, err := a.openBackend(cfg, log)
	if err != nil {
		return nil, err
	}
	svc, err := aggregator.New(regs, backend, aggregator.Options{
		FreshFor: cfg.Cache.FreshFor,
		Past:     cfg.Window.Past,
		Future:   cfg.Window.Future,
		Location: cfg.Location,
		Logger:   log,
		Now:      now,
		// Zero values in the configuration take the rules' defaults.
		Conflicts:   &cfg.Conflicts,
		Merge:       &cfg.Merge,
		KeepChanges: cfg.Cache.KeepChanges,
		// Only a running refresher refreshes every refresh.every; without
		// one, timelines are refreshed on demand after fresh_for.
		RefreshEvery: refreshEvery(cfg),
		Metrics:      m,
		Changed:      a.changedHook(cfg), // notify.go
		// The name a source gives is kept sealed with the identifier,
		// for the clinician's patient banner, never in the timeline.
		Named: func(ctx context.Context, handle, name string) {
			if a.patients != nil {
				a.patients.SetName(ctx, handle, name)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	a.svc = svc
	// With Redis, replicas share which patient a handle stands for
	// (sealed), so any of them serves any handle.
	patients, err := aggregator.NewPatients(cfg.HandleSecret, backend.Directory)
	if err != nil {
		return nil, err
	}
	demo := extras.patients
	for i, d := range demo {
		// The demo hands over identifiers in Handle; swap them for real handles.
		system, value, _ := cutIdentifier(d.Handle, cfg.PatientIdentifierSystem)
		p, err := patients.Register(ctx, aggregator.Identifier{System: system, Value: value})
		if err != nil {
			return nil, err
		}
		demo[i].Handle = p.Handle
	}
	extras.patients = demo
	a.patients = patients
	if cfg.Refresh.Enabled {
		a.refresher, err = aggregator.NewRefresher(svc, patients, aggregator.RefresherOptions{
			ViewedWithin: cfg.Refresh.ViewedWithin, PerSource: cfg.Refresh.PerSource, Logger: log,
		})
		if err != nil {
			return nil, err
		}
	}
	// Access control: login, API keys, grants, blocks and the audit log (access.go).
	sec, err := a.openAccess(ctx, cfg, db, extras.login, patients, log)
	if err != nil {
		return nil, err
	}
	// Every read of patient data goes through the one authorized view.
	vopts := view.Options{LookedUpWithin: cfg.Worklist.LookedUpWithin, Conflicted: svc, ByOrganization: cfg.Worklist.ByOrganization,
		Logger: log, Now: now, Names: patients}
	if sec != nil {
		vopts.Access = sec.access
	}
	views := view.New(svc, patients, vopts)
	if err := a.openNotify(cfg, extras, sec, svc, patients, log); err != nil { // notify.go
		a.Close()
		return nil, err
	}
	// Metrics hold no patient data (no handles in labels), but they tell
	// how the service is used: on the web server only admins get them; the
	// operator's scraper reads them on metrics_listen (serve).
	a.metrics = m.Handler()
	deps := web.Deps{Views: views, Patients: patients, Sources: svc, Ready: ready, Metrics: a.metrics, Logger: log}
	if deps.Messages, err = a.receiveMessages(cfg, inbox, patients, svc, log); err != nil { // app_medcom.go
		return nil, err
	}
	a.noticeDeps(&deps, extras) // notify.go
	a.handler = newWeb(cfg, extras, deps, sec)
	return a, nil
}

func refreshEvery(cfg *config.Config) time.Duration {
	if !cfg.Refresh.Enabled {
		return 0
	}
	return cfg.Refresh.Every
}

// openBackend returns where the aggregator keeps its state: in Redis when
// redis_url is set, on the process's one Redis client (a.rdb, which the
// sessions and the access change feed share), with timelines served from
// memory while Redis is away; in memory otherwise. ready reports which.
func (a *app) openBackend(cfg *config.Config, log *slog.Logger) (aggregator.Backend, func(context.Context) error, error) {
	if cfg.Cache.RedisURL == "" {
		return memcache.NewBackend(0), nil, nil
	}
	rdb, err := rediscache.NewClient(cfg.Cache.RedisURL)
	if err != nil {
		return aggregator.Backend{}, nil, fmt.Errorf("cache: %w", err)
	}
	a.rdb = rdb
	a.closers = append(a.closers, rdb.Close)
	near := cfg.Cache.NearTimelines
	if near == 0 {
		near = -1 // none; rediscache's zero is its default
	}
	b, err := rediscache.NewBackend(rdb, rediscache.Options{Prefix: cfg.Cache.RedisPrefix, TTL: cfg.Cache.TTL,
		SealKey: cfg.Cache.SealKey, NearCache: near, Logger: log}, rediscache.FallbackOptions{Logger: log})
	if err != nil {
		return aggregator.Backend{}, nil, fmt.Errorf("cache: %w", err)
	}
	a.closers = append([]func() error{func() error { b.Close(); return nil }}, a.closers...) // before the client
	ready := func(ctx context.Context) error {
		if err := b.Fallback.Ready(ctx); err != nil {
			// Still serving from memory and the sources: stay in rotation.
			return fmt.Errorf("%w: %v", web.ErrDegraded, err)
		}
		return nil
	}
	if err := ready(context.Background()); err != nil {
		log.Warn("Redis is not answering; serving from memory until it does", "err", err)
	}
	return b.Backend, ready, nil
}

// newWeb builds the web layer on deps. Without access control (only
// possible outside serve, which refuses to start without it) every page
// says so.
func newWeb(cfg *config.Config, extras demoExtras, deps web.Deps, sec *security) http.Handler {
	proxies, _ := config.ParseTrustedProxies(cfg.TrustedProxies) // validated
	wc := web.Config{
		Location:                cfg.Location,
		Demo:                    extras.patients,
		DefaultIdentifierSystem: cfg.PatientIdentifierSystem,
		NoAccessControl:         true,
		RateLimits:              web.RateLimits{Login: cfg.RateLimits.Login, Lookup: cfg.RateLimits.Lookup, FailedBearer: cfg.RateLimits.FailedBearer},
		TrustedProxies:          proxies,
		PublicURL:               cfg.PublicURL,
		TLS:                     cfg.TLS.On(), // HSTS; behind a proxy, auth says so by its https redirect_url
		Site: web.Site{Operator: cfg.Site.Operator, ContactEmail: cfg.Site.ContactEmail, ContactPhone: cfg.Site.ContactPhone,
			DPOEmail: cfg.Site.DPOEmail, StatementDate: cfg.Site.Statement, AuditRetention: cfg.Site.AuditRetention},
	}
	deps.Outages = extras.outages
	if extras.changes != nil {
		deps.Changes = extras.changes
	}
	if sec != nil {
		sec.apply(&wc, &deps) // access.go
	}
	return web.New(wc, deps).Handler()
}

func cutIdentifier(s, defaultSystem string) (system, value string, ok bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '|' {
			return s[:i], s[i+1:], true
		}
	}
	return defaultSystem, s, false
}

// serve runs the configured product until ctx ends.
func serve(ctx context.Context, cfg *config.Config, stdout io.Writer, log *slog.Logger) error {
	if cfg.EnsureHandleSecret() {
		log.Warn("no handle secret configured: patient links change at every restart; set OVERBLIK_HANDLE_SECRET or handle_secret_file")
	}
	if err := requireAuthMethod(cfg); err != nil { // access.go
		return err
	}
	a, err := newApp(ctx, cfg, demoExtras{}, log, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	defer a.startBackground(ctx, log)()
	if addr := cfg.MetricsListener(); addr != "" {
		mln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("metrics_listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", a.metrics)
		mctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- serveHTTP(mctx, mln, mux, io.Discard, log) }()
		defer func() {
			stop()
			if err := <-done; err != nil {
				log.Warn("metrics listener stopped", "err", err)
			}
		}()
		log.Info("metrics listening", "url", "http://"+mln.Addr().String()+"/metrics")
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return serveHTTPS(ctx, ln, a.handler, serverTLS(cfg), stdout, log)
}

// serverTLS is the web server's TLS when it terminates TLS itself, nil
// otherwise. With tls.client_ca_file it asks every client for a
// certificate and verifies one if given: a hospital's system presents one,
// a browser need not.
func serverTLS(cfg *config.Config) *tls.Config {
	if !cfg.TLS.On() {
		return nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cfg.TLS.Certificate}}
	if cfg.TLS.ClientCAs != nil {
		tc.ClientAuth, tc.ClientCAs = tls.VerifyClientCertIfGiven, cfg.TLS.ClientCAs
	}
	return tc
}

// serveHTTP serves h on ln until ctx ends, then shuts down gracefully.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, stdout io.Writer, log *slog.Logger) error {
	return serveHTTPS(ctx, ln, h, nil, stdout, log)
}

// serveHTTPS is serveHTTP over TLS when tc is set.
func serveHTTPS(ctx context.Context, ln net.Listener, h http.Handler, tc *tls.Config, stdout io.Writer, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if tc != nil {
		scheme, srv.TLSConfig = "https", tc
	}
	fmt.Fprintf(stdout, "overblik is running at %s://%s\n", scheme, ln.Addr())
	errc := make(chan error, 1)
	go func() {
		if tc != nil {
			errc <- srv.ServeTLS(ln, "", "") // the certificate is in tc; HTTP/2 as over a proxy
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
