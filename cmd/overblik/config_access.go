package main

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/web/auth"
)

// The access-control sections of the configuration: `auth` (OpenID Connect
// login), `api_keys`, `database_url` and `database_path`.

// LoginConfig is `auth`: the OpenID provider people log in with.
type LoginConfig struct {
	Issuer           string        // `issuer`: the provider's issuer URL
	ClientID         string        // `client_id`
	ClientSecretFile string        // `client_secret_file` (or OVERBLIK_AUTH_CLIENT_SECRET)
	ClientSecret     []byte        // read from the file or the variable
	RedirectURL      string        // `redirect_url`: this server's https://.../auth/callback
	PostLogoutURL    string        // `post_logout_url`: where the provider sends people after logout
	Scopes           []string      // `scopes`, besides openid; default [profile]
	IdentifierClaim  string        // `identifier_claim`, default "cpr"
	NameClaim        string        // `name_claim`, default "name"
	RolesClaim       string        // `roles_claim`, default "roles"
	Audience         string        // `audience` of API access tokens, default client_id
	IdleTimeout      time.Duration // `idle_timeout`, default 15m
	AbsoluteTimeout  time.Duration // `absolute_timeout`, default 12h
}

// APIKeyConfig is one entry of `api_keys`: a system's key, of which only
// the SHA-256 is configured.
type APIKeyConfig struct {
	Name      string // `name`
	KeySHA256 string // `key_sha256`: 64 hex digits (sha256sum of the key)
	Role      string // `role`: patient | relative | clinician | admin
}

// Environment variables of the access sections.
const (
	EnvAuthClientSecret = "OVERBLIK_AUTH_CLIENT_SECRET"
	EnvDatabaseURL      = "OVERBLIK_DATABASE_URL"
	// DefaultDatabasePath is the SQLite file of grants, blocks and the
	// audit log when neither database_url nor database_path is set.
	DefaultDatabasePath = "overblik.db"
)

// loginConfigured says whether `auth` is in use.
func (c *Config) loginConfigured() bool { return c.Login.Issuer != "" }

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
		"audience":           d.str(&l.Audience),
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
			"name":       d.str(&k.Name),
			"key_sha256": d.str(&k.KeySHA256),
			"role":       d.str(&k.Role),
		})
		out = append(out, k)
	}
	return out
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

// readAccessSecrets fills what comes from files and the environment: the
// client secret and the database URL (which may hold a password).
func (d *decoder) readAccessSecrets(c *Config, dir string, getenv func(string) string) {
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
	if c.loginConfigured() {
		if err := checkAbsURL(l.Issuer); err != nil {
			add("auth.issuer", "%v", err)
		}
		if l.ClientID == "" {
			add("auth.client_id", "required")
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
		if _, err := auth.ParseKeySHA256(k.KeySHA256); err != nil {
			add(key("key_sha256"), "%v", err) // never quote it
		}
		if _, ok := access.ParseRole(k.Role); !ok {
			add(key("role"), "unknown role %q (want patient, relative, clinician, admin or source)", k.Role)
		}
	}
	c.validateSenders(add) // config_medcom.go
	if c.DatabaseURL != "" {
		// It may hold a password: the error never quotes it.
		if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			add("database_url", "want a postgres:// URL")
		}
	}
}

func checkAbsURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("want an absolute http(s) URL")
	}
	return nil
}
