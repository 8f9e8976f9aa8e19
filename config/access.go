package config

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/auth"
	"github.com/overblik/overblik/web"
)

// The access-control sections of the configuration: `auth` (OpenID Connect
// login), `api_keys`, `database_url` and `database_path`; and who may reach
// what how often: `metrics_listen`, `trusted_proxies` and `rate_limits`.

// LoginConfig is `auth`: the OpenID provider people log in with.
type LoginConfig struct {
	Issuer           string   // `issuer`: the provider's issuer URL
	ClientID         string   // `client_id`
	ClientSecretFile string   // `client_secret_file` (or OVERBLIK_AUTH_CLIENT_SECRET)
	ClientSecret     []byte   // read from the file or the variable
	RedirectURL      string   // `redirect_url`: this server's https://.../auth/callback
	PostLogoutURL    string   // `post_logout_url`: where the provider sends people after logout
	Scopes           []string // `scopes`, besides openid; default [profile]
	IdentifierClaim  string   // `identifier_claim`, default "cpr"
	NameClaim        string   // `name_claim`, default "name"
	RolesClaim       string   // `roles_claim`, default "roles"
	// `organization_claim`: the claim naming a clinician's workplace (their
	// worklist then covers its patients too; patients read it in their log);
	// none by default.
	OrganizationClaim string
	Audience          string        // `audience` of API access tokens; none: bearer JWTs are not accepted
	RequireATJWT      bool          // `require_at_jwt`: refuse bearer JWTs not typed at+jwt (RFC 9068)
	IdleTimeout       time.Duration // `idle_timeout`, default 15m
	AbsoluteTimeout   time.Duration // `absolute_timeout`, default 12h
}

// RateLimitsConfig is `rate_limits`: requests a minute, each route its own
// limit (web.RateLimits).
type RateLimitsConfig struct {
	Login        int // `login`: /auth/login and /auth/callback per client address, default 60
	Lookup       int // `lookup`: patient look-ups per signed-in caller, default 30
	FailedBearer int // `failed_bearer`: wrong bearer credentials per client address, default 20
}

func defaultRateLimits() RateLimitsConfig {
	return RateLimitsConfig{Login: web.DefaultLoginPerMinute, Lookup: web.DefaultLookupPerMinute, FailedBearer: web.DefaultFailedBearerPerMinute}
}

// DefaultMetricsListen keeps /metrics on loopback, for a scraper on the
// same machine (or a sidecar); "off" serves it to admins only.
const DefaultMetricsListen = "127.0.0.1:9090"

// MetricsListener is the address of /metrics' own listener, "" for none.
func (c *Config) MetricsListener() string {
	if c.MetricsListen == "off" {
		return ""
	}
	return c.MetricsListen
}

// APIKeyConfig is one entry of `api_keys`: a system's key, of which only
// the SHA-256 is configured.
type APIKeyConfig struct {
	Name         string // `name`
	KeySHA256    string // `key_sha256`: 64 hex digits (sha256sum of the key)
	Role         string // `role`: patient | relative | clinician | admin
	Organization string // `organization`: the workplace of a clinician's system, for its worklist and the patients' logs
}

// Environment variables of the access sections.
const (
	EnvAuthClientSecret = "OVERBLIK_AUTH_CLIENT_SECRET"
	EnvDatabaseURL      = "OVERBLIK_DATABASE_URL"
	// DefaultDatabasePath is the SQLite file of grants, blocks and the
	// audit log when neither database_url nor database_path is set.
	DefaultDatabasePath = "overblik.db"
)

// LoginConfigured says whether `auth` is in use.
func (c *Config) LoginConfigured() bool { return c.Login.Issuer != "" }

func (d *decoder) login(n *yaml.Node, path string, l *LoginConfig) {
	d.mapping(n, path, map[string]field{
		"issuer":             d.str(&l.Issuer),
		"client_id":          d.str(&l.ClientID),
		"client_secret_file": d.str(&l.ClientSecretFile),
		"redirect_url":       d.str(&l.RedirectURL),
		"post_logout_url":    d.str(&l.PostLogoutURL),
		"scopes":             d.stringList(&l.Scopes),
		"identifier_claim":   d.str(&l.IdentifierClaim),
		"name_claim":         d.str(&l.NameClaim),
		"roles_claim":        d.str(&l.RolesClaim),
		"organization_claim": d.str(&l.OrganizationClaim),
		"audience":           d.str(&l.Audience),
		"require_at_jwt":     d.boolean(&l.RequireATJWT),
		"idle_timeout":       d.duration(&l.IdleTimeout),
		"absolute_timeout":   d.duration(&l.AbsoluteTimeout),
	})
}

