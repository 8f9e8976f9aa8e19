package medcom

import (
	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/sources"
)

// Kind is the `kind` of a hospital that posts its HospitalNotifications,
// in the configuration.
const Kind = "medcom-hospitalnotification"

// Config is a source's own keys in the configuration. The hospital posts
// to POST /fhir/$process-message with an API key of role source named as
// the source, or with a client certificate whose subject is listed here
// (and that the server's tls.client_ca_file verifies).
type Config struct {
	ClientCertSubjects []string `yaml:"client_cert_subjects"` // as crypto/x509's Name.String writes them: "CN=...,O=...,C=DK"
}

// DefaultConfig is a source's own keys with their defaults: no
// certificates.
func DefaultConfig() Config { return Config{} }

// Check reports each problem with the source's keys.
func (c *Config) Check(problem func(key, format string, args ...any)) {
	for _, s := range c.ClientCertSubjects {
		if s == "" {
			problem("client_cert_subjects", "an empty subject names no certificate")
		}
	}
}

// CertSubjects are the subjects of the client certificates that send for
// the source: the configuration's sign that it is posted to, not asked.
func (c *Config) CertSubjects() []string { return c.ClientCertSubjects }

// Sector is the only sector such a source can have: hospitals send
// HospitalNotifications.
func (c *Config) Sector() aggregator.Sector { return aggregator.SectorHospital }

// Source is the source a configuration describes, read back from the
// store of posted messages (nil, as `overblik check` opens it: every Fetch
// fails).
func (st *Store) Source(_ Config, s sources.Settings) (*Source, error) {
	return NewSource(s.Name, st)
}
