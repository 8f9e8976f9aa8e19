package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// keyHash is the SHA-256 of "a-key-only-these-tests-know".
const keyHash = "78726d1cd080c7a6bb423be2c97471a2abaf326c9231efcbc8622bd481d8946a"

// demoKeyHash is the SHA-256 of the demo's public key, "demo-clinician-key".
const demoKeyHash = "14e98ee7a4f52e2a086b5926dfdb043240096ab555e453417bf0926d73a335ed"

func TestParseAccessSections(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := minimalConfig + `auth:
  issuer: https://login.example.dk
  client_id: overblik
  client_secret_file: secret
  redirect_url: https://overblik.example.dk/auth/callback
  scopes: [profile, cpr]
  roles_claim: overblik_roles
  idle_timeout: 10m
api_keys:
  - {name: journal, key_sha256: ` + keyHash + `, role: clinician}
database_path: access.db
`
	path := filepath.Join(dir, "overblik.yaml")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, func(string) string { return "" }, testKinds())
	if err != nil {
		t.Fatal(err)
	}
	l := c.Login
	if l.Issuer != "https://login.example.dk" || l.ClientID != "overblik" || string(l.ClientSecret) != "s3cret" ||
		strings.Join(l.Scopes, ",") != "profile,cpr" || l.RolesClaim != "overblik_roles" || l.IdleTimeout != 10*time.Minute {
		t.Errorf("auth = %+v", l)
	}
	if len(c.APIKeys) != 1 || c.APIKeys[0] != (APIKeyConfig{Name: "journal", KeySHA256: keyHash, Role: "clinician"}) {
		t.Errorf("api_keys = %+v", c.APIKeys)
	}
	if c.DatabasePath != filepath.Join(dir, "access.db") {
		t.Errorf("database_path = %q, want it next to the configuration", c.DatabasePath)
	}
	if !c.LoginConfigured() {
		t.Error("LoginConfigured: false with auth.issuer given")
	}

	env := map[string]string{EnvAuthClientSecret: "from-env", EnvDatabaseURL: "postgres://u:pw@db/overblik"}
	c = mustParseConfig(t, minimalConfig+"auth: {issuer: https://x.dk, client_id: o, redirect_url: https://o.dk/auth/callback}\n",
		func(k string) string { return env[k] })
	if string(c.Login.ClientSecret) != "from-env" || c.DatabaseURL != env[EnvDatabaseURL] {
		t.Errorf("environment not applied: secret %q, database_url set %v", c.Login.ClientSecret, c.DatabaseURL != "")
	}
}

func TestAccessConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		want       []string
		notWant    []string
	}{
		{
			name: "auth without issuer",
			data: "auth: {client_id: overblik}\n",
			want: []string{"auth.issuer: required when auth is given"},
		},
		{
			name: "auth incomplete",
			data: "auth: {issuer: login.example.dk}\n",
			want: []string{"auth.issuer: want an absolute http(s) URL", "auth.client_id: required", "auth.redirect_url: want an absolute"},
		},
		{
			name: "bad API keys",
			data: "api_keys:\n  - {name: a, key_sha256: not-hex-at-all, role: doctor}\n  - {key_sha256: " + keyHash + ", role: admin}\n  - {name: a, key_sha256: " + keyHash + ", role: admin}\n",
			want: []string{"api_keys[0].key_sha256: want the SHA-256 of the key as 64 hex digits: make a key with `head -c 32 /dev/urandom | base64`",
				"| sha256sum` here or in OVERBLIK_API_KEY_A_SHA256", `api_keys[0].role: unknown role "doctor"`, "api_keys[1].name: required", `api_keys[2].name: "a" is used twice`},
			notWant: []string{"not-hex-at-all"},
		},
		{
			name: "the old example's key and the demo's",
			data: "api_keys:\n  - {name: care-coordination, key_sha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8, role: clinician}\n" +
				"  - {name: demo-clinician, key_sha256: " + demoKeyHash + ", role: clinician}\n",
			want: []string{`api_keys[0].key_sha256: the API key "care-coordination" is the key of the old overblik.example.yaml ("password"), which anyone can send: make a key of your own with ` + "`head -c 32 /dev/urandom | base64`",
				`api_keys[1].key_sha256: the API key "demo-clinician" is the public key of the demo ("demo-clinician-key")`},
		},
		{
			name: "issuer over plain http",
			data: "auth: {issuer: http://login.example.dk, client_id: o, redirect_url: https://o.dk/auth/callback}\n",
			want: []string{"auth.issuer: must be https (plain http only for a provider on loopback)"},
		},
		{
			name: "audience of ID tokens",
			data: "auth: {issuer: https://login.example.dk, client_id: o, redirect_url: https://o.dk/auth/callback, audience: o}\n",
			want: []string{"auth.audience: must not be the client_id"},
		},
		{
			name: "proxies, limits and the metrics listener",
			data: "trusted_proxies: [10.0.0.0/8, proxy.internal]\nrate_limits: {login: 0, lookup: -1, failed_bearer: many}\nmetrics_listen: 9090\n",
			want: []string{`trusted_proxies: "proxy.internal" is neither a CIDR`, "rate_limits.login: must be at least 1 a minute, got 0",
				"rate_limits.lookup: must be at least 1 a minute, got -1", `rate_limits.failed_bearer: expected an integer, got "many"`,
				`metrics_listen: invalid address "9090": want host:port`},
		},
		{
			name:    "database URL",
			data:    "database_url: mysql://root:hunter2@db/overblik\n",
			want:    []string{"database_url: want a postgres:// URL"},
			notWant: []string{"hunter2"},
		},
		{
			name: "unknown key in auth",
			data: "auth: {issuer: https://x.dk, client_id: o, redirect_url: https://o.dk/cb, secret: x}\n",
			want: []string{"auth.secret: unknown key"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseConfigErr(t, minimalConfig+tc.data, nil)
			assertErrContains(t, got, tc.want...)
			for _, nw := range tc.notWant {
				if strings.Contains(got, nw) {
					t.Errorf("error quotes %q:\n%s", nw, got)
				}
			}
		})
	}
}

