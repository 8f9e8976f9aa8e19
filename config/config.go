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
	"maps"
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
	Listen                  string                   // `listen`, default "127.0.0.1:8080"
	Timezone                string                   // `timezone`, default "Europe/Copenhagen"
	Location                *time.Location           // resolved from Timezone by Validate, not from YAML
	PatientIdentifierSystem string                   // `patient_identifier_system`, default the Danish CPR system
	HandleSecretFile        string                   // `handle_secret_file`: file holding the HMAC key for patient handles
	HandleSecret            []byte                   // from OVERBLIK_HANDLE_SECRET or HandleSecretFile; nil until EnsureHandleSecret if neither
	Window                  WindowConfig             // `window`
	Cache                   CacheConfig              // `cache`
	Conflicts               aggregator.ConflictRules // `conflicts`: the coordination rules; zero values take the defaults
	Refresh                 RefreshConfig            // `refresh`: keeping viewed patients fresh in the background
	Sources                 []SourceConfig           // `sources`, at least one

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
}

// RefreshConfig is the background refresh: every patient viewed within
// ViewedWithin is refreshed about every cache.fresh_for, once in the cluster.
type RefreshConfig struct {
	Enabled      bool          // `enabled`, default true
	Every        time.Duration // `every`, default 1m: how often a viewed patient is refreshed, so a change shows within about a minute
	ViewedWithin time.Duration // `viewed_within`, default 30d
	PerSource    int           // `per_source`, default 4: refreshes at once per replica, so requests at once per source
}

// SourceConfig is one entry of `sources`.
type SourceConfig struct {
	Name       string        // `name`: required, unique, lower-case letters, digits and '-' (it appears in entry IDs and URLs)
	Display    string        // `display`: required, human name, e.g. "Aarhus Universitetshospital"
	Sector     string        // `sector`: required, hospital | municipality | gp | other
	Kind       string        // `kind`: required, "fhir"
	BaseURL    string        // `base_url`: required for fhir, absolute http(s) URL
	PageSize   int           // `page_size`, default 50, 1..1000
	Timeout    time.Duration // `timeout`, default 10s: the most one fetch from this source may take
	ChangeFeed bool          // `change_feed`: the background refresh asks this source which patients changed (system-level _lastUpdated)
	MaxBytes   int64         // `max_bytes`: the most one fetch may read from this source, all pages together, e.g. 32MiB; default 32 MiB (fhir), 4 MiB (ical)

	Detail      string        // `detail`: full (default) | generic: only time, place and a generic title
	Include     bool          // `include`, default true: ask for referenced names with _include
	Incremental bool          // `incremental`: after a full read, ask only for what changed (_lastUpdated)
	FullReread  time.Duration // `full_reread`, default 24h: how often an incremental source is read in full
	Auth        AuthConfig    // `auth`

	// kind ical
	URL               string // `url`: the feed URL template, with {identifier} in its path or query
	IdentifierSystem  string // `identifier_system`: the system the feed knows patients by; default patient_identifier_system
	IdentifierKeyFile string // `identifier_key_file`: when set, the feed gets HMAC-SHA256(key, identifier), not the identifier
	IdentifierKey     []byte // read from IdentifierKeyFile

	// kind medcom-hospitalnotification: the hospital posts to
	// /fhir/$process-message with an API key of role source named as the
	// source, or with a client certificate whose subject is listed here.
	ClientCertSubjects []string // `client_cert_subjects`
}

// AuthConfig is how overblik authenticates to one source. Secrets are read
// from files (or OVERBLIK_SOURCE_<NAME>_TOKEN / _CLIENT_SECRET), never
// written in the YAML.
type AuthConfig struct {
	Kind             string // `kind`: none (default) | bearer | client_credentials | smart_backend | mtls
	TokenFile        string // `token_file` (bearer)
	TokenURL         string // `token_url` (client_credentials, smart_backend)
	ClientID         string // `client_id`
	Scope            string // `scope`
	ClientSecretFile string // `client_secret_file` (client_credentials)
	ClientAuthMethod string // `client_auth_method`: client_secret_basic (default) | client_secret_post
	PrivateKeyFile   string // `private_key_file` (smart_backend): PEM, RSA or EC P-384
	KeyID            string // `key_id`: the kid of the key at the server's JWKS
	Alg              string // `alg`: RS384 | ES384
	CertFile         string // `cert_file`: client certificate for mutual TLS (any kind)
	KeyFile          string // `key_file`: its private key
	CAFile           string // `ca_file`: CA bundle for the server, when not a public CA

	// Read from the files or the environment.
	Token, ClientSecret, PrivateKey, Cert, Key, CA []byte
}

