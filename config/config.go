// Package config reads overblik's configuration: a YAML file, with
// environment variables over it. Every problem is reported at once, each
// with its key as written in YAML and its line, in an *Error. cmd/overblik
// turns the validated Config into components.
package config

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // the timezone must resolve the same on every machine, with or without system tzdata

	yaml "go.yaml.in/yaml/v3"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/rediscache"
)

// Config is the typed configuration of `overblik serve`. Defaults fill what
// the YAML leaves out. Problems are reported with the key named as in YAML.
type Config struct {
	// Warnings are what the file says that is ignored (a key of another
	// kind of source) or leaves out that a page needs (site.go): serve
	// logs them and check prints them.
	Warnings                []string                 `yaml:"-"`
	Listen                  string                   // `listen`, default "127.0.0.1:8080"
	Timezone                string                   // `timezone`, default "Europe/Copenhagen"
	Location                *time.Location           // resolved from Timezone by Validate, not from YAML
	PatientIdentifierSystem string                   // `patient_identifier_system`, default the Danish CPR system
	HandleSecretFile        string                   // `handle_secret_file`: file holding the HMAC key for patient handles
	HandleSecret            []byte                   // from OVERBLIK_HANDLE_SECRET or HandleSecretFile; nil until EnsureHandleSecret if neither
	Window                  WindowConfig             // `window`
	Cache                   CacheConfig              // `cache`
	Conflicts               aggregator.ConflictRules // `conflicts`: the coordination rules; zero values take the defaults
	Merge                   aggregator.MergeRules    // `merge`: when entries of different sources are one (rules.go)
	Refresh                 RefreshConfig            // `refresh`: keeping viewed patients fresh in the background
	Sources                 []Source                 // `sources`, at least one (sources.go)

	// Access control (access.go).
	Login        LoginConfig    // `auth`: OpenID Connect login
	APIKeys      []APIKeyConfig // `api_keys`
	DatabaseURL  string         // `database_url` (or OVERBLIK_DATABASE_URL): PostgreSQL for grants, blocks and the audit log
	DatabasePath string         // `database_path`: the SQLite file otherwise, default overblik.db
	// `database_max_conns` (default 16) and `database_max_idle_conns`
	// (default the same): the connection pool; idle below open makes a busy
	// server open a new connection for most requests.
	DatabaseMaxConns, DatabaseMaxIdleConns int
	Worklist                               WorklistConfig // `worklist`
	// Who may reach what, and how often (access.go).
	MetricsListen  string           // `metrics_listen`, default 127.0.0.1:9090; "" or "off": no listener of its own
	TrustedProxies []string         // `trusted_proxies`: CIDRs (or addresses) of the reverse proxies whose X-Forwarded-For counts
	RateLimits     RateLimitsConfig // `rate_limits`: requests per minute

	// PublicURL (`public_url`) is where people reach the server, e.g.
	// https://overblik.example-region.dk: calendar feed addresses are made
	// under it. https, plain http only on loopback; none offers no feeds.
	PublicURL string
	Notify    *NotifyConfig // `notify` (notify.go): notices of changes and reminders; nil: none
	TLS       TLSConfig     // `tls` (tls.go): serve terminates TLS, and verifies senders' client certificates
	Site      SiteConfig    // `site` (site.go): who runs overblik, for the privacy page and the accessibility statement
}

// WorklistConfig is whom a clinician's conflict worklist covers.
type WorklistConfig struct {
	LookedUpWithin time.Duration // `looked_up_within`, default 30d: the patients the clinician looked up this recently
	ByOrganization bool          // `by_organization`, default true: and, when the login names the clinician's organisation, the patients with an entry from it
}

// WindowConfig is how far back and ahead a timeline reaches from now.
type WindowConfig struct {
	Past   time.Duration // `past`, default 90d
	Future time.Duration // `future`, default 180d
}

