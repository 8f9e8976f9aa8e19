package config

import (
	"net/url"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// The kinds of source these tests read configurations with: sections as a
// connector writes them (the connectors' own are tested in their folders,
// through Parse).

// feedSection is a source that is asked, with a key of each type a section
// may have, a nested mapping, a variable over a key and a secret file.
type feedSection struct {
	BaseURL  string            `yaml:"base_url" env:"BASE_URL"`
	PageSize int               `yaml:"page_size"`
	Every    time.Duration     `yaml:"every"`
	Ratio    float64           `yaml:"ratio"`
	Include  bool              `yaml:"include"`
	Tags     []string          `yaml:"tags"`
	Auth     feedAuth          `yaml:"auth"`
	Note     string            // no tag: not a key
	Odd      map[string]string `yaml:"odd"` // a type no configuration holds
}

type feedAuth struct {
	Kind      string `yaml:"kind"`
	TokenFile string `yaml:"token_file"`
	TokenURL  string `yaml:"token_url" env:"TOKEN_URL"`
	Token     []byte
}

func newFeed() Section { return &feedSection{PageSize: 50, Include: true} }

func (f *feedSection) Check(problem func(key, format string, args ...any)) {
	if f.BaseURL == "" {
		problem("base_url", "required for kind feed")
	} else if u, err := url.Parse(f.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		problem("base_url", "must be an absolute http or https URL")
	}
	if f.PageSize < 1 || f.PageSize > 1000 {
		problem("page_size", "must be between 1 and 1000, got %d", f.PageSize)
	}
	switch f.Auth.Kind {
	case "", "none":
	case "bearer":
		if len(f.Auth.Token) == 0 {
			problem("auth.token_file", "required for auth kind bearer (or the environment variable _TOKEN)")
		}
	default:
		problem("auth.kind", "unknown kind %q", f.Auth.Kind)
	}
}

func (f *feedSection) ReadFiles(read func(key, path string) []byte, env func(what string) string) {
	if v := env("TOKEN"); v != "" {
		f.Auth.Token = []byte(v)
	} else {
		f.Auth.Token = read("auth.token_file", f.Auth.TokenFile)
	}
}

// pushSection is a source that posts to us, from hospitals only.
type pushSection struct {
	ClientCertSubjects []string `yaml:"client_cert_subjects"`
}

func (*pushSection) Check(func(key, format string, args ...any)) {}
func (i *pushSection) CertSubjects() []string                    { return i.ClientCertSubjects }
func (*pushSection) Sector() aggregator.Sector                   { return aggregator.SectorHospital }

func testKinds() []Kind {
	return []Kind{
		{Name: "feed", Section: newFeed},
		{Name: "push", Section: func() Section { return &pushSection{} }},
	}
}

func feed(c *Config, i int) *feedSection { return c.Sources[i].Section.(*feedSection) }