// Defaults and limits.
const (
	DefaultListen                  = "127.0.0.1:8080"
	DefaultTimezone                = "Europe/Copenhagen"
	DefaultPatientIdentifierSystem = "urn:oid:1.2.208.176.1.2" // Danish CPR number
	DefaultPageSize                = 50
	MaxPageSize                    = 1000
	DefaultTimeout                 = 10 * time.Second
	DefaultFreshFor                = 2 * time.Minute
	DefaultWindowPast              = 90 * 24 * time.Hour
	DefaultWindowFuture            = 180 * 24 * time.Hour

	// MinHandleSecretLen matches the HMAC-SHA256 block of security: a shorter
	// key makes patient handles guessable.
	MinHandleSecretLen = 32

	KindFHIR   = "fhir"
	KindICal   = "ical"
	KindMedCom = "medcom-hospitalnotification"

	DefaultFullReread  = 24 * time.Hour
	DefaultRedisPrefix = "overblik:"
	DefaultCacheTTL    = 30 * 24 * time.Hour
)

// Environment variables that override the file. Per source:
// OVERBLIK_SOURCE_<NAME>_BASE_URL, see SourceBaseURLEnv.
const (
	EnvListen       = "OVERBLIK_LISTEN"
	EnvHandleSecret = "OVERBLIK_HANDLE_SECRET"
	EnvRedisURL     = "OVERBLIK_REDIS_URL"
)

// SourceEnv names a per-source variable: OVERBLIK_SOURCE_<NAME>_<WHAT>.
func SourceEnv(name, what string) string {
	return "OVERBLIK_SOURCE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_" + what
}

// SourceBaseURLEnv names the variable overriding the base URL of the source
// called name: upper-cased, '-' turned into '_'.
func SourceBaseURLEnv(name string) string { return SourceEnv(name, "BASE_URL") }

// Default returns a Config holding every default and no sources, for code
// that builds its configuration in Go (the demo mode) and then calls Validate.
func Default() *Config {
	return &Config{
		Listen:                  DefaultListen,
		Timezone:                DefaultTimezone,
		PatientIdentifierSystem: DefaultPatientIdentifierSystem,
		Window:                  WindowConfig{Past: DefaultWindowPast, Future: DefaultWindowFuture},
		Cache:                   CacheConfig{FreshFor: DefaultFreshFor, RedisPrefix: DefaultRedisPrefix, TTL: DefaultCacheTTL, KeepChanges: 90 * 24 * time.Hour},
		Refresh:                 RefreshConfig{Enabled: true, Every: time.Minute, ViewedWithin: 30 * 24 * time.Hour, PerSource: 4},
		Worklist:                WorklistConfig{LookedUpWithin: 30 * 24 * time.Hour, ByOrganization: true},
		MetricsListen:           DefaultMetricsListen,
		RateLimits:              defaultRateLimits(),
	}
}

// DefaultSourceConfig returns a source with the defaults filled in.
func DefaultSourceConfig() SourceConfig {
	return SourceConfig{PageSize: DefaultPageSize, Timeout: DefaultTimeout, Detail: "full", Include: true, FullReread: DefaultFullReread}
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

// Load reads the YAML file at path; see Parse. A relative handle_secret_file
// is taken relative to the directory of path, so the config works from any
// working directory. Every error is a *Error.
func Load(path string, getenv func(string) string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Problems: []error{fmt.Errorf("read config: %w", err)}}
	}
	return parse(path, filepath.Dir(path), data, getenv)
}