// CacheConfig tunes the timeline cache.
type CacheConfig struct {
	FreshFor    time.Duration // `fresh_for`, default 2m: younger timelines are served without refetching
	RedisURL    string        // `redis_url` (or OVERBLIK_REDIS_URL): share timelines among replicas in Redis; empty = in-process memory
	RedisPrefix string        // `redis_prefix`, default "overblik:"
	TTL         time.Duration // `ttl`, default 30d: how long Redis keeps a timeline nobody refreshes
	KeepChanges time.Duration // `keep_changes`, default 90d: how long each patient's changes are kept
	SealKeyFile string        // `seal_key_file`: file holding the key that seals timelines and changes in Redis
	SealKey     []byte        // from SealKeyFile; nil: stored in the clear
	// NearTimelines is `near_timelines`, default 2000: with Redis, how many
	// decoded timelines each replica keeps for reads (a stored timeline
	// that has not changed is then one small round trip, not its bytes and
	// their decoding); about 100-135 KB each, most of a replica's heap; 0
	// keeps none.
	NearTimelines int
}

// RefreshConfig is the background refresh: every patient viewed within
// ViewedWithin is refreshed about every cache.fresh_for, once in the cluster.
type RefreshConfig struct {
	Enabled      bool          // `enabled`, default true
	Every        time.Duration // `every`, default 1m: how often a viewed patient is refreshed, so a change shows within about a minute
	ViewedWithin time.Duration // `viewed_within`, default 30d
	PerSource    int           // `per_source`, default 4: refreshes at once per replica, so requests at once per source
}

// Defaults and limits.
const (
	DefaultListen                  = "127.0.0.1:8080"
	DefaultTimezone                = "Europe/Copenhagen"
	DefaultPatientIdentifierSystem = "urn:oid:1.2.208.176.1.2" // Danish CPR number
	DefaultTimeout                 = 10 * time.Second
	DefaultFreshFor                = 2 * time.Minute
	DefaultWindowPast              = 90 * 24 * time.Hour
	DefaultWindowFuture            = 180 * 24 * time.Hour

	// MinHandleSecretLen matches the HMAC-SHA256 block of security: a shorter
	// key makes patient handles guessable.
	MinHandleSecretLen = 32

	DefaultRedisPrefix = "overblik:"
	DefaultCacheTTL    = 30 * 24 * time.Hour
)

// Environment variables that override the file. Per source:
// OVERBLIK_SOURCE_<NAME>_<WHAT>, see SourceEnv.
const (
	EnvListen       = "OVERBLIK_LISTEN"
	EnvHandleSecret = "OVERBLIK_HANDLE_SECRET"
	EnvRedisURL     = "OVERBLIK_REDIS_URL"
)

// Default returns a Config holding every default and no sources, for code
// that builds its configuration in Go (the demo mode) and then calls Validate.
func Default() *Config {
	return &Config{
		Listen:                  DefaultListen,
		Timezone:                DefaultTimezone,
		PatientIdentifierSystem: DefaultPatientIdentifierSystem,
		Window:                  WindowConfig{Past: DefaultWindowPast, Future: DefaultWindowFuture},
		Cache: CacheConfig{FreshFor: DefaultFreshFor, RedisPrefix: DefaultRedisPrefix, TTL: DefaultCacheTTL, KeepChanges: 90 * 24 * time.Hour,
			NearTimelines: rediscache.DefaultNearCache},
		Refresh:       RefreshConfig{Enabled: true, Every: time.Minute, ViewedWithin: 30 * 24 * time.Hour, PerSource: 4},
		Merge:         aggregator.DefaultMergeRules(),
		Worklist:      WorklistConfig{LookedUpWithin: 30 * 24 * time.Hour, ByOrganization: true},
		MetricsListen: DefaultMetricsListen,
		RateLimits:    defaultRateLimits(),
	}
}

// Error is the only error type Load, Parse and Validate return: main
// exits with status 2 on it. It holds every problem found, so that a user
// fixes them all in one go; Error gives one problem per line.
type Error struct {
	Problems []error // mostly *FieldError; also read and YAML syntax errors
}

func (e *Error) Error() string { return errors.Join(e.Problems...).Error() }