func (d *decoder) apiKeys(n *yaml.Node, path string) []APIKeyConfig {
	n = resolveAlias(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "expected a list of API keys, got %s", kindName(n))
		return nil
	}
	out := make([]APIKeyConfig, 0, len(n.Content))
	for i, item := range n.Content {
		var k APIKeyConfig
		p := fmt.Sprintf("%s[%d]", path, i)
		d.lines[p] = item.Line
		d.mapping(item, p, map[string]field{
			"name":         d.str(&k.Name),
			"key_sha256":   d.str(&k.KeySHA256),
			"role":         d.str(&k.Role),
			"organization": d.str(&k.Organization),
		})
		out = append(out, k)
	}
	return out
}

func (d *decoder) rateLimits(n *yaml.Node, path string, r *RateLimitsConfig) {
	d.mapping(n, path, map[string]field{
		"login":         d.integer(&r.Login),
		"lookup":        d.integer(&r.Lookup),
		"failed_bearer": d.integer(&r.FailedBearer),
	})
}

func (d *decoder) stringList(dst *[]string) field {
	return func(n *yaml.Node, path string) {
		n = resolveAlias(n)
		if isNull(n) {
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "expected a list of strings, got %s", kindName(n))
			return
		}
		*dst = nil
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				d.fail(item, path, "expected a string, got %s", kindName(item))
				return
			}
			*dst = append(*dst, item.Value)
		}
	}
}

// APIKeyEnv names the variable that gives the SHA-256 of the API key
// called name: OVERBLIK_API_KEY_<NAME>_SHA256, upper-cased, anything but
// letters and digits as '_'.
func APIKeyEnv(name string) string {
	b := []byte(strings.ToUpper(name))
	for i, c := range b {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			b[i] = '_'
		}
	}
	return "OVERBLIK_API_KEY_" + string(b) + "_SHA256"
}

