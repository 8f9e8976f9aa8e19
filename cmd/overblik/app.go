package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
	"github.com/overblik/overblik/aggregator/rediscache"
	"github.com/overblik/overblik/fhir"
	"github.com/overblik/overblik/metrics"
	"github.com/overblik/overblik/notify"
	"github.com/overblik/overblik/sources/fhirsource"
	"github.com/overblik/overblik/sources/ical"
	"github.com/overblik/overblik/sources/medcom"
	"github.com/overblik/overblik/view"
	"github.com/overblik/overblik/web"
)

// sourceDeps is what every connector constructor gets besides its config.
type sourceDeps struct {
	hc    *http.Client // authenticated as the source's auth section says
	log   *slog.Logger
	now   func() time.Time
	inbox *medcom.Store // where pushed messages are kept; nil in `overblik check`
}

// connectors maps a source's `kind` to its constructor: the one place a new
// connector is wired in (and KindFHIR/KindICal in config.go, so the
// configuration accepts it).
var connectors = map[string]func(SourceConfig, *Config, sourceDeps) (aggregator.Source, error){
	KindFHIR: func(sc SourceConfig, cfg *Config, d sourceDeps) (aggregator.Source, error) {
		sector, _ := aggregator.ParseSector(sc.Sector)
		detail, _ := fhirsource.ParseDetail(sc.Detail)
		return fhirsource.New(fhirsource.Config{
			Name: sc.Name, Sector: sector, BaseURL: sc.BaseURL, PageSize: sc.PageSize, Location: cfg.Location,
			Detail: detail, Include: sc.Include, Incremental: sc.Incremental, FullReread: sc.FullReread, MaxBytes: sc.MaxBytes,
			Now: d.now, Client: fhir.Options{Logger: d.log, Now: d.now},
		}, d.hc)
	},
	KindICal: func(sc SourceConfig, cfg *Config, d sourceDeps) (aggregator.Source, error) {
		sector, _ := aggregator.ParseSector(sc.Sector)
		system := sc.IdentifierSystem
		if system == "" {
			system = cfg.PatientIdentifierSystem
		}
		return ical.New(ical.Config{
			Name: sc.Name, Sector: sector, URL: sc.URL, IdentifierSystem: system, IdentifierKey: sc.IdentifierKey,
			Location: cfg.Location, Generic: sc.Detail == "generic", MaxBytes: sc.MaxBytes,
		}, d.hc)
	},
	KindMedCom: func(sc SourceConfig, _ *Config, d sourceDeps) (aggregator.Source, error) {
		return medcom.NewSource(sc.Name, d.inbox)
	},
}