// Unwrap lets errors.Is and errors.As see each problem, as with errors.Join.
func (e *Error) Unwrap() []error { return e.Problems }

// FieldError is one problem with one key. It never quotes secret values.
type FieldError struct {
	File string // config file, when loaded from one
	Line int    // 1-based line in File, 0 when unknown (environment, Go-built config)
	Key  string // path as in YAML, e.g. "sources[1].base_url", or an environment variable
	Msg  string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads the YAML file at path; see Parse. A relative file name (of
// handle_secret_file, a source's secret, ...) is taken relative to the
// directory of path, so the config works from any working directory. Every
// error is a *Error.
func Load(path string, getenv func(string) string, kinds []Kind) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Problems: []error{fmt.Errorf("read config: %w", err)}}
	}
	return parse(path, filepath.Dir(path), data, getenv, kinds)
}

// Parse decodes a YAML configuration, fills defaults, applies the
// environment overrides (getenv may be nil for none: main passes os.Getenv)
// and validates. A source's `kind` is one of kinds, whose section takes the
// source's own keys. Parse reads handle_secret_file (relative to the
// working directory) but never generates a secret: see EnsureHandleSecret.
// Every error is a *Error listing all problems found.
func Parse(data []byte, getenv func(string) string, kinds []Kind) (*Config, error) {
	return parse("", "", data, getenv, kinds)
}

// EnsureHandleSecret generates a random handle secret when the configuration
// gave none, and reports whether it did. The caller should warn: handles
// then change on every restart, breaking bookmarks and shared links.
func (c *Config) EnsureHandleSecret() (generated bool) {
	if c.HandleSecret != nil {
		return false
	}
	c.HandleSecret = make([]byte, MinHandleSecretLen)
	rand.Read(c.HandleSecret) // never fails since Go 1.24
	return true
}

// Validate checks a configuration, however it was built, and resolves
// Location from Timezone. Keys in its errors are named as in YAML. A
// source without a section gets its kind's, with the defaults.
func (c *Config) Validate(kinds []Kind) error {
	if probs := c.validate(kinds); len(probs) > 0 {
		return newConfigError(probs)
	}
	return nil
}

func newConfigError(probs []*FieldError) *Error {
	errs := make([]error, len(probs))
	for i, p := range probs {
		errs[i] = p
	}
	return &Error{Problems: errs}
}

// rename shows a validation problem under the name the user actually wrote:
// an environment variable, or the file a secret came from.
type rename struct {
	key  string
	note string
}

