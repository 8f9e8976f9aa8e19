package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
	"github.com/overblik/overblik/sources/fhirsource"
	"github.com/overblik/overblik/web"
)

// connectors maps a source's `kind` to its constructor: the one place a new
// connector is wired in.
var connectors = map[string]func(SourceConfig, *Config, *http.Client) (aggregator.Source, error){
	KindFHIR: func(sc SourceConfig, cfg *Config, hc *http.Client) (aggregator.Source, error) {
		sector, _ := aggregator.ParseSector(sc.Sector)
		return fhirsource.New(fhirsource.Config{
			Name: sc.Name, Sector: sector, BaseURL: sc.BaseURL, PageSize: sc.PageSize, Location: cfg.Location,
		}, hc)
	},
}

// app is the wired product: sources, aggregator, patients, web.
type app struct {
	svc      *aggregator.Service
	patients *aggregator.Patients
	handler  http.Handler
}

// demoExtras are what only the demo mode hands to the web layer.
type demoExtras struct {
	patients []web.DemoPatient // Handle holds system|value; newApp swaps it for the real handle
	outages  web.Outages
}

// newApp wires the product; now is the clock (nil: the real one).
func newApp(cfg *Config, extras demoExtras, log *slog.Logger, now func() time.Time) (*app, error) {
	// One transport for all sources: connection reuse matters more than
	// isolation here, and per-source deadlines come from the aggregator.
	hc := &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
	}}
	var regs []aggregator.Registration
	for _, sc := range cfg.Sources {
		newSource, ok := connectors[sc.Kind]
		if !ok {
			return nil, fmt.Errorf("source %s: no connector for kind %q", sc.Name, sc.Kind)
		}
		src, err := newSource(sc, cfg, hc)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", sc.Name, err)
		}
		regs = append(regs, aggregator.Registration{Source: src, Display: sc.Display, Timeout: sc.Timeout})
	}
	svc, err := aggregator.New(regs, memcache.New(0), aggregator.Options{
		FreshFor: cfg.Cache.FreshFor,
		Past:     cfg.Window.Past,
		Future:   cfg.Window.Future,
		Location: cfg.Location,
		Logger:   log,
		Now:      now,
	})
	if err != nil {
		return nil, err
	}
	patients, err := aggregator.NewPatients(cfg.HandleSecret)
	if err != nil {
		return nil, err
	}
	demo := extras.patients
	for i, d := range demo {
		// The demo hands over identifiers in Handle; swap them for real handles.
		system, value, _ := cutIdentifier(d.Handle, cfg.PatientIdentifierSystem)
		p, err := patients.Register(context.Background(), aggregator.Identifier{System: system, Value: value})
		if err != nil {
			return nil, err
		}
		demo[i].Handle = p.Handle
	}
	extras.patients = demo
	return &app{svc: svc, patients: patients, handler: newWeb(cfg, extras, svc, patients, log)}, nil
}

// newWeb builds the web layer. Until access control lands it says so on
// every page.
func newWeb(cfg *Config, extras demoExtras, tl web.Timelines, pats web.Patients, log *slog.Logger) http.Handler {
	wc := web.Config{
		Location:                cfg.Location,
		Demo:                    extras.patients,
		DefaultIdentifierSystem: cfg.PatientIdentifierSystem,
		NoAccessControl:         true,
		Outages:                 extras.outages,
	}
	// The service lists its cached timelines for the clinicians' worklist.
	if c, ok := tl.(web.CachedTimelines); ok {
		wc.Cached = c
	}
	return web.New(wc, tl, pats, log).Handler()
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
	a, err := newApp(cfg, demoExtras{}, log, nil)
	if err != nil {
		return err
	}
	defer a.svc.Close()
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
	log.Warn("no access control: anyone who can reach this address sees every timeline; keep it on loopback until access control is configured")
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