// Parse decodes a YAML configuration, fills defaults, applies the
// environment overrides (getenv may be nil for none: main passes os.Getenv)
// and validates. It reads handle_secret_file (relative to the working
// directory) but never generates a secret: see EnsureHandleSecret. Every
// error is a *Error listing all problems found.
func Parse(data []byte, getenv func(string) string) (*Config, error) {
	return parse("", "", data, getenv)
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
// Location from Timezone. Keys in its errors are named as in YAML.
func (c *Config) Validate() error {
	if probs := c.validate(); len(probs) > 0 {
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

func parse(file, dir string, data []byte, getenv func(string) string) (*Config, error) {
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
			d.config(doc.Content[0], c)
		}
	}

	renames := map[string]rename{}
	if v := getenv(EnvListen); v != "" {
		c.Listen = v
		renames["listen"] = rename{EnvListen, "overrides listen"}
	}
	for i := range c.Sources {
		s := &c.Sources[i]
		if !validName(s.Name) {
			continue // a bad name gets its own error; don't guess its variable
		}
		env := SourceBaseURLEnv(s.Name)
		if v := getenv(env); v != "" {
			s.BaseURL = v
			renames[fmt.Sprintf("sources[%d].base_url", i)] = rename{env, fmt.Sprintf("overrides sources[%d].base_url", i)}
		}
	}
	if v := getenv(EnvRedisURL); v != "" {
		c.Cache.RedisURL = v
		renames["cache.redis_url"] = rename{EnvRedisURL, "overrides cache.redis_url"}
	}
	for i := range c.Sources {
		s := &c.Sources[i]
		if !validName(s.Name) {
			continue
		}
		if v := getenv(SourceEnv(s.Name, "URL")); v != "" {
			s.URL = v
			renames[fmt.Sprintf("sources[%d].url", i)] = rename{SourceEnv(s.Name, "URL"), fmt.Sprintf("overrides sources[%d].url", i)}
		}
		d.readSecrets(s, i, dir, getenv)
	}
	d.readAccessSecrets(c, dir, getenv, renames) // access.go
	d.readNotifySecrets(c, dir)                  // notify.go
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
	for _, p := range c.validate() {
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

func (c *Config) validate() []*FieldError {
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
	c.validateAccess(add) // access.go
	if c.PublicURL != "" {
		if err := checkPublicURL(c.PublicURL); err != nil {
			add("public_url", "%v", err)
		}
	}
	c.validateNotify(add) // notify.go
	if len(c.Sources) == 0 {
		add("sources", "at least one source is required")
	}
	firstUse := map[string]int{}
	for i, s := range c.Sources {
		key := func(field string) string { return fmt.Sprintf("sources[%d].%s", i, field) }
		switch {
		case s.Name == "":
			add(key("name"), "required")
		case !validName(s.Name):
			add(key("name"), "%q must be lower-case letters, digits and '-' (not first or last), as it appears in URLs", s.Name)
		default:
			if j, dup := firstUse[s.Name]; dup {
				add(key("name"), "duplicate name %q, also used by sources[%d]", s.Name, j)
			} else {
				firstUse[s.Name] = i
			}
		}
		if strings.TrimSpace(s.Display) == "" {
			add(key("display"), "required")
		}
		if s.Sector == "" {
			add(key("sector"), "required")
		} else if _, ok := aggregator.ParseSector(s.Sector); !ok {
			add(key("sector"), "unknown sector %q (want hospital, municipality, gp or other)", s.Sector)
		}
		switch s.Kind {
		case "":
			add(key("kind"), "required")
		case KindFHIR:
			if s.BaseURL == "" {
				add(key("base_url"), "required for kind %s", KindFHIR)
			} else if err := checkBaseURL(s.BaseURL); err != nil {
				add(key("base_url"), "%v", err)
			}
			if s.URL != "" {
				add(key("url"), "is for kind %s; a %s source takes base_url", KindICal, KindFHIR)
			}
		case KindICal:
			if s.URL == "" {
				add(key("url"), "required for kind %s", KindICal)
			} else if err := checkFeedURL(s.URL); err != nil {
				add(key("url"), "%v", err)
			}
			if s.BaseURL != "" {
				add(key("base_url"), "is for kind %s; an %s source takes url", KindFHIR, KindICal)
			}
			if s.IdentifierKey != nil && len(s.IdentifierKey) < 16 {
				add(key("identifier_key_file"), "the key is %d bytes, want at least 16", len(s.IdentifierKey))
			}
		case KindMedCom:
			c.validateMedCom(s, key, add) // medcom.go
		default:
			add(key("kind"), "unknown kind %q (want %s, %s or %s)", s.Kind, KindFHIR, KindICal, KindMedCom)
		}
		if len(s.ClientCertSubjects) > 0 && s.Kind != KindMedCom {
			add(key("client_cert_subjects"), "is for kind %s", KindMedCom)
		}
		if s.Detail != "full" && s.Detail != "generic" {
			add(key("detail"), "want full or generic, got %q", s.Detail)
		}
		if s.FullReread <= 0 {
			add(key("full_reread"), "must be positive, got %v", s.FullReread)
		}
		validateAuth(s.Auth, key, add)
		if s.PageSize < 1 || s.PageSize > MaxPageSize {
			add(key("page_size"), "must be between 1 and %d, got %d", MaxPageSize, s.PageSize)
		}
		if s.Timeout <= 0 {
			add(key("timeout"), "must be positive, got %v", s.Timeout)
		}
	}
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

// checkBaseURL never quotes the URL: it may carry a token or a password.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // url.Error repeats the whole URL
		}
		return fmt.Errorf("not a valid URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("must be an absolute http or https URL")
	case u.Host == "":
		return errors.New("must name a host")
	case u.User != nil:
		return errors.New("must not carry credentials (user:password@): they would leak into logs")
	case u.RawQuery != "" || u.Fragment != "":
		return errors.New("must not have a query or fragment: search parameters are appended to it")
	}
	return nil
}

// Duration is a time.Duration in YAML: Go syntax (90s, 2m, 1h30m) or a
// whole number of days (90d), since windows are naturally told in days.
type Duration time.Duration

// UnmarshalYAML accepts a scalar in either form.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a duration, got %s", kindName(n))
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ParseDuration parses Go duration syntax or whole days such as "90d" or "-1d".
// The sign is kept: the caller decides whether negative makes sense.
func ParseDuration(s string) (time.Duration, error) {
	const day = 24 * time.Hour
	if digits, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.ParseInt(digits, 10, 64); err == nil {
			if n > math.MaxInt64/int64(day) || n < math.MinInt64/int64(day) {
				return 0, fmt.Errorf("duration %q is out of range", s)
			}
			return time.Duration(n) * day, nil
		}
	} else if v, err := time.ParseDuration(s); err == nil {
		return v, nil
	}
	return 0, fmt.Errorf("invalid duration %q: use Go syntax such as 90s, 2m, 1h30m, or whole days such as 90d", s)
}

// decoder walks the YAML tree, collecting problems instead of stopping at
// the first, and remembers the line of every key for later validation errors.
type decoder struct {
	probs []*FieldError
	lines map[string]int  // key path -> line
	bad   map[string]bool // key paths whose value could not be decoded
}

// field decodes the value n found at key path.
type field func(n *yaml.Node, path string)

func (d *decoder) problem(line int, key, format string, args ...any) {
	d.probs = append(d.probs, &FieldError{Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.bad[path] = true
	d.problem(n.Line, path, format, args...)
}

// line finds the line of key, or of its closest ancestor when the key itself
// is missing from the file.
func (d *decoder) line(key string) int {
	for ; key != ""; key = parentKey(key) {
		if l, ok := d.lines[key]; ok {
			return l
		}
	}
	return 0
}

func (d *decoder) isBad(key string) bool {
	for ; key != ""; key = parentKey(key) {
		if d.bad[key] {
			return true
		}
	}
	return false
}

// parentKey: "sources[1].base_url" -> "sources[1]" -> "sources" -> "".
func parentKey(key string) string {
	i := strings.LastIndexAny(key, ".[")
	if i < 0 {
		return ""
	}
	return key[:i]
}

func keyPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *decoder) config(n *yaml.Node, c *Config) {
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
				"fresh_for":     d.duration(&c.Cache.FreshFor),
				"redis_url":     d.str(&c.Cache.RedisURL),
				"redis_prefix":  d.str(&c.Cache.RedisPrefix),
				"ttl":           d.duration(&c.Cache.TTL),
				"keep_changes":  d.duration(&c.Cache.KeepChanges),
				"seal_key_file": d.str(&c.Cache.SealKeyFile),
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
		"sources":   func(n *yaml.Node, path string) { c.Sources = d.sources(n, path) },
		"conflicts": func(n *yaml.Node, path string) { d.conflicts(n, path, &c.Conflicts) },
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
	})
}