func parse(file, dir string, data []byte, getenv func(string) string, kinds []Kind) (*Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	c := Default()
	d := &decoder{lines: map[string]int{}, bad: map[string]bool{}}

	// Walking a yaml.Node rather than decoding with KnownFields(true) lets us
	// name every unknown key with its full path and report them all at once.
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF): // empty file: only defaults, and the missing sources are reported below
	case err != nil:
		return nil, &Error{Problems: []error{withFile(file, fmt.Errorf("parse YAML: %w", err))}}
	default:
		var extra yaml.Node
		if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
			d.problem(extra.Line, "", "only one YAML document is allowed")
		}
		if len(doc.Content) > 0 {
			d.config(doc.Content[0], c, kinds)
		}
	}

	renames := map[string]rename{}
	if v := getenv(EnvListen); v != "" {
		c.Listen = v
		renames["listen"] = rename{EnvListen, "overrides listen"}
	}
	if v := getenv(EnvRedisURL); v != "" {
		c.Cache.RedisURL = v
		renames["cache.redis_url"] = rename{EnvRedisURL, "overrides cache.redis_url"}
	}
	d.readSources(c, dir, getenv, renames)       // sources.go
	d.readAccessSecrets(c, dir, getenv, renames) // access.go
	d.readNotifySecrets(c, dir)                  // notify.go
	d.readTLS(&c.TLS, dir)                       // tls.go
	d.warnSite(&c.Site)                          // site.go
	switch v := getenv(EnvHandleSecret); {
	case v != "":
		c.HandleSecret = []byte(v)
		renames["handle_secret"] = rename{EnvHandleSecret, ""}
	case c.HandleSecretFile != "":
		path := c.HandleSecretFile
		if !filepath.IsAbs(path) && dir != "" {
			path = filepath.Join(dir, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			d.problem(d.lines["handle_secret_file"], "handle_secret_file", "%v", err)
			break
		}
		// Files written by `openssl rand -hex 32 > file` end in a newline that is not part of the key.
		c.HandleSecret = bytes.TrimRight(b, "\r\n")
		renames["handle_secret"] = rename{"handle_secret_file", ""}
		d.lines["handle_secret"] = d.lines["handle_secret_file"]
	}
	if path := c.Cache.SealKeyFile; path != "" {
		if !filepath.IsAbs(path) && dir != "" {
			path = filepath.Join(dir, path)
		}
		if b, err := os.ReadFile(path); err != nil {
			d.problem(d.line("cache.seal_key_file"), "cache.seal_key_file", "%v", err)
		} else {
			c.Cache.SealKey = bytes.TrimRight(b, "\r\n")
		}
	}

	probs := d.probs
	for _, p := range c.validate(kinds) {
		if d.isBad(p.Key) {
			continue // already reported as undecodable; "required" would only repeat it
		}
		if p.Line == 0 {
			p.Line = d.line(p.Key)
		}
		if r, ok := renames[p.Key]; ok {
			p.Key = r.key
			if r.note != "" {
				p.Msg += " (" + r.note + ")"
				p.Line = 0 // the value came from the environment, not from that line
			}
		}
		probs = append(probs, p)
	}
	if len(probs) > 0 {
		for _, p := range probs {
			p.File = file
		}
		// In file order, environment problems last, so the list reads top to bottom.
		slices.SortStableFunc(probs, func(a, b *FieldError) int {
			return cmp.Compare(lineOrder(a.Line), lineOrder(b.Line))
		})
		return nil, newConfigError(probs)
	}
	for _, w := range d.warns {
		w.File = file
		c.Warnings = append(c.Warnings, w.Error())
	}
	return c, nil
}

func lineOrder(line int) int {
	if line == 0 {
		return math.MaxInt
	}
	return line
}

func withFile(file string, err error) error {
	if file == "" {
		return err
	}
	return fmt.Errorf("%s: %w", file, err)
}

