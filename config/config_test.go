package config

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const cfgTestDay = 24 * time.Hour

// minimalConfig is the smallest valid configuration; the source starts on line 2.
const minimalConfig = `sources:
  - name: rh
    display: Rigshospitalet
    sector: hospital
    kind: feed
    base_url: https://fhir.example.dk/r4
`

func envFunc(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func mustParseConfig(t *testing.T, data string, getenv func(string) string) *Config {
	t.Helper()
	c, err := Parse([]byte(data), getenv, testKinds())
	if err != nil {
		t.Fatalf("Parse: unexpected error:\n%v", err)
	}
	return c
}

// parseConfigErr parses a configuration that must be rejected and returns the message.
func parseConfigErr(t *testing.T, data string, getenv func(string) string) string {
	t.Helper()
	c, err := Parse([]byte(data), getenv, testKinds())
	if err == nil {
		t.Fatalf("Parse: got config %+v, want an error", c)
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Parse: got %T, want *Error: %v", err, err)
	}
	return err.Error()
}

func assertErrContains(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("error does not contain %q; got:\n%s", w, got)
		}
	}
}

func TestParseDefaults(t *testing.T) {
	c := mustParseConfig(t, minimalConfig, nil)

	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", c.Listen, "127.0.0.1:8080"},
		{"timezone", c.Timezone, "Europe/Copenhagen"},
		{"location", c.Location.String(), "Europe/Copenhagen"},
		{"patient identifier system", c.PatientIdentifierSystem, "urn:oid:1.2.208.176.1.2"},
		{"handle secret stays unset", c.HandleSecret == nil, true},
		{"window.past", c.Window.Past, 90 * cfgTestDay},
		{"window.future", c.Window.Future, 180 * cfgTestDay},
		{"cache.fresh_for", c.Cache.FreshFor, 2 * time.Minute},
		{"sources", len(c.Sources), 1},
		{"page_size", feed(c, 0).PageSize, 50},
		{"timeout", c.Sources[0].Timeout, 10 * time.Second},
		{"name", c.Sources[0].Name, "rh"},
		{"display", c.Sources[0].Display, "Rigshospitalet"},
		{"sector", c.Sources[0].Sector, "hospital"},
		{"kind", c.Sources[0].Kind, "feed"},
		{"base_url", feed(c, 0).BaseURL, "https://fhir.example.dk/r4"},
		{"detail", c.Sources[0].Detail, "full"},
		{"max_bytes: the connector's default", c.Sources[0].MaxBytes, int64(0)},
		{"no phone", c.Sources[0].Phone, ""},
	}
	for _, tc := range checks {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func TestParseValues(t *testing.T) {
	c := mustParseConfig(t, `listen: ":9000"
timezone: UTC
patient_identifier_system: https://example.org/patient-id
window: {past: 90d, future: 36h}
cache: {fresh_for: 1h30m}
sources:
  - name: gp-1
    display: Lægehuset
    phone: "+45 0000 3000"
    sector: gp
    kind: feed
    base_url: http://127.0.0.1:8081/fhir
    page_size: 1000
    timeout: 1d
    max_bytes: 8MiB
worklist: {looked_up_within: 7d, by_organization: false}
database_max_conns: 32
`, nil)

	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", c.Listen, ":9000"},
		{"location", c.Location, time.UTC},
		{"patient identifier system", c.PatientIdentifierSystem, "https://example.org/patient-id"},
		{"90d is 2160h", c.Window.Past, 2160 * time.Hour},
		{"window.future", c.Window.Future, 36 * time.Hour},
		{"cache.fresh_for", c.Cache.FreshFor, 90 * time.Minute},
		{"page_size", feed(c, 0).PageSize, 1000},
		{"timeout in days", c.Sources[0].Timeout, cfgTestDay},
		{"max_bytes with a unit", c.Sources[0].MaxBytes, int64(8 << 20)},
		{"phone", c.Sources[0].Phone, "+45 0000 3000"},
		{"worklist.looked_up_within", c.Worklist.LookedUpWithin, 7 * cfgTestDay},
		{"worklist.by_organization", c.Worklist.ByOrganization, false},
		{"database_max_conns", c.DatabaseMaxConns, 32},
	}
	for _, tc := range checks {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "90s", want: 90 * time.Second},
		{in: "2m", want: 2 * time.Minute},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "90d", want: 2160 * time.Hour},
		{in: "1d", want: 24 * time.Hour},
		{in: "0d", want: 0},
		{in: "-1d", want: -24 * time.Hour},
		{in: "-5s", want: -5 * time.Second},
		{in: "2 minutes", wantErr: `invalid duration "2 minutes"`},
		{in: "120", wantErr: `invalid duration "120"`},
		{in: "d", wantErr: `invalid duration "d"`},
		{in: "1.5d", wantErr: `invalid duration "1.5d"`},
		{in: "1d12h", wantErr: `invalid duration "1d12h"`},
		{in: "", wantErr: `invalid duration ""`},
		{in: "999999999d", wantErr: `out of range`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDuration(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, %v; want error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    []string // substrings of the message
		notWant []string
	}{
		{
			name: "unknown top-level key",
			data: "listn: :9000\n" + minimalConfig,
			want: []string{"line 1: listn: unknown key", "the top level takes api_keys, auth, cache, conflicts, database_max_conns, database_max_idle_conns, database_path, database_url, handle_secret_file, listen,"},
		},
		{
			name: "unknown nested key",
			data: minimalConfig + "cache:\n  fresh_fo: 1m\n",
			want: []string{"line 8: cache.fresh_fo: unknown key (cache takes fresh_for, keep_changes, near_timelines, redis_prefix, redis_url, seal_key_file, ttl)"},
		},
		{
			name: "unknown key inside a source",
			data: "sources:\n  - name: rh\n    display: RH\n    sector: hospital\n    kind: feed\n    bse_url: https://x.dk\n",
			want: []string{"line 6: sources[0].bse_url: unknown key", "line 2: sources[0].base_url: required"},
		},
		{
			name: "missing base_url in the second source",
			data: minimalConfig + "  - name: gp\n    display: GP\n    sector: gp\n    kind: feed\n",
			want: []string{"line 7: sources[1].base_url: required for kind feed"},
		},
		{
			name: "missing required fields",
			data: "sources:\n  - page_size: 10\n",
			want: []string{"sources[0].name: required", "sources[0].display: required", "sources[0].sector: required", "sources[0].kind: required"},
		},
		{
			name: "bad sector",
			data: strings.Replace(minimalConfig, "sector: hospital", "sector: hosptal", 1),
			want: []string{`line 4: sources[0].sector: unknown sector "hosptal"`},
		},
		{
			name: "bad phone",
			data: strings.Replace(minimalConfig, "sector: hospital", "sector: hospital\n    phone: ring til os", 1),
			want: []string{`sources[0].phone: "ring til os" is not a phone number`},
		},
		{
			name: "bad kind",
			data: strings.Replace(minimalConfig, "kind: feed", "kind: soap", 1),
			want: []string{`line 5: sources[0].kind: unknown kind "soap" (want feed or push)`},
		},
		{
			name: "bad duration",
			data: minimalConfig + "cache:\n  fresh_for: 2 minutes\n",
			want: []string{`line 8: cache.fresh_for: invalid duration "2 minutes"`},
		},
		{
			name: "duration given as a mapping",
			data: minimalConfig + "window:\n  past: {days: 3}\n",
			want: []string{"line 8: window.past: expected a duration, got a mapping"},
		},
		{
			name: "negative window",
			data: minimalConfig + "window:\n  past: -1d\n",
			want: []string{"line 8: window.past: must not be negative, got -24h0m0s"},
		},
		{
			name: "empty window",
			data: minimalConfig + "window:\n  past: 0d\n  future: 0s\n",
			want: []string{"line 7: window: past and future are both zero"},
		},
		{
			name: "negative near_timelines",
			data: minimalConfig + "cache: {redis_url: \"redis://127.0.0.1:6379/0\", near_timelines: -5}\n",
			want: []string{"cache.near_timelines: must be 0 (none) or more, got -5"},
		},
		{
			name: "zero fresh_for",
			data: minimalConfig + "cache: {fresh_for: 0s}\n",
			want: []string{"cache.fresh_for: must be positive"},
		},
		{
			name: "negative timeout",
			data: minimalConfig + "    timeout: -10s\n",
			want: []string{"line 7: sources[0].timeout: must be positive, got -10s"},
		},
		{
			name: "zero timeout",
			data: minimalConfig + "    timeout: 0s\n",
			want: []string{"sources[0].timeout: must be positive, got 0s"},
		},
		{
			name: "max_bytes not a size",
			data: minimalConfig + "    max_bytes: lots\n",
			want: []string{"sources[0].max_bytes: expected a size such as 32MiB, got \"lots\""},
		},
		{
			name: "idle connections above open ones",
			data: minimalConfig + "database_max_conns: 4\ndatabase_max_idle_conns: 8\n",
			want: []string{"database_max_idle_conns: must be between 1 and database_max_conns, got 8"},
		},
		{
			name: "page_size zero",
			data: minimalConfig + "    page_size: 0\n",
			want: []string{"line 7: sources[0].page_size: must be between 1 and 1000, got 0"},
		},
		{
			name: "page_size too large",
			data: minimalConfig + "    page_size: 1001\n",
			want: []string{"sources[0].page_size: must be between 1 and 1000, got 1001"},
		},
		{
			name:    "page_size not a number",
			data:    minimalConfig + "    page_size: many\n",
			want:    []string{`line 7: sources[0].page_size: expected an integer, got "many"`},
			notWant: []string{"between 1 and 1000"}, // the default stays; no second complaint
		},
		{
			name: "duplicate names",
			data: minimalConfig + strings.Replace(strings.TrimPrefix(minimalConfig, "sources:\n"), "Rigshospitalet", "Other", 1) +
				strings.TrimPrefix(minimalConfig, "sources:\n"),
			want: []string{
				`line 7: sources[1].name: duplicate name "rh", also used by sources[0]`,
				`line 12: sources[2].name: duplicate name "rh", also used by sources[0]`,
			},
		},
		{
			name: "bad timezone",
			data: "timezone: Europe/Aarhus\n" + minimalConfig,
			want: []string{`line 1: timezone: unknown time zone "Europe/Aarhus"`},
		},
		{
			name: "invalid name chars",
			data: strings.Replace(minimalConfig, "name: rh", "name: Aarhus UH", 1),
			want: []string{`line 2: sources[0].name: "Aarhus UH" must be lower-case letters, digits and '-'`},
		},
		{
			name: "name with a leading dash",
			data: strings.Replace(minimalConfig, "name: rh", "name: -rh", 1),
			want: []string{`sources[0].name: "-rh" must be`},
		},
		{
			name: "empty sources list",
			data: "sources: []\n",
			want: []string{"line 1: sources: at least one source is required"},
		},
		{
			name: "no sources key",
			data: "listen: 127.0.0.1:8080\n",
			want: []string{"sources: at least one source is required"},
		},
		{
			name: "empty file",
			data: "",
			want: []string{"sources: at least one source is required"},
		},
		{
			name:    "sources not a list",
			data:    "sources:\n  name: rh\n",
			want:    []string{"line 2: sources: expected a list of sources, got a mapping"},
			notWant: []string{"at least one source"},
		},
		{
			name:    "source not a mapping",
			data:    minimalConfig + "  - gp\n",
			want:    []string{`line 7: sources[1]: expected a mapping, got "gp"`},
			notWant: []string{"sources[1].name"},
		},
		{
			name: "relative base_url",
			data: strings.Replace(minimalConfig, "https://fhir.example.dk/r4", "fhir.example.dk/r4", 1),
			want: []string{"line 6: sources[0].base_url: must be an absolute http or https URL"},
		},

		{
			name: "bad listen",
			data: "listen: localhost\n" + minimalConfig,
			want: []string{`line 1: listen: invalid address "localhost"`},
		},
		{
			name: "bad listen port",
			data: "listen: localhost:99999\n" + minimalConfig,
			want: []string{`listen: invalid port in "localhost:99999"`},
		},
		{
			name: "patient identifier system not a URI",
			data: "patient_identifier_system: cpr\n" + minimalConfig,
			want: []string{`line 1: patient_identifier_system: "cpr" is not an absolute URI`},
		},
		{
			name: "repeated key",
			data: "listen: a:1\nlisten: b:2\n" + minimalConfig,
			want: []string{"line 2: listen: repeated key, first given on line 1"},
		},
		{
			name: "string where a mapping belongs",
			data: "cache: 2m\n" + minimalConfig,
			want: []string{`line 1: cache: expected a mapping, got "2m"`},
		},
		{
			name: "YAML syntax error",
			data: "sources: [\n",
			want: []string{"parse YAML: yaml: line"},
		},
		{
			name: "two documents",
			data: minimalConfig + "---\nlisten: :1\n",
			want: []string{"only one YAML document is allowed"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := parseConfigErr(t, tc.data, nil)
			assertErrContains(t, got, tc.want...)
			for _, nw := range tc.notWant {
				if strings.Contains(got, nw) {
					t.Errorf("error contains %q; got:\n%s", nw, got)
				}
			}
		})
	}
}