func (d *decoder) sources(n *yaml.Node, path string) []SourceConfig {
	n = resolveAlias(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "expected a list of sources, got %s", kindName(n))
		return nil
	}
	out := make([]SourceConfig, 0, len(n.Content))
	for i, item := range n.Content {
		s := DefaultSourceConfig()
		p := fmt.Sprintf("%s[%d]", path, i)
		d.lines[p] = item.Line
		d.mapping(item, p, map[string]field{
			"name":                d.str(&s.Name),
			"display":             d.str(&s.Display),
			"sector":              d.str(&s.Sector),
			"kind":                d.str(&s.Kind),
			"base_url":            d.str(&s.BaseURL),
			"page_size":           d.integer(&s.PageSize),
			"timeout":             d.duration(&s.Timeout),
			"detail":              d.str(&s.Detail),
			"change_feed":         d.boolean(&s.ChangeFeed),
			"max_bytes":           d.size(&s.MaxBytes),
			"include":             d.boolean(&s.Include),
			"incremental":         d.boolean(&s.Incremental),
			"full_reread":         d.duration(&s.FullReread),
			"url":                 d.str(&s.URL),
			"identifier_system":   d.str(&s.IdentifierSystem),
			"identifier_key_file": d.str(&s.IdentifierKeyFile),

			// kind medcom-hospitalnotification
			"client_cert_subjects": d.stringList(&s.ClientCertSubjects),

			"auth": func(n *yaml.Node, path string) {
				a := &s.Auth
				d.mapping(n, path, map[string]field{
					"kind":               d.str(&a.Kind),
					"token_file":         d.str(&a.TokenFile),
					"token_url":          d.str(&a.TokenURL),
					"client_id":          d.str(&a.ClientID),
					"scope":              d.str(&a.Scope),
					"client_secret_file": d.str(&a.ClientSecretFile),
					"client_auth_method": d.str(&a.ClientAuthMethod),
					"private_key_file":   d.str(&a.PrivateKeyFile),
					"key_id":             d.str(&a.KeyID),
					"alg":                d.str(&a.Alg),
					"cert_file":          d.str(&a.CertFile),
					"key_file":           d.str(&a.KeyFile),
					"ca_file":            d.str(&a.CAFile),
				})
			},
		})
		out = append(out, s) // even when broken, so later indices stay right
	}
	return out
}

