package ical

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/config"
	"github.com/overblik/overblik/sources"
)

// The source's own keys, read as serve reads them.

func kinds() []config.Kind {
	return []config.Kind{{Name: Kind, Section: func() config.Section { c := DefaultConfig(); return &c }}}
}

func TestConfigKeys(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "feed.key"), []byte("0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := `sources:
  - name: kommune
    display: Kommune
    sector: municipality
    kind: ical
    url: https://kommune.example.dk/ical/{identifier}.ics
    identifier_system: urn:oid:1.2.208.176.1.6.1.1
    identifier_key_file: feed.key
    auth: {kind: bearer, token_file: feed.key}
  - {name: other, display: O, sector: other, kind: ical}
`
	path := filepath.Join(dir, "overblik.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"OVERBLIK_SOURCE_OTHER_URL": "https://other.example/{identifier}"}
	c, err := config.Load(path, func(k string) string { return env[k] }, kinds())
	if err != nil {
		t.Fatal(err)
	}
	k, o := c.Sources[0].Section.(*Config), c.Sources[1].Section.(*Config)
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"url", k.URL, "https://kommune.example.dk/ical/{identifier}.ics"},
		{"identifier_system", k.IdentifierSystem, "urn:oid:1.2.208.176.1.6.1.1"},
		{"identifier_key_file, read", string(k.IdentifierKey), "0123456789abcdef0123"},
		{"auth", string(k.Auth.Token), "0123456789abcdef0123"},
		{"url from OVERBLIK_SOURCE_OTHER_URL", o.URL, "https://other.example/{identifier}"},
		{"no identifier_system: Open's default", o.IdentifierSystem, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short.key")
	if err := os.WriteFile(short, []byte("hunter2"), 0o600); err != nil {
		t.Fatal(err)
	}
	const src = "sources:\n  - name: s\n    display: S\n    sector: municipality\n    kind: ical\n"
	tests := []struct {
		name, yaml string
		env        map[string]string
		want, hide string
	}{
		{"no url", src, nil, "line 2: sources[0].url: required for kind ical", ""},
		{"url without placeholder", src + "    url: https://k.example/feed.ics\n", nil, "line 6: sources[0].url: must contain {identifier}", ""},
		{"identifier in the host", src + "    url: https://{identifier}.k.example/feed\n", nil, "sources[0].url: must name a host, without {identifier} in it", ""},
		{"not http", src + "    url: ftp://k.example/{identifier}\n", nil, "sources[0].url: must be an absolute http or https URL", ""},
		{"credentials", src + "    url: https://u:hunter2@k.example/{identifier}\n", nil, "sources[0].url: must not carry credentials", "hunter2"},
		{"url from the environment", src, map[string]string{"OVERBLIK_SOURCE_S_URL": "https://k.example/feed.ics"},
			"OVERBLIK_SOURCE_S_URL: must contain {identifier}, where the patient's identifier goes (overrides sources[0].url)", ""},
		{"short identifier key", src + "    url: https://k.example/{identifier}\n    identifier_key_file: " + short + "\n", nil,
			"line 7: sources[0].identifier_key_file: the key is 7 bytes, want at least 16", "hunter2"},
		{"a FHIR key", src + "    url: https://k.example/{identifier}\n    page_size: 10\n", nil, "sources[0].page_size: unknown key (sources[0] takes auth, change_feed, detail, display, identifier_key_file, identifier_system, kind, max_bytes, name, phone, sector, timeout, url)", ""},
		{"auth", src + "    url: https://k.example/{identifier}\n    auth: {kind: bearer}\n", nil, "sources[0].auth.token_file: required for auth kind bearer", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tc.yaml), func(k string) string { return tc.env[k] }, kinds())
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error\n%v\ndoes not contain %q", err, tc.want)
			}
			if tc.hide != "" && strings.Contains(err.Error(), tc.hide) {
				t.Errorf("error %q reveals %q", err, tc.hide)
			}
		})
	}
}

// TestOpen: Open makes the feed of the keys every source has and its own.
func TestOpen(t *testing.T) {
	c := DefaultConfig()
	c.URL = "https://kommune.example.dk/ical/{identifier}.ics"
	s := sources.Settings{Name: "kommune", Sector: aggregator.SectorMunicipality, Generic: true, MaxBytes: 1 << 20,
		Location: cph, IdentifierSystem: "urn:oid:1.2.208.176.1.6.1.1"}
	src, err := Open(c, s)
	if err != nil {
		t.Fatal(err)
	}
	if src.Name() != "kommune" || src.Sector() != aggregator.SectorMunicipality || !src.cfg.Generic || src.cfg.MaxBytes != 1<<20 ||
		src.cfg.Location != cph || src.cfg.IdentifierSystem != s.IdentifierSystem {
		t.Errorf("opened %+v", src.cfg)
	}
	c.IdentifierSystem = "https://kommune.example.dk/borger"
	if src, err := Open(c, s); err != nil || src.cfg.IdentifierSystem != c.IdentifierSystem {
		t.Errorf("identifier_system given: %v, %v", src, err)
	}
}
