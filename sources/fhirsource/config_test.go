package fhirsource

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/config"
	"github.com/overblik/overblik/sources"
)

// The source's own keys, read as serve reads them.

func kinds() []config.Kind {
	return []config.Kind{{Name: Kind, Section: func() config.Section { c := DefaultConfig(); return &c }}}
}

func own(t *testing.T, c *config.Config, i int) *Config {
	t.Helper()
	fc, ok := c.Sources[i].Section.(*Config)
	if !ok {
		t.Fatalf("sources[%d] has a %T", i, c.Sources[i].Section)
	}
	return fc
}

func TestConfigKeys(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("client-secret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := `sources:
  - name: auh
    display: AUH
    sector: hospital
    kind: fhir
    base_url: https://fhir.example.dk/r4
    page_size: 200
    include: false
    incremental: true
    full_reread: 12h
    auth:
      kind: client_credentials
      token_url: https://auth.example.dk/token
      client_id: overblik
      client_secret_file: secret.txt
  - {name: gp, display: GP, sector: gp, kind: fhir, auth: {kind: bearer}}
`
	path := filepath.Join(dir, "overblik.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"OVERBLIK_SOURCE_GP_TOKEN": "gp-token-value", "OVERBLIK_SOURCE_GP_BASE_URL": "https://fhir.example-gp.dk"}
	c, err := config.Load(path, func(k string) string { return env[k] }, kinds())
	if err != nil {
		t.Fatal(err)
	}
	auh, gp := own(t, c, 0), own(t, c, 1)
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"base_url", auh.BaseURL, "https://fhir.example.dk/r4"},
		{"page_size", auh.PageSize, 200},
		{"include", auh.Include, false},
		{"incremental", auh.Incremental, true},
		{"full_reread", auh.FullReread, 12 * time.Hour},
		{"auth.kind", auh.Auth.Kind, "client_credentials"},
		{"auth.client_secret_file, read", string(auh.Auth.ClientSecret), "client-secret-value"},
		{"default page_size", gp.PageSize, DefaultPageSize},
		{"default include", gp.Include, true},
		{"default incremental", gp.Incremental, false},
		{"default full_reread", gp.FullReread, DefaultFullReread},
		{"token from OVERBLIK_SOURCE_GP_TOKEN", string(gp.Auth.Token), "gp-token-value"},
		{"base_url from OVERBLIK_SOURCE_GP_BASE_URL", gp.BaseURL, "https://fhir.example-gp.dk"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	const src = "sources:\n  - name: s\n    display: S\n    sector: gp\n    kind: fhir\n"
	const base = src + "    base_url: https://f.example\n"
	tests := []struct {
		name, yaml string
		env        map[string]string
		want       string
		hide       string // must not appear in the error
	}{
		{"no base_url", src, nil, "line 2: sources[0].base_url: required for kind fhir", ""},
		{"relative base_url", src + "    base_url: fhir.example.dk/r4\n", nil, "line 6: sources[0].base_url: must be an absolute http or https URL", ""},
		{"base_url with credentials", src + "    base_url: https://user:hunter2@f.example/r4\n", nil, "sources[0].base_url: must not carry credentials", "hunter2"},
		{"unparsable base_url", src + "    base_url: https://f.example/hunter2%zz\n", nil, "sources[0].base_url: not a valid URL", "hunter2"},
		{"base_url with a query", src + "    base_url: https://f.example/r4?a=b\n", nil, "sources[0].base_url: must not have a query", ""},
		{"base_url from the environment", base, map[string]string{"OVERBLIK_SOURCE_S_BASE_URL": "ftp://hunter2.example"},
			"OVERBLIK_SOURCE_S_BASE_URL: must be an absolute http or https URL (overrides sources[0].base_url)", "hunter2"},
		{"page_size zero", base + "    page_size: 0\n", nil, "line 7: sources[0].page_size: must be between 1 and 1000, got 0", ""},
		{"page_size too large", base + "    page_size: 1001\n", nil, "sources[0].page_size: must be between 1 and 1000, got 1001", ""},
		{"page_size not a number", base + "    page_size: many\n", nil, `line 7: sources[0].page_size: expected an integer, got "many"`, "between 1 and"},
		{"full_reread", base + "    full_reread: 0s\n", nil, "sources[0].full_reread: must be positive, got 0s", ""},
		{"bad boolean", base + "    include: maybe\n", nil, "sources[0].include: expected true or false", ""},
		{"an iCalendar key", base + "    url: https://k.example/{identifier}\n", nil, "sources[0].url: unknown key (sources[0] takes auth, base_url, change_feed, detail, display, full_reread, include, incremental, kind, max_bytes, name, page_size, phone, sector, timeout)", ""},
		{"unknown auth kind", base + "    auth: {kind: saml}\n", nil, "sources[0].auth.kind: unknown kind", ""},
		{"unknown auth key", base + "    auth: {kind: bearer, token: abc}\n", nil, "sources[0].auth.token: unknown key", ""},
		{"bearer without token", base + "    auth: {kind: bearer}\n", nil, "sources[0].auth.token_file: required for auth kind bearer (or the environment variable _TOKEN)", ""},
		{"smart backend needs key and alg", base + "    auth: {kind: smart_backend, token_url: https://a.example/t, client_id: c}\n", nil, "sources[0].auth.private_key_file: required", ""},
		{"smart backend alg", base + "    auth: {kind: smart_backend, token_url: https://a.example/t, client_id: c, alg: HS256}\n", nil, "sources[0].auth.alg: want RS384 or ES384", ""},
		{"client auth method", base + "    auth: {kind: client_credentials, token_url: https://a.example/t, client_id: c, client_auth_method: jwt}\n", map[string]string{"OVERBLIK_SOURCE_S_CLIENT_SECRET": "hunter2"},
			`sources[0].auth.client_auth_method: unknown method "jwt"`, "hunter2"},
		{"missing secret file", base + "    auth: {kind: client_credentials, token_url: https://a.example/t, client_id: c, client_secret_file: /nonexistent/secret}\n", nil, "line 7: sources[0].auth.client_secret_file: open /nonexistent/secret", ""},
		{"certificate without its key", base + "    auth: {kind: mtls, cert_file: /dev/null}\n", nil, "sources[0].auth.cert_file: required for auth kind mtls", ""},
		{"token url", base + "    auth: {kind: client_credentials, token_url: /token, client_id: c, client_secret_file: /dev/null}\n", nil, "sources[0].auth.token_url: must be an absolute https URL", ""},
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

// TestOpen: Open makes the source of the keys every source has and its
// own, with the HTTP client its auth section says.
func TestOpen(t *testing.T) {
	c := DefaultConfig()
	c.BaseURL = "https://fhir.example.dk/r4"
	s := sources.Settings{Name: "auh", Sector: aggregator.SectorHospital, Generic: true, MaxBytes: 1 << 20, Location: cph}
	src, err := Open(c, s)
	if err != nil {
		t.Fatal(err)
	}
	if src.Name() != "auh" || src.Sector() != aggregator.SectorHospital || src.cfg.Detail != DetailGeneric ||
		src.cfg.MaxBytes != 1<<20 || src.cfg.Location != cph || src.cfg.PageSize != DefaultPageSize || !src.cfg.Include {
		t.Errorf("opened %+v", src.cfg)
	}
	c.Auth.Kind, c.Auth.Cert, c.Auth.Key = "mtls", []byte("not a certificate"), []byte("nor a key")
	if _, err := Open(c, s); err == nil || !strings.Contains(err.Error(), "fhirsource auh") {
		t.Errorf("Open with a broken client certificate: %v", err)
	}
}