func TestParseReportsAllProblemsInFileOrder(t *testing.T) {
	data := `sources:
  - name: rh
    display: Rigshospitalet
    sector: hosptal
    kind: feed
    timeout: soon
cache:
  fresh_fo: 1m
`
	got := parseConfigErr(t, data, nil)
	want := []string{
		"line 2: sources[0].base_url: required for kind feed",
		`line 4: sources[0].sector: unknown sector "hosptal"`,
		`line 6: sources[0].timeout: invalid duration "soon"`,
		"line 8: cache.fresh_fo: unknown key",
	}
	lines := strings.Split(got, "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(lines), len(want), got)
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("problem %d: got %q, want prefix %q", i, lines[i], want[i])
		}
	}
}

func TestParseEnvOverrides(t *testing.T) {
	const twoSources = minimalConfig + `  - name: aarhus-uh
    display: AUH
    sector: hospital
    kind: feed
`
	secret := strings.Repeat("k", 40)
	tests := []struct {
		name  string
		env   map[string]string
		check func(t *testing.T, c *Config)
	}{
		{
			name: "base URL per source, '-' as '_', also filling a missing base_url",
			env: map[string]string{
				"OVERBLIK_SOURCE_RH_BASE_URL":        "https://other.example.dk/fhir",
				"OVERBLIK_SOURCE_AARHUS_UH_BASE_URL": "http://127.0.0.1:9999/r4",
			},
			check: func(t *testing.T, c *Config) {
				if got, want := feed(c, 0).BaseURL, "https://other.example.dk/fhir"; got != want {
					t.Errorf("rh: got %q, want %q", got, want)
				}
				if got, want := feed(c, 1).BaseURL, "http://127.0.0.1:9999/r4"; got != want {
					t.Errorf("aarhus-uh: got %q, want %q", got, want)
				}
			},
		},
		{
			name: "listen",
			env: map[string]string{
				"OVERBLIK_LISTEN":                    "0.0.0.0:80",
				"OVERBLIK_SOURCE_AARHUS_UH_BASE_URL": "https://auh.example.dk/r4",
			},
			check: func(t *testing.T, c *Config) {
				if got, want := c.Listen, "0.0.0.0:80"; got != want {
					t.Errorf("got %q, want %q", got, want)
				}
			},
		},
		{
			name: "handle secret",
			env: map[string]string{
				"OVERBLIK_HANDLE_SECRET":             secret,
				"OVERBLIK_SOURCE_AARHUS_UH_BASE_URL": "https://auh.example.dk/r4",
			},
			check: func(t *testing.T, c *Config) {
				if got := string(c.HandleSecret); got != secret {
					t.Errorf("got %q, want %q", got, secret)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, mustParseConfig(t, twoSources, envFunc(tc.env)))
		})
	}
}

