package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/access/accessbus"
	"github.com/overblik/overblik/access/sqlstore"
	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/auth"
	"github.com/overblik/overblik/config"
	"github.com/overblik/overblik/sources/medcom"
	"github.com/overblik/overblik/web"
)

// Access control as wired: the durable store (SQLite or PostgreSQL), the
// access service, and the authenticator (OpenID Connect login into
// sessions kept in memory or Redis, bearer JWTs, API keys).

// errNoAuthMethod is why serve refuses to start without access control.
var errNoAuthMethod = errors.New("no authentication method configured: set auth (OpenID Connect login) or api_keys; " +
	"without one anyone who reaches the server would see every timeline")

// requireAuthMethod is serve's check: a configuration error (exit 2) when
// neither login nor API keys are configured.
func requireAuthMethod(cfg *config.Config) error {
	if cfg.LoginConfigured() || len(cfg.APIKeys) > 0 {
		return nil
	}
	return &config.Error{Problems: []error{&config.FieldError{Key: "auth", Msg: errNoAuthMethod.Error()}}}
}

// security is access control as wired: the access service every view asks,
// and what it adds to the web layer.
type security struct {
	access    *access.Service
	auth      *auth.Auth
	loginPath string
	tls       bool
	checks    func(context.Context) []web.SourceCheck
	store     *sqlstore.Store // notify keeps its tables beside access's (notify.go)
}

func (s *security) apply(wc *web.Config, deps *web.Deps) {
	deps.Auth, deps.Access, deps.AuthRoutes, deps.Checks = s.auth, s.access, s.auth.Handler(), s.checks
	deps.Marks = s.access // conflicts marked handled on the worklist
	wc.LoginPath, wc.TLS, wc.NoAccessControl = s.loginPath, s.tls, false
}

// openAccess opens access control when the configuration (or the demo)
// asks for it; nil means none is configured, and the server is the open
// loopback demo of before (serve refuses that earlier, with
// requireAuthMethod).
// accessControlled tells whether anyone must sign in: a login provider,
// API keys or the demo's login.
func accessControlled(cfg *config.Config, login *demoLogin) bool {
	return cfg.LoginConfigured() || len(cfg.APIKeys) > 0 || login != nil
}