// readAccessSecrets fills what comes from files and the environment: the
// client secret, the database URL (which may hold a password) and the API
// keys' hashes.
func (d *decoder) readAccessSecrets(c *Config, dir string, getenv func(string) string, renames map[string]rename) {
	for i := range c.APIKeys {
		k := &c.APIKeys[i]
		if k.Name == "" {
			continue
		}
		env := APIKeyEnv(k.Name)
		if v := getenv(env); v != "" {
			k.KeySHA256 = v
			key := fmt.Sprintf("api_keys[%d].key_sha256", i)
			renames[key] = rename{env, "overrides " + key}
		}
	}
	if v := getenv(EnvAuthClientSecret); v != "" {
		c.Login.ClientSecret = []byte(v)
	} else if p := c.Login.ClientSecretFile; p != "" {
		if !filepath.IsAbs(p) && dir != "" {
			p = filepath.Join(dir, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			d.problem(d.line("auth.client_secret_file"), "auth.client_secret_file", "%v", err)
		} else {
			c.Login.ClientSecret = bytes.TrimRight(b, "\r\n")
		}
	}
	if v := getenv(EnvDatabaseURL); v != "" {
		c.DatabaseURL = v
	}
	if p := c.DatabasePath; p != "" && !filepath.IsAbs(p) && dir != "" {
		c.DatabasePath = filepath.Join(dir, p) // like every file the configuration names
	}
}

// validateAccess checks the access sections. Whether any authentication
// method is configured at all is serve's question (the demo brings its own).
func (c *Config) validateAccess(add func(key, format string, args ...any)) {
	l := c.Login
	if c.LoginConfigured() {
		if err := checkAbsURL(l.Issuer); err != nil {
			add("auth.issuer", "%v", err)
		} else if err := checkIssuer(l.Issuer); err != nil {
			add("auth.issuer", "%v", err)
		}
		if l.ClientID == "" {
			add("auth.client_id", "required")
		}
		if l.Audience != "" && l.Audience == l.ClientID {
			add("auth.audience", "must not be the client_id, which ID tokens carry too: name the audience the provider puts in access tokens for overblik's API")
		}
		if err := checkAbsURL(l.RedirectURL); err != nil {
			add("auth.redirect_url", "%v (this server's /auth/callback)", err)
		}
		if l.PostLogoutURL != "" {
			if err := checkAbsURL(l.PostLogoutURL); err != nil {
				add("auth.post_logout_url", "%v", err)
			}
		}
		if l.IdleTimeout < 0 {
			add("auth.idle_timeout", "must not be negative")
		}
		if l.AbsoluteTimeout < 0 {
			add("auth.absolute_timeout", "must not be negative")
		}
	} else if l.ClientID != "" || l.RedirectURL != "" || l.ClientSecretFile != "" || len(l.Scopes) > 0 {
		add("auth.issuer", "required when auth is given")
	}
	names := map[string]bool{}
	for i, k := range c.APIKeys {
		key := func(f string) string { return fmt.Sprintf("api_keys[%d].%s", i, f) }
		switch {
		case k.Name == "":
			add(key("name"), "required")
		case names[k.Name]:
			add(key("name"), "%q is used twice", k.Name)
		}
		names[k.Name] = true
		where := "here"
		if k.Name != "" {
			where += " or in " + APIKeyEnv(k.Name)
		}
		if sum, err := auth.ParseKeySHA256(k.KeySHA256); err != nil {
			// Never quote it; say how to make one.
			add(key("key_sha256"), "want the SHA-256 of the key as 64 hex digits: make a key with `head -c 32 /dev/urandom | base64`, "+
				"give it to the system that sends it, and put the output of `printf %%s \"$KEY\" | sha256sum` %s", where)
		} else if what, published := publishedKeys[sum]; published {
			add(key("key_sha256"), "the API key %q is %s, which anyone can send: make a key of your own with `head -c 32 /dev/urandom | base64` "+
				"and put the output of `printf %%s \"$KEY\" | sha256sum` %s", k.Name, what, where)
		}
		if _, ok := access.ParseRole(k.Role); !ok {
			add(key("role"), "unknown role %q (want patient, relative, clinician, admin or source)", k.Role)
		}
	}
	if addr := c.MetricsListener(); addr != "" {
		if err := checkListen(addr); err != nil {
			add("metrics_listen", "%v (or off, for none)", err)
		}
	}
	if _, err := ParseTrustedProxies(c.TrustedProxies); err != nil {
		add("trusted_proxies", "%v", err)
	}
	for _, r := range []struct {
		key string
		n   int
	}{{"rate_limits.login", c.RateLimits.Login}, {"rate_limits.lookup", c.RateLimits.Lookup}, {"rate_limits.failed_bearer", c.RateLimits.FailedBearer}} {
		if r.n < 1 {
			add(r.key, "must be at least 1 a minute, got %d", r.n)
		}
	}
	if c.DatabaseURL != "" {
		// It may hold a password: the error never quotes it.
		if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			add("database_url", "want a postgres:// URL")
		}
	}
}

// publishedKeys are the SHA-256 of API keys anyone can read: serve (and
// every command that reads a configuration) refuses them.
var publishedKeys = map[[32]byte]string{
	sha256.Sum256([]byte("password")):           "the key of the old overblik.example.yaml (\"password\")",
	sha256.Sum256([]byte("demo-clinician-key")): "the public key of the demo (\"demo-clinician-key\")",
}

// checkIssuer wants the provider over https: its discovery document and
// keys decide who is who. Plain http only on loopback, for a provider on
// this machine (a test, a development setup).
func checkIssuer(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("want an absolute https URL")
	}
	if u.Scheme == "https" {
		return nil
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); (err == nil && ip.IsLoopback()) || host == "localhost" {
		return nil
	}
	return errors.New("must be https (plain http only for a provider on loopback)")
}

// ParseTrustedProxies reads CIDRs, or single addresses.
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("%q is neither a CIDR (10.0.0.0/8) nor an address", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func checkAbsURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("want an absolute http(s) URL")
	}
	return nil
}