func TestParseEnvErrors(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    []string
		notWant []string
	}{
		{
			name:    "invalid base URL names the variable and hides the value",
			env:     map[string]string{"OVERBLIK_SOURCE_RH_BASE_URL": "ftp://hunter2.example.dk"},
			want:    []string{"OVERBLIK_SOURCE_RH_BASE_URL: must be an absolute http or https URL (overrides sources[0].base_url)"},
			notWant: []string{"hunter2", "line 6"},
		},
		{
			name: "invalid listen names the variable",
			env:  map[string]string{"OVERBLIK_LISTEN": "nonsense"},
			want: []string{`OVERBLIK_LISTEN: invalid address "nonsense"`, "(overrides listen)"},
		},
		{
			name:    "short handle secret names the variable and hides the value",
			env:     map[string]string{"OVERBLIK_HANDLE_SECRET": "hunter2"},
			want:    []string{"OVERBLIK_HANDLE_SECRET: the secret is 7 bytes, want at least 32"},
			notWant: []string{"hunter2"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := parseConfigErr(t, minimalConfig, envFunc(tc.env))
			assertErrContains(t, got, tc.want...)
			for _, nw := range tc.notWant {
				if strings.Contains(got, nw) {
					t.Errorf("error contains %q; got:\n%s", nw, got)
				}
			}
		})
	}
}

