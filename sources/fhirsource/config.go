package fhirsource

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/overblik/overblik/sources"
)

// Kind is the `kind` of a FHIR source in the configuration.
const Kind = "fhir"

// Bounds of page_size.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

// DefaultConfig is a source's own keys with their defaults: page_size 50,
// include true, full_reread 24h.
func DefaultConfig() Config {
	return Config{PageSize: DefaultPageSize, Include: true, FullReread: DefaultFullReread}
}

// Check reports each problem with the source's keys, by its key
// ("base_url", "auth.token_file"). It never quotes the base URL, which may
// carry a token or a password.
func (c *Config) Check(problem func(key, format string, args ...any)) {
	if c.BaseURL == "" {
		problem("base_url", "required for kind %s", Kind)
	} else if err := checkBaseURL(c.BaseURL); err != nil {
		problem("base_url", "%v", err)
	}
	if c.PageSize < 1 || c.PageSize > MaxPageSize {
		problem("page_size", "must be between 1 and %d, got %d", MaxPageSize, c.PageSize)
	}
	if c.FullReread <= 0 {
		problem("full_reread", "must be positive, got %v", c.FullReread)
	}
	c.Auth.Check(func(key, format string, args ...any) { problem("auth."+key, format, args...) })
}

// ReadFiles reads the secrets the auth section names (see
// fhir.AuthConfig.ReadFiles).
func (c *Config) ReadFiles(read func(key, path string) []byte, env func(what string) string) {
	c.Auth.ReadFiles(func(key, path string) []byte { return read("auth."+key, path) }, env)
}

// Open is the source a configuration describes: c, a source's own keys,
// with the ones every source has, over an HTTP client authenticated as c's
// auth section says.
func Open(c Config, s sources.Settings) (*Source, error) {
	hc, err := c.Auth.Client()
	if err != nil {
		return nil, fmt.Errorf("fhirsource %s: %w", s.Name, err)
	}
	c.Name, c.Sector, c.Location, c.MaxBytes, c.Now = s.Name, s.Sector, s.Location, s.MaxBytes, s.Now
	c.Detail = DetailFull
	if s.Generic {
		c.Detail = DetailGeneric
	}
	c.Client.Logger, c.Client.Now = s.Logger, s.Now
	return New(c, hc)
}

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