// sourceClient is the HTTP client for one source, with its authentication.
func sourceClient(a AuthConfig) (*http.Client, error) {
	return fhir.NewHTTPClient(fhir.Auth{
		Kind: a.Kind, Token: a.Token, TokenURL: a.TokenURL, ClientID: a.ClientID, Scope: a.Scope,
		ClientSecret: a.ClientSecret, ClientAuthMethod: a.ClientAuthMethod,
		PrivateKeyPEM: a.PrivateKey, KeyID: a.KeyID, Alg: a.Alg,
		CertPEM: a.Cert, KeyPEM: a.Key, CAPEM: a.CA,
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
	login    *demoLogin      // the in-process OpenID provider and its delegations (access.go)
	mailbox  *notify.Mailbox // where the demo's e-mail goes without --smtp (notify.go)
	notices  []demoNotice    // who the demo opts in to notices (notify.go)
}

// newApp wires the product; now is the clock (nil: the real one). ctx
// bounds the start (opening and migrating the database, the login
// provider's discovery); when newApp fails, it has closed what it opened.
func newApp(ctx context.Context, cfg *Config, extras demoExtras, log *slog.Logger, now func() time.Time) (_ *app, err error) {
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
	inbox, err := a.openInbox(cfg) // app_medcom.go
	if err != nil {
		return nil, err
	}
	var regs []aggregator.Registration
	for _, sc := range cfg.Sources {
		newSource, ok := connectors[sc.Kind]
		if !ok {
			return nil, fmt.Errorf("source %s: no connector for kind %q", sc.Name, sc.Kind)
		}
		hc, err := sourceClient(sc.Auth)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", sc.Name, err)
		}
		src, err := newSource(sc, cfg, sourceDeps{hc: hc, log: log.With("source", sc.Name), now: now, inbox: inbox})
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", sc.Name, err)
		}
		regs = append(regs, aggregator.Registration{Source: src, Display: sc.Display, Timeout: sc.Timeout, ChangeFeed: sc.ChangeFeed})
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
		KeepChanges: cfg.Cache.KeepChanges,
		// Only a running refresher refreshes every refresh.every; without
		// one, timelines are refreshed on demand after fresh_for.
		RefreshEvery: refreshEvery(cfg),
		Metrics:      m,
		Changed:      a.changedHook(cfg), // notify.go
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
	sec, err := a.openAccess(ctx, cfg, extras.login, patients, log)
	if err != nil {
		return nil, err
	}
	// Every read of patient data goes through the one authorized view.
	vopts := view.Options{LookedUpWithin: cfg.Worklist.LookedUpWithin, Conflicted: svc, ByOrganization: cfg.Worklist.ByOrganization,
		Logger: log, Now: now}
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
	deps := web.Deps{Views: views, Patients: patients, Cached: svc, Ready: ready, Metrics: a.metrics, Logger: log}
	if deps.Messages, err = a.receiveMessages(cfg, inbox, patients, svc, log); err != nil { // app_medcom.go
		return nil, err
	}
	a.noticeDeps(&deps, extras) // notify.go
	a.handler = newWeb(cfg, extras, deps, sec)
	return a, nil
}

func refreshEvery(cfg *Config) time.Duration {
	if !cfg.Refresh.Enabled {
		return 0
	}
	return cfg.Refresh.Every
}

// openBackend returns where the aggregator keeps its state: in Redis when
// redis_url is set, on the process's one Redis client (a.rdb, which the
// sessions and the access change feed share), with timelines served from
// memory while Redis is away; in memory otherwise. ready reports which.
func (a *app) openBackend(cfg *Config, log *slog.Logger) (aggregator.Backend, func(context.Context) error, error) {
	if cfg.Cache.RedisURL == "" {
		return memcache.NewBackend(0), nil, nil
	}
	rdb, err := rediscache.NewClient(cfg.Cache.RedisURL)
	if err != nil {
		return aggregator.Backend{}, nil, fmt.Errorf("cache: %w", err)
	}
	a.rdb = rdb
	a.closers = append(a.closers, rdb.Close)
	b, err := rediscache.NewBackend(rdb, rediscache.Options{Prefix: cfg.Cache.RedisPrefix, TTL: cfg.Cache.TTL,
		SealKey: cfg.Cache.SealKey, Logger: log}, rediscache.FallbackOptions{Logger: log})
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
func newWeb(cfg *Config, extras demoExtras, deps web.Deps, sec *security) http.Handler {
	proxies, _ := parseTrustedProxies(cfg.TrustedProxies) // validated
	wc := web.Config{
		Location:                cfg.Location,
		Demo:                    extras.patients,
		DefaultIdentifierSystem: cfg.PatientIdentifierSystem,
		NoAccessControl:         true,
		RateLimits:              web.RateLimits{Login: cfg.RateLimits.Login, Lookup: cfg.RateLimits.Lookup, FailedBearer: cfg.RateLimits.FailedBearer},
		TrustedProxies:          proxies,
		SenderCerts:             cfg.medcomSenders(), // config_medcom.go
		PublicURL:               cfg.PublicURL,
	}
	deps.Outages = extras.outages
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
func serve(ctx context.Context, cfg *Config, stdout io.Writer, log *slog.Logger) error {
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
	if addr := cfg.metricsListener(); addr != "" {
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
	return serveHTTP(ctx, ln, a.handler, stdout, log)
}

// serveHTTP serves h on ln until ctx ends, then shuts down gracefully.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, stdout io.Writer, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	fmt.Fprintf(stdout, "overblik is running at http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
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