// validName: lower-case letters, digits and inner '-'; names end up in entry
// IDs, URLs and environment variable names.
func validName(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

func (c *Config) validate(kinds []Kind) []*FieldError {
	var probs []*FieldError
	add := func(key, format string, args ...any) {
		probs = append(probs, &FieldError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}

	if err := checkListen(c.Listen); err != nil {
		add("listen", "%v", err)
	}
	c.Location = nil
	if c.Timezone == "" {
		add("timezone", "required")
	} else if loc, err := time.LoadLocation(c.Timezone); err != nil {
		add("timezone", "unknown time zone %q (want an IANA name such as Europe/Copenhagen)", c.Timezone)
	} else {
		c.Location = loc
	}
	if c.PatientIdentifierSystem == "" {
		add("patient_identifier_system", "required")
	} else if u, err := url.Parse(c.PatientIdentifierSystem); err != nil || u.Scheme == "" {
		add("patient_identifier_system", "%q is not an absolute URI (e.g. %s)", c.PatientIdentifierSystem, DefaultPatientIdentifierSystem)
	}
	if c.HandleSecret != nil && len(c.HandleSecret) < MinHandleSecretLen {
		add("handle_secret", "the secret is %d bytes, want at least %d (e.g. `openssl rand -hex 32`)", len(c.HandleSecret), MinHandleSecretLen)
	}

	if c.Window.Past < 0 {
		add("window.past", "must not be negative, got %v", c.Window.Past)
	}
	if c.Window.Future < 0 {
		add("window.future", "must not be negative, got %v", c.Window.Future)
	}
	if c.Window.Past == 0 && c.Window.Future == 0 {
		add("window", "past and future are both zero: every timeline would be empty")
	}
	if c.Cache.FreshFor <= 0 {
		add("cache.fresh_for", "must be positive, got %v", c.Cache.FreshFor)
	}
	if c.Cache.KeepChanges <= 0 {
		add("cache.keep_changes", "must be positive, got %v", c.Cache.KeepChanges)
	}
	if c.Refresh.Every <= 0 {
		add("refresh.every", "must be positive, got %v", c.Refresh.Every)
	}
	if c.Refresh.ViewedWithin <= 0 {
		add("refresh.viewed_within", "must be positive, got %v", c.Refresh.ViewedWithin)
	}
	if c.Refresh.PerSource < 1 {
		add("refresh.per_source", "must be at least 1, got %d", c.Refresh.PerSource)
	}
	if c.DatabaseMaxConns < 0 {
		add("database_max_conns", "must be at least 1 (or left out for the default), got %d", c.DatabaseMaxConns)
	}
	if c.DatabaseMaxIdleConns < 0 || (c.DatabaseMaxConns > 0 && c.DatabaseMaxIdleConns > c.DatabaseMaxConns) {
		add("database_max_idle_conns", "must be between 1 and database_max_conns, got %d", c.DatabaseMaxIdleConns)
	}
	if c.Worklist.LookedUpWithin <= 0 {
		add("worklist.looked_up_within", "must be positive, got %v", c.Worklist.LookedUpWithin)
	}
	if c.Cache.RedisURL != "" {
		if err := checkRedisURL(c.Cache.RedisURL); err != nil {
			add("cache.redis_url", "%v", err)
		}
		if c.Cache.RedisPrefix == "" {
			add("cache.redis_prefix", "must not be empty: keys of other programs could clash")
		}
		if c.Cache.NearTimelines < 0 {
			add("cache.near_timelines", "must be 0 (none) or more, got %d", c.Cache.NearTimelines)
		}
		if c.Cache.TTL <= 0 {
			add("cache.ttl", "must be positive, got %v", c.Cache.TTL)
		}
	}
	if c.Cache.SealKey != nil && len(c.Cache.SealKey) < rediscache.MinSealKey {
		add("cache.seal_key_file", "the key is %d bytes, want at least %d (e.g. `openssl rand -hex 32`)", len(c.Cache.SealKey), rediscache.MinSealKey)
	}

	r := c.Conflicts
	for _, v := range []struct {
		key string
		bad bool
	}{
		{"conflicts.travel.speed_kmh", r.Travel.SpeedKMH < 0},
		{"conflicts.travel.buffer", r.Travel.Buffer < 0},
		{"conflicts.travel.min_gap", r.Travel.MinGap < 0},
		{"conflicts.travel.same_place_meters", r.Travel.SamePlaceMeters < 0},
		{"conflicts.heavy_day.max", r.HeavyDay.Max < 0},
		{"conflicts.booked_twice.days", r.BookedTwice.Days < 0},
		{"conflicts.nothing_after_discharge.days", r.NothingAfterDischarge.Days < 0},
		{"conflicts.nothing_after_discharge.min_stay", r.NothingAfterDischarge.MinStay < 0},
	} {
		if v.bad {
			add(v.key, "must not be negative")
		}
	}
	c.validateMerge(add)  // rules.go
	c.validateAccess(add) // access.go
	if c.PublicURL != "" {
		if err := checkPublicURL(c.PublicURL); err != nil {
			add("public_url", "%v", err)
		}
	}
	c.validateNotify(add)         // notify.go
	c.validateTLS(add)            // tls.go
	c.validateSite(add)           // site.go
	c.validateSources(kinds, add) // sources.go
	return probs
}

func checkListen(addr string) error {
	if addr == "" {
		return errors.New("required")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid address %q: want host:port, e.g. %s", addr, DefaultListen)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("invalid port in %q: want a number 0..65535", addr)
	}
	return nil
}

// checkPublicURL wants https: the addresses made under it carry a secret.
// Plain http only on loopback (the demo, a development setup).
func checkPublicURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		return errors.New("want an absolute https URL, e.g. https://overblik.example-region.dk")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return errors.New("must not carry credentials, a query or a fragment")
	case u.Scheme == "http" && checkIssuer(raw) != nil: // the issuer's rule: http on loopback only
		return errors.New("must be https (plain http only on loopback): calendar addresses carry a secret")
	}
	return nil
}

