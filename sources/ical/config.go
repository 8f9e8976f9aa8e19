package ical

import (
	"fmt"

	"github.com/overblik/overblik/sources"
)

// Kind is the `kind` of an iCalendar feed in the configuration.
const Kind = "ical"

// DefaultConfig is a source's own keys with their defaults: none.
func DefaultConfig() Config { return Config{} }

// Check reports each problem with the source's keys, by its key ("url",
// "auth.token_file").
func (c *Config) Check(problem func(key, format string, args ...any)) {
	if c.URL == "" {
		problem("url", "required for kind %s", Kind)
	} else if err := checkTemplate(c.URL); err != nil {
		problem("url", "%v", err)
	}
	if c.IdentifierKey != nil && len(c.IdentifierKey) < 16 {
		problem("identifier_key_file", "the key is %d bytes, want at least 16", len(c.IdentifierKey))
	}
	c.Auth.Check(func(key, format string, args ...any) { problem("auth."+key, format, args...) })
}

// ReadFiles reads identifier_key_file and the secrets the auth section
// names (see fhir.AuthConfig.ReadFiles).
func (c *Config) ReadFiles(read func(key, path string) []byte, env func(what string) string) {
	c.IdentifierKey = read("identifier_key_file", c.IdentifierKeyFile)
	c.Auth.ReadFiles(func(key, path string) []byte { return read("auth."+key, path) }, env)
}

// Open is the feed a configuration describes: c, a source's own keys, with
// the ones every source has, over an HTTP client authenticated as c's auth
// section says.
func Open(c Config, s sources.Settings) (*Source, error) {
	hc, err := c.Auth.Client()
	if err != nil {
		return nil, fmt.Errorf("ical %s: %w", s.Name, err)
	}
	c.Name, c.Sector, c.Location, c.Generic, c.MaxBytes = s.Name, s.Sector, s.Location, s.Generic, s.MaxBytes
	if c.IdentifierSystem == "" {
		c.IdentifierSystem = s.IdentifierSystem
	}
	return New(c, hc)
}