func TestLoadHandleSecretFile(t *testing.T) {
	key := strings.Repeat("ab", 32) // 64 bytes, as `openssl rand -hex 32` writes
	tests := []struct {
		name       string
		file       string // contents of key.txt next to the config; "" for no file
		env        map[string]string
		wantSecret string
		wantErr    []string
		notWant    []string
	}{
		{name: "relative to the config file, newline dropped", file: key + "\n", wantSecret: key},
		{name: "CRLF dropped", file: key + "\r\n", wantSecret: key},
		{
			name:       "environment wins over the file",
			env:        map[string]string{"OVERBLIK_HANDLE_SECRET": strings.Repeat("e", 32)},
			wantSecret: strings.Repeat("e", 32),
		},
		{name: "missing file", wantErr: []string{"overblik.yaml:1: handle_secret_file: open ", "key.txt"}},
		{
			name:    "short secret names the key and hides the value",
			file:    "hunter2\n",
			wantErr: []string{"overblik.yaml:1: handle_secret_file: the secret is 7 bytes, want at least 32"},
			notWant: []string{"hunter2"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "overblik.yaml")
			if err := os.WriteFile(path, []byte("handle_secret_file: key.txt\n"+minimalConfig), 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.file != "" {
				if err := os.WriteFile(filepath.Join(dir, "key.txt"), []byte(tc.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c, err := Load(path, envFunc(tc.env), testKinds())
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("got no error, want %q", tc.wantErr)
				}
				assertErrContains(t, err.Error(), tc.wantErr...)
				for _, nw := range tc.notWant {
					if strings.Contains(err.Error(), nw) {
						t.Errorf("error contains %q; got:\n%v", nw, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := string(c.HandleSecret); got != tc.wantSecret {
				t.Errorf("got secret %q, want %q", got, tc.wantSecret)
			}
		})
	}
}

// TestLoadSealKeyFile reads cache.seal_key_file as handle_secret_file is
// read, and refuses a key too short for rediscache without showing it.
func TestLoadSealKeyFile(t *testing.T) {
	key := strings.Repeat("cd", 32)
	tests := []struct {
		name    string
		file    string // contents of seal.key next to the config; "" for no file
		want    string
		wantErr string
	}{
		{name: "relative to the config file, newline dropped", file: key + "\n", want: key},
		{name: "missing file", wantErr: "overblik.yaml:2: cache.seal_key_file: open "},
		{name: "short key", file: "hunter2\n", wantErr: "cache.seal_key_file: the key is 7 bytes, want at least 32"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "overblik.yaml")
			if err := os.WriteFile(path, []byte("cache:\n  seal_key_file: seal.key\n"+minimalConfig), 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.file != "" {
				if err := os.WriteFile(filepath.Join(dir, "seal.key"), []byte(tc.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c, err := Load(path, envFunc(nil), testKinds())
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("got no error, want %q", tc.wantErr)
				}
				assertErrContains(t, err.Error(), tc.wantErr)
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("the error shows the key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := string(c.Cache.SealKey); got != tc.want {
				t.Errorf("got key %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.yaml")
	if err := os.WriteFile(broken, []byte("cache:\n  fresh_fo: 1m\n"+minimalConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		path   string
		want   string
		wantIs error
	}{
		{name: "missing file", path: filepath.Join(dir, "nope.yaml"), want: "read config: open ", wantIs: fs.ErrNotExist},
		{name: "problems carry file and line", path: broken, want: broken + ":2: cache.fresh_fo: unknown key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.path, nil, testKinds())
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %T %v, want *Error", err, err)
			}
			assertErrContains(t, err.Error(), tc.want)
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false, want true", err, tc.wantIs)
			}
		})
	}
}

func TestValidateGoBuiltConfig(t *testing.T) {
	valid := func() *Config {
		c := Default()
		s := DefaultSource()
		s.Name, s.Display, s.Sector, s.Kind = "demo-gp", "Demo GP", "gp", "feed"
		s.Section = &feedSection{BaseURL: "http://127.0.0.1:1/fhir", PageSize: 50}
		c.Sources = append(c.Sources, s)
		return c
	}
	tests := []struct {
		name   string
		modify func(c *Config)
		want   []string // empty: valid
	}{
		{name: "defaults plus one source", modify: func(*Config) {}},
		{
			name:   "zero-value source",
			modify: func(c *Config) { c.Sources = append(c.Sources, Source{}) },
			want:   []string{"sources[1].name: required", "sources[1].kind: required", "sources[1].timeout: must be positive", "sources[1].detail: want full or generic"},
		},
		{
			name: "a source without a section gets its kind's defaults",
			modify: func(c *Config) {
				s := DefaultSource()
				s.Name, s.Display, s.Sector, s.Kind = "k", "K", "other", "feed"
				c.Sources = append(c.Sources, s)
			},
			want: []string{"sources[1].base_url: required for kind feed"},
		},
		{
			name:   "a section of another kind",
			modify: func(c *Config) { c.Sources[0].Kind = "push" },
			want:   []string{"sources[0].kind: the source's section is a *config.feedSection, not kind push's"},
		},
		{
			name:   "no timezone",
			modify: func(c *Config) { c.Timezone = "" },
			want:   []string{"timezone: required"},
		},
		{
			name:   "short handle secret",
			modify: func(c *Config) { c.HandleSecret = []byte("short") },
			want:   []string{"handle_secret: the secret is 5 bytes"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.modify(c)
			err := c.Validate(testKinds())
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if got, want := c.Location.String(), DefaultTimezone; got != want {
					t.Errorf("got location %q, want %q", got, want)
				}
				return
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %T %v, want *Error", err, err)
			}
			assertErrContains(t, err.Error(), tc.want...)
		})
	}
}

func TestEnsureHandleSecret(t *testing.T) {
	given := bytes.Repeat([]byte{7}, 32)
	tests := []struct {
		name          string
		secret        []byte
		wantGenerated bool
	}{
		{name: "generates when missing", secret: nil, wantGenerated: true},
		{name: "keeps a configured secret", secret: given, wantGenerated: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &Config{HandleSecret: tc.secret}
			if got := c.EnsureHandleSecret(); got != tc.wantGenerated {
				t.Errorf("generated: got %v, want %v", got, tc.wantGenerated)
			}
			if len(c.HandleSecret) < MinHandleSecretLen {
				t.Errorf("got %d bytes, want at least %d", len(c.HandleSecret), MinHandleSecretLen)
			}
			if !tc.wantGenerated && !bytes.Equal(c.HandleSecret, given) {
				t.Errorf("configured secret changed")
			}
		})
	}
	t.Run("random each time", func(t *testing.T) {
		a, b := &Config{}, &Config{}
		a.EnsureHandleSecret()
		b.EnsureHandleSecret()
		if bytes.Equal(a.HandleSecret, b.HandleSecret) {
			t.Errorf("two generated secrets are equal")
		}
	})
}

func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("../overblik.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{string(example), minimalConfig, "", "sources: [\n", "cache: {fresh_for: 9999999999d}\n", "a: &x [*x]\n"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, nil, testKinds())
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %T, want *Error", err)
			}
			return
		}
		if err := c.Validate(testKinds()); err != nil {
			t.Fatalf("Parse accepted a config Validate rejects: %v", err)
		}
	})
}

// cache.near_timelines: the default when not given, and what is given,
// none included.
func TestNearTimelines(t *testing.T) {
	for data, want := range map[string]int{
		minimalConfig: 2000,
		minimalConfig + "cache: {redis_url: \"redis://127.0.0.1:6379/0\", near_timelines: 0}\n":   0,
		minimalConfig + "cache: {redis_url: \"redis://127.0.0.1:6379/0\", near_timelines: 500}\n": 500,
	} {
		if got := mustParseConfig(t, data, envFunc(nil)).Cache.NearTimelines; got != want {
			t.Errorf("near_timelines of\n%s= %d, want %d", data, got, want)
		}
	}
}