// openAccess wires access control on store, the database newApp opened; nil
// when nothing is access controlled.
func (a *app) openAccess(ctx context.Context, cfg *config.Config, store *sqlstore.Store, login *demoLogin, patients *aggregator.Patients, log *slog.Logger) (*security, error) {
	if !accessControlled(cfg, login) {
		log.Warn("no access control: anyone who can reach this address sees every timeline; keep it on loopback")
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// Views' audit rows are group-committed: one transaction for the rows
	// of concurrent requests, each request released after its commit.
	auditor := access.NewGroupCommit(store, access.GroupCommitOptions{Logger: log})
	a.closers = append([]func() error{auditor.Close}, a.closers...) // before the store closes
	opts := access.Options{Logger: log, Auditor: auditor}
	var bus *accessbus.Bus
	if a.rdb != nil {
		// Replicas cache decisions' inputs; a change on one drops them on all.
		var err error
		if bus, err = accessbus.New(a.rdb, accessbus.Options{Channel: cfg.Cache.RedisPrefix + "access", Logger: log}); err != nil {
			return nil, err
		}
		opts.Broadcast = bus
	}
	svc := access.NewService(store, opts)
	if bus != nil {
		a.background(func(ctx context.Context) { _ = bus.Run(ctx, svc) })
	}

	var sessions auth.Store
	if a.rdb != nil {
		// A Redis outage must not fail requests: sessions fall back to memory.
		sessions = auth.NewFallbackStore(auth.NewRedisStore(a.rdb, cfg.Cache.RedisPrefix+"session:"), auth.NewMemoryStore(time.Now), log)
	}
	// Sessions seal the person under a key of the handle secret, which
	// replicas share: auth derives its own key from it.
	// Each login names the person on the grants made to them.
	ac := auth.Config{Sessions: sessions, Patients: patients, Logins: svc, Logger: log, SealKey: cfg.HandleSecret,
		IdleTimeout: cfg.Login.IdleTimeout, AbsoluteTimeout: cfg.Login.AbsoluteTimeout}
	if cfg.TLS.ClientCAs != nil {
		// Only the server's own TLS verifies them.
		ac.ClientCerts = cfg.CertSenders()
	}
	for _, k := range cfg.APIKeys {
		sum, _ := auth.ParseKeySHA256(k.KeySHA256) // validated
		ac.APIKeys = append(ac.APIKeys, auth.APIKey{Name: k.Name, SHA256: sum, Role: access.Role(k.Role), Organization: k.Organization})
	}
	tls := cfg.TLS.On()
	switch {
	case login != nil:
		ac.OIDC = login.oidc(cfg.PatientIdentifierSystem) // demo.go
	case cfg.LoginConfigured():
		l := cfg.Login
		scopes := l.Scopes
		if scopes == nil {
			scopes = []string{"profile"}
		}
		ac.OIDC = &auth.OIDCConfig{
			Issuer: l.Issuer, ClientID: l.ClientID, ClientSecret: string(l.ClientSecret),
			RedirectURL: l.RedirectURL, PostLogoutURL: l.PostLogoutURL, Scopes: scopes,
			IdentifierClaim: l.IdentifierClaim, NameClaim: l.NameClaim, RolesClaim: l.RolesClaim, OrganizationClaim: l.OrganizationClaim,
			IdentifierSystem: cfg.PatientIdentifierSystem, Audience: l.Audience, RequireATJWT: l.RequireATJWT,
		}
		if l.Audience == "" {
			log.Info("bearer JWTs are not accepted: auth.audience names none for access tokens")
		}
		// Reached over HTTPS: Secure cookies and HSTS.
		tls = tls || strings.HasPrefix(l.RedirectURL, "https://")
	}
	ac.Secure = tls
	au, err := auth.New(ctx, ac)
	if err != nil {
		return nil, err
	}
	if login != nil {
		if err := login.grant(ctx, svc, patients, cfg.PatientIdentifierSystem); err != nil {
			return nil, err
		}
	}
	sec := &security{access: svc, auth: au, tls: tls, checks: sourceChecks(cfg, log), store: store}
	if ac.OIDC != nil {
		sec.loginPath = "/auth/login"
	}
	return sec, nil
}

// sourceChecks runs what `overblik check` runs, for the admin page.
func sourceChecks(cfg *config.Config, log *slog.Logger) func(context.Context) []web.SourceCheck {
	return func(ctx context.Context) []web.SourceCheck {
		var out []web.SourceCheck
		table := connectors(nil)
		for _, sc := range cfg.Sources {
			src, err := openSource(table, sc, cfg, log, nil)
			if err != nil {
				out = append(out, web.SourceCheck{Source: sc.Name, Check: "configuration", Detail: err.Error()})
				continue
			}
			c, ok := src.(checker)
			if !ok {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, sc.Timeout+5*time.Second)
			for _, r := range c.Check(cctx, cfg.PatientIdentifierSystem) {
				out = append(out, web.SourceCheck{Source: sc.Name, Check: r.Name, OK: r.OK, Detail: r.Detail})
			}
			cancel()
		}
		return out
	}
}

// openDatabase opens and migrates the one database (access control's
// tables, and beside them those of notify and of pushed messages) when
// something keeps data in it: access control or a source messages are
// pushed to; nil otherwise. It is PostgreSQL when database_url is set, else
// the SQLite file; the demo, given neither, uses a file in a temporary
// folder it removes at the end.
func (a *app) openDatabase(ctx context.Context, cfg *config.Config, login *demoLogin, log *slog.Logger) (*sqlstore.Store, error) {
	demo := login != nil
	if !accessControlled(cfg, login) &&
		!slices.ContainsFunc(cfg.Sources, func(s config.Source) bool { return s.Kind == medcom.Kind }) {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	opts := sqlstore.Options{Logger: log, MaxOpenConns: cfg.DatabaseMaxConns, MaxIdleConns: cfg.DatabaseMaxIdleConns}
	if cfg.DatabaseURL != "" {
		s, err := sqlstore.OpenPostgres(ctx, cfg.DatabaseURL, opts)
		if err != nil {
			return nil, fmt.Errorf("access store: %w", err)
		}
		a.closers = append(a.closers, s.Close)
		return s, nil
	}
	path := cfg.DatabasePath
	if path == "" && demo {
		dir, err := os.MkdirTemp("", "overblik-demo-")
		if err != nil {
			return nil, fmt.Errorf("access store: %w", err)
		}
		a.closers = append(a.closers, func() error { return os.RemoveAll(dir) })
		path = filepath.Join(dir, "access.db")
	}
	if path == "" {
		path = config.DefaultDatabasePath
	}
	s, err := sqlstore.OpenSQLite(ctx, path, opts)
	if err != nil {
		return nil, fmt.Errorf("access store: %w", err)
	}
	// Closed before the temporary folder is removed: closers run in order.
	a.closers = append([]func() error{s.Close}, a.closers...)
	return s, nil
}