// mapping decodes a mapping with the given keys; a null value leaves the
// defaults, as if the key were absent.
func (d *decoder) mapping(n *yaml.Node, path string, fields map[string]field) {
	n = resolveAlias(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping, got %s", kindName(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := keyPath(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.problem(k.Line, p, "repeated key, first given on line %d", first)
			continue
		}
		seen[k.Value] = k.Line
		f, ok := fields[k.Value]
		if !ok {
			where := path
			if where == "" {
				where = "the top level"
			}
			d.problem(k.Line, p, "unknown key (%s takes %s)", where, strings.Join(slices.Sorted(maps.Keys(fields)), ", "))
			continue
		}
		d.lines[p] = k.Line
		f(v, p)
	}
}

// scalar resolves n and reports whether it holds a value to decode.
func (d *decoder) scalar(n *yaml.Node, path, want string) (*yaml.Node, bool) {
	n = resolveAlias(n)
	if isNull(n) {
		return n, false
	}
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "expected %s, got %s", want, kindName(n))
		return n, false
	}
	return n, true
}

func (d *decoder) str(dst *string) field {
	return func(n *yaml.Node, path string) {
		if n, ok := d.scalar(n, path, "a string"); ok {
			*dst = n.Value
		}
	}
}

func (d *decoder) integer(dst *int) field {
	return func(n *yaml.Node, path string) {
		n, ok := d.scalar(n, path, "an integer")
		if !ok {
			return
		}
		if err := n.Decode(dst); err != nil {
			d.fail(n, path, "expected an integer, got %q", n.Value)
		}
	}
}