// TestHTTPIssuerOnLoopback: a provider on this machine may speak plain http.
func TestHTTPIssuerOnLoopback(t *testing.T) {
	for _, issuer := range []string{"http://127.0.0.1:5556", "http://localhost:5556/realms/x", "http://[::1]:5556", "https://login.example.dk"} {
		mustParseConfig(t, minimalConfig+"auth: {issuer: \""+issuer+"\", client_id: o, redirect_url: https://o.dk/auth/callback}\n", nil)
	}
}

func TestAccessSettings(t *testing.T) {
	c := mustParseConfig(t, minimalConfig, nil)
	if c.MetricsListen != "127.0.0.1:9090" || c.RateLimits != (RateLimitsConfig{Login: 60, Lookup: 30, FailedBearer: 20}) || c.TrustedProxies != nil {
		t.Errorf("defaults: metrics_listen %q, rate_limits %+v, trusted_proxies %v", c.MetricsListen, c.RateLimits, c.TrustedProxies)
	}
	c = mustParseConfig(t, minimalConfig+"metrics_listen: off\ntrusted_proxies: [10.0.0.0/8, 192.0.2.7, \"2001:db8::/48\"]\nrate_limits: {login: 100}\n"+
		"auth: {issuer: https://x.dk, client_id: o, redirect_url: https://o.dk/auth/callback, audience: api://overblik, require_at_jwt: true}\n", nil)
	proxies, err := ParseTrustedProxies(c.TrustedProxies)
	if c.MetricsListener() != "" || err != nil || len(proxies) != 3 || proxies[1].String() != "192.0.2.7/32" ||
		c.RateLimits != (RateLimitsConfig{Login: 100, Lookup: 30, FailedBearer: 20}) || c.Login.Audience != "api://overblik" || !c.Login.RequireATJWT {
		t.Errorf("metrics %q, proxies %v (%v), rate_limits %+v, auth %+v", c.MetricsListener(), proxies, err, c.RateLimits, c.Login)
	}
	if c := mustParseConfig(t, minimalConfig+"metrics_listen: \"\"\n", nil); c.MetricsListener() != "" {
		t.Errorf("metrics_listen empty: %q", c.MetricsListener())
	}
	// The hash of an API key may come from the environment.
	c = mustParseConfig(t, minimalConfig+"api_keys: [{name: care-coordination, key_sha256: REPLACE-ME, role: clinician}]\n",
		envFunc(map[string]string{"OVERBLIK_API_KEY_CARE_COORDINATION_SHA256": keyHash}))
	if c.APIKeys[0].KeySHA256 != keyHash {
		t.Errorf("key_sha256 from the environment: %q", c.APIKeys[0].KeySHA256)
	}
	got := parseConfigErr(t, minimalConfig+"api_keys: [{name: care-coordination, key_sha256: "+keyHash+", role: clinician}]\n",
		envFunc(map[string]string{"OVERBLIK_API_KEY_CARE_COORDINATION_SHA256": demoKeyHash}))
	assertErrContains(t, got, `OVERBLIK_API_KEY_CARE_COORDINATION_SHA256: the API key "care-coordination" is the public key of the demo`, "(overrides api_keys[0].key_sha256)")
}