func (d *decoder) config(n *yaml.Node, c *Config, kinds []Kind) {
	d.mapping(n, "", map[string]field{
		"listen":                    d.str(&c.Listen),
		"timezone":                  d.str(&c.Timezone),
		"patient_identifier_system": d.str(&c.PatientIdentifierSystem),
		"handle_secret_file":        d.str(&c.HandleSecretFile),
		"window": func(n *yaml.Node, path string) {
			d.mapping(n, path, map[string]field{
				"past":   d.duration(&c.Window.Past),
				"future": d.duration(&c.Window.Future),
			})
		},
		"cache": func(n *yaml.Node, path string) {
			d.mapping(n, path, map[string]field{
				"fresh_for":      d.duration(&c.Cache.FreshFor),
				"redis_url":      d.str(&c.Cache.RedisURL),
				"redis_prefix":   d.str(&c.Cache.RedisPrefix),
				"ttl":            d.duration(&c.Cache.TTL),
				"keep_changes":   d.duration(&c.Cache.KeepChanges),
				"seal_key_file":  d.str(&c.Cache.SealKeyFile),
				"near_timelines": d.integer(&c.Cache.NearTimelines),
			})
		},
		"refresh": func(n *yaml.Node, path string) {
			d.mapping(n, path, map[string]field{
				"enabled":       d.boolean(&c.Refresh.Enabled),
				"every":         d.duration(&c.Refresh.Every),
				"viewed_within": d.duration(&c.Refresh.ViewedWithin),
				"per_source":    d.integer(&c.Refresh.PerSource),
			})
		},
		"sources":   func(n *yaml.Node, path string) { c.Sources = d.sources(n, path, kinds) },
		"conflicts": func(n *yaml.Node, path string) { d.conflicts(n, path, &c.Conflicts) },
		"merge":     func(n *yaml.Node, path string) { d.merge(n, path, &c.Merge) }, // rules.go
		// Access control (access.go).
		"auth":                    func(n *yaml.Node, path string) { d.login(n, path, &c.Login) },
		"api_keys":                func(n *yaml.Node, path string) { c.APIKeys = d.apiKeys(n, path) },
		"database_url":            d.str(&c.DatabaseURL),
		"database_path":           d.str(&c.DatabasePath),
		"database_max_conns":      d.integer(&c.DatabaseMaxConns),
		"database_max_idle_conns": d.integer(&c.DatabaseMaxIdleConns),
		"worklist": func(n *yaml.Node, path string) {
			d.mapping(n, path, map[string]field{
				"looked_up_within": d.duration(&c.Worklist.LookedUpWithin),
				"by_organization":  d.boolean(&c.Worklist.ByOrganization),
			})
		},
		"metrics_listen":  d.str(&c.MetricsListen),
		"trusted_proxies": d.stringList(&c.TrustedProxies),
		"rate_limits":     func(n *yaml.Node, path string) { d.rateLimits(n, path, &c.RateLimits) },
		"public_url":      d.str(&c.PublicURL),
		"notify":          func(n *yaml.Node, path string) { c.Notify = d.notify(n, path) }, // notify.go
		"tls":             func(n *yaml.Node, path string) { d.tls(n, path, &c.TLS) },       // tls.go
		"site":            func(n *yaml.Node, path string) { d.site(n, path, &c.Site) },     // site.go
	})
}

// checkRedisURL accepts the schemes rediscache understands. The URL may
// hold a password, so errors never repeat it.
func checkRedisURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a valid URL")
	}
	switch u.Scheme {
	case "redis", "rediss", "unix", "redis-sentinel", "rediss-sentinel", "redis-cluster", "rediss-cluster":
		return nil
	}
	return errors.New("want a redis://, rediss://, unix://, redis-sentinel:// or redis-cluster:// URL")
}