// size reads a number of bytes: a whole number, optionally with a unit
// (KiB, MiB, GiB; kB, MB, GB).
func (d *decoder) size(dst *int64) field {
	return func(n *yaml.Node, path string) {
		n, ok := d.scalar(n, path, "a size")
		if !ok {
			return
		}
		v, err := parseSize(n.Value)
		if err != nil {
			d.fail(n, path, "expected a size such as 32MiB, got %q", n.Value)
			return
		}
		*dst = v
	}
}

func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"kB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 || n > (1<<40)/mult {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

func (d *decoder) boolean(dst *bool) field {
	return func(n *yaml.Node, path string) {
		n, ok := d.scalar(n, path, "true or false")
		if !ok {
			return
		}
		if err := n.Decode(dst); err != nil {
			d.fail(n, path, "expected true or false, got %q", n.Value)
		}
	}
}

func (d *decoder) duration(dst *time.Duration) field {
	return func(n *yaml.Node, path string) {
		n, ok := d.scalar(n, path, "a duration")
		if !ok {
			return
		}
		var v Duration
		if err := n.Decode(&v); err != nil {
			d.fail(n, path, "%v", err)
			return
		}
		*dst = time.Duration(v)
	}
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// readSecrets fills a source's secrets from the environment or from the
// files the configuration names (relative to the configuration's folder).
// Problems name the key or variable, never the content.
func (d *decoder) readSecrets(s *SourceConfig, i int, dir string, getenv func(string) string) {
	key := func(field string) string { return fmt.Sprintf("sources[%d].%s", i, field) }
	read := func(field, path string, dst *[]byte) {
		if path == "" {
			return
		}
		if !filepath.IsAbs(path) && dir != "" {
			path = filepath.Join(dir, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			d.problem(d.line(key(field)), key(field), "%v", err)
			return
		}
		*dst = bytes.TrimRight(b, "\r\n")
	}
	a := &s.Auth
	if v := getenv(SourceEnv(s.Name, "TOKEN")); v != "" {
		a.Token = []byte(v)
	} else {
		read("auth.token_file", a.TokenFile, &a.Token)
	}
	if v := getenv(SourceEnv(s.Name, "CLIENT_SECRET")); v != "" {
		a.ClientSecret = []byte(v)
	} else {
		read("auth.client_secret_file", a.ClientSecretFile, &a.ClientSecret)
	}
	read("auth.private_key_file", a.PrivateKeyFile, &a.PrivateKey)
	read("auth.cert_file", a.CertFile, &a.Cert)
	read("auth.key_file", a.KeyFile, &a.Key)
	read("auth.ca_file", a.CAFile, &a.CA)
	read("identifier_key_file", s.IdentifierKeyFile, &s.IdentifierKey)
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

// checkFeedURL checks an iCalendar URL template: absolute http(s), with the
// identifier placeholder outside the host.
func checkFeedURL(raw string) error {
	if !strings.Contains(raw, "{identifier}") {
		return errors.New("must contain {identifier}, where the patient's identifier goes")
	}
	u, err := url.Parse(strings.ReplaceAll(raw, "{identifier}", "x"))
	switch {
	case err != nil:
		return errors.New("not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("must be an absolute http or https URL")
	case u.Host == "" || strings.Contains(strings.SplitN(strings.SplitN(raw, "://", 2)[1], "/", 2)[0], "{identifier}"):
		return errors.New("must name a host, without {identifier} in it")
	case u.User != nil:
		return errors.New("must not carry credentials (user:password@): they would leak into logs")
	}
	return nil
}

// validateAuth checks that each kind of authentication has what it needs.
func validateAuth(a AuthConfig, key func(string) string, add func(key, format string, args ...any)) {
	need := func(v []byte, field, what string) {
		if len(v) == 0 {
			add(key("auth."+field), "required for auth kind %s (%s)", a.Kind, what)
		}
	}
	needStr := func(v, field string) {
		if v == "" {
			add(key("auth."+field), "required for auth kind %s", a.Kind)
		}
	}
	switch a.Kind {
	case "", "none":
	case "bearer":
		need(a.Token, "token_file", "or the environment variable _TOKEN")
	case "client_credentials":
		needStr(a.TokenURL, "token_url")
		needStr(a.ClientID, "client_id")
		need(a.ClientSecret, "client_secret_file", "or the environment variable _CLIENT_SECRET")
		switch a.ClientAuthMethod {
		case "", "client_secret_basic", "client_secret_post":
		default:
			add(key("auth.client_auth_method"), "unknown method %q (want client_secret_basic or client_secret_post)", a.ClientAuthMethod)
		}
	case "smart_backend":
		needStr(a.TokenURL, "token_url")
		needStr(a.ClientID, "client_id")
		need(a.PrivateKey, "private_key_file", "a PEM private key")
		if a.Alg != "RS384" && a.Alg != "ES384" {
			add(key("auth.alg"), "want RS384 or ES384, got %q", a.Alg)
		}
	case "mtls":
		need(a.Cert, "cert_file", "a PEM client certificate")
	default:
		add(key("auth.kind"), "unknown kind %q (want none, bearer, client_credentials, smart_backend or mtls)", a.Kind)
	}
	if (len(a.Cert) > 0) != (len(a.Key) > 0) {
		add(key("auth.key_file"), "cert_file and key_file go together")
	}
	if a.TokenURL != "" {
		if u, err := url.Parse(a.TokenURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			add(key("auth.token_url"), "must be an absolute https URL")
		}
	}
}

// conflicts decodes the coordination rules: each can be switched off, its
// severity changed and its thresholds tuned; what is left out keeps the
// default (aggregator.DefaultConflictRules).
func (d *decoder) conflicts(n *yaml.Node, path string, r *aggregator.ConflictRules) {
	sev := func(dst *aggregator.Severity) field {
		return func(n *yaml.Node, path string) {
			var v string
			d.str(&v)(n, path)
			switch aggregator.Severity(v) {
			case "", aggregator.SeverityHigh, aggregator.SeverityMedium, aggregator.SeverityLow:
				*dst = aggregator.Severity(v)
			default:
				d.fail(n, path, "want high, medium or low, got %q", v)
			}
		}
	}
	rule := func(off *bool, severity *aggregator.Severity, more map[string]field) field {
		return func(n *yaml.Node, path string) {
			fields := map[string]field{"off": d.boolean(off), "severity": sev(severity)}
			for k, f := range more {
				fields[k] = f
			}
			d.mapping(n, path, fields)
		}
	}
	da, ov, tr, hd, bt, na := &r.DuringAdmission, &r.Overlap, &r.Travel, &r.HeavyDay, &r.BookedTwice, &r.NothingAfterDischarge
	d.mapping(n, path, map[string]field{
		"during_admission": rule(&da.Off, &da.Severity, map[string]field{"ongoing": d.duration(&da.Ongoing)}),
		"overlap":          rule(&ov.Off, &ov.Severity, nil),
		"travel": rule(&tr.Off, &tr.Severity, map[string]field{
			"speed_kmh": d.number(&tr.SpeedKMH), "buffer": d.duration(&tr.Buffer), "min_gap": d.duration(&tr.MinGap),
			"same_place_meters": d.number(&tr.SamePlaceMeters),
		}),
		"heavy_day":               rule(&hd.Off, &hd.Severity, map[string]field{"max": d.integer(&hd.Max)}),
		"booked_twice":            rule(&bt.Off, &bt.Severity, map[string]field{"days": d.integer(&bt.Days)}),
		"nothing_after_discharge": rule(&na.Off, &na.Severity, map[string]field{"days": d.integer(&na.Days), "min_stay": d.duration(&na.MinStay)}),
	})
}

func (d *decoder) number(dst *float64) field {
	return func(n *yaml.Node, path string) {
		n, ok := d.scalar(n, path, "a number")
		if !ok {
			return
		}
		if err := n.Decode(dst); err != nil {
			d.fail(n, path, "expected a number, got %q", n.Value)
		}
	}
}
