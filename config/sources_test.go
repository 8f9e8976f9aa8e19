package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSourceOptionsAndSecrets(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("client-secret-value\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "feed.key"), []byte("0123456789abcdef0123"), 0o600)
	yaml := `
cache:
  redis_url: redis://127.0.0.1:6379/0
  ttl: 7d
sources:
  - name: auh
    display: AUH
    sector: hospital
    kind: fhir
    base_url: https://fhir.example.dk/r4
    include: false
    incremental: true
    full_reread: 12h
    detail: generic
    auth:
      kind: client_credentials
      token_url: https://auth.example.dk/token
      client_id: overblik
      client_secret_file: secret.txt
  - name: gp
    display: GP
    sector: gp
    kind: fhir
    base_url: https://fhir.example-gp.dk
    auth: {kind: bearer}
  - name: kommune
    display: Kommune
    sector: municipality
    kind: ical
    url: https://kommune.example.dk/ical/{identifier}.ics
    identifier_key_file: feed.key
`
	path := filepath.Join(dir, "overblik.yaml")
	os.WriteFile(path, []byte(yaml), 0o644)
	env := map[string]string{"OVERBLIK_SOURCE_GP_TOKEN": "gp-token-value"}
	cfg, err := Load(path, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	auh, gp, kommune := cfg.Sources[0], cfg.Sources[1], cfg.Sources[2]
	if auh.Include || !auh.Incremental || auh.FullReread != 12*time.Hour || auh.Detail != "generic" {
		t.Errorf("auh options = include %v incremental %v full_reread %v detail %q", auh.Include, auh.Incremental, auh.FullReread, auh.Detail)
	}
	if string(auh.Auth.ClientSecret) != "client-secret-value" {
		t.Errorf("client secret read from file = %q", auh.Auth.ClientSecret)
	}
	if string(gp.Auth.Token) != "gp-token-value" || !gp.Include {
		t.Errorf("gp token from the environment = %q, include %v (default true)", gp.Auth.Token, gp.Include)
	}
	if string(kommune.IdentifierKey) != "0123456789abcdef0123" || kommune.URL == "" {
		t.Errorf("ical source = %+v", kommune)
	}
	if cfg.Cache.RedisURL == "" || cfg.Cache.TTL != 7*24*time.Hour || cfg.Cache.RedisPrefix != DefaultRedisPrefix {
		t.Errorf("cache = %+v", cfg.Cache)
	}
}

func TestSourceOptionErrors(t *testing.T) {
	base := func(extra string) string {
		return "sources:\n  - name: s\n    display: S\n    sector: gp\n" + extra
	}
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want string
		hide string // must not appear in the error
	}{
		{"ical needs url", base("    kind: ical\n"), nil, "sources[0].url: required for kind ical", ""},
		{"ical url without placeholder", base("    kind: ical\n    url: https://k.example/feed.ics\n"), nil, "must contain {identifier}", ""},
		{"identifier in the host", base("    kind: ical\n    url: https://{identifier}.k.example/feed\n"), nil, "without {identifier} in it", ""},
		{"url on a fhir source", base("    kind: fhir\n    base_url: https://f.example\n    url: https://k.example/{identifier}\n"), nil, "sources[0].url: is for kind ical", ""},
		{"bad detail", base("    kind: fhir\n    base_url: https://f.example\n    detail: some\n"), nil, "sources[0].detail: want full or generic", ""},
		{"bad boolean", base("    kind: fhir\n    base_url: https://f.example\n    include: maybe\n"), nil, "sources[0].include: expected true or false", ""},
		{"unknown auth kind", base("    kind: fhir\n    base_url: https://f.example\n    auth: {kind: saml}\n"), nil, "sources[0].auth.kind: unknown kind", ""},
		{"unknown auth key", base("    kind: fhir\n    base_url: https://f.example\n    auth: {kind: bearer, token: abc}\n"), nil, "sources[0].auth.token: unknown key", ""},
		{"bearer without token", base("    kind: fhir\n    base_url: https://f.example\n    auth: {kind: bearer}\n"), nil, "sources[0].auth.token_file: required", ""},
		{"smart backend needs key and alg", base("    kind: fhir\n    base_url: https://f.example\n    auth: {kind: smart_backend, token_url: https://a.example/t, client_id: c}\n"), nil, "sources[0].auth.private_key_file: required", ""},
		{"smart backend alg", base("    kind: fhir\n    base_url: https://f.example\n    auth: {kind: smart_backend, token_url: https://a.example/t, client_id: c, alg: HS256}\n"), nil, "sources[0].auth.alg: want RS384 or ES384", ""},
		{"missing secret file", base("    kind: fhir\n    base_url: https://f.example\n    auth: {kind: client_credentials, token_url: https://a.example/t, client_id: c, client_secret_file: /nonexistent/secret}\n"), nil, "sources[0].auth.client_secret_file", ""},
		{"redis url scheme", "cache: {redis_url: 'http://user:hunter2@r.example'}\n" + base("    kind: fhir\n    base_url: https://f.example\n"), nil, "cache.redis_url: want a redis://", "hunter2"},
		{"redis url from env", base("    kind: fhir\n    base_url: https://f.example\n"), map[string]string{"OVERBLIK_REDIS_URL": "ftp://:hunter2@x"}, "OVERBLIK_REDIS_URL", "hunter2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), func(k string) string { return tc.env[k] })
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if tc.hide != "" && strings.Contains(err.Error(), tc.hide) {
				t.Errorf("error %q reveals %q", err, tc.hide)
			}
		})
	}
}

func TestConflictRulesConfig(t *testing.T) {
	src := "sources:\n  - {name: s, display: S, sector: gp, kind: fhir, base_url: 'https://f.example'}\n"
	cfg, err := Parse([]byte(`conflicts:
  travel: {speed_kmh: 20.5, buffer: 15m}
  heavy_day: {off: true}
  booked_twice: {days: 30, severity: high}
  during_admission: {ongoing: -1s}
`+src), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Conflicts
	if r.Travel.SpeedKMH != 20.5 || r.Travel.Buffer != 15*time.Minute || !r.HeavyDay.Off || r.BookedTwice.Days != 30 ||
		r.BookedTwice.Severity != "high" || r.DuringAdmission.Ongoing >= 0 || r.Overlap.Off {
		t.Errorf("conflict rules = %+v", r)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"conflicts: {overlap: {severity: urgent}}\n", "conflicts.overlap.severity: want high, medium or low"},
		{"conflicts: {heavy_day: {max: -1}}\n", "conflicts.heavy_day.max: must not be negative"},
		{"conflicts: {travel: {speed_kmh: fast}}\n", "conflicts.travel.speed_kmh: expected a number"},
		{"conflicts: {teleport: {off: true}}\n", "conflicts.teleport: unknown key"},
	} {
		if _, err := Parse([]byte(tc.yaml+src), nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

func TestRefreshConfig(t *testing.T) {
	src := "sources:\n  - {name: s, display: S, sector: gp, kind: fhir, base_url: 'https://f.example', change_feed: true}\n"
	cfg, err := Parse([]byte("refresh: {enabled: false, every: 30s, viewed_within: 7d, per_source: 2}\ncache: {keep_changes: 30d}\n"+src), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Refresh.Enabled || cfg.Refresh.Every != 30*time.Second || cfg.Refresh.ViewedWithin != 7*24*time.Hour || cfg.Refresh.PerSource != 2 ||
		cfg.Cache.KeepChanges != 30*24*time.Hour || !cfg.Sources[0].ChangeFeed {
		t.Errorf("refresh %+v, keep_changes %v, change_feed %v", cfg.Refresh, cfg.Cache.KeepChanges, cfg.Sources[0].ChangeFeed)
	}
	def, err := Parse([]byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !def.Refresh.Enabled || def.Refresh.Every != time.Minute || def.Refresh.ViewedWithin != 30*24*time.Hour {
		t.Errorf("default refresh = %+v, want enabled for patients viewed in 30 days", def.Refresh)
	}
	if _, err := Parse([]byte("refresh: {per_source: 0}\n"+src), nil); err == nil || !strings.Contains(err.Error(), "refresh.per_source") {
		t.Errorf("per_source 0: %v", err)
	}
}
