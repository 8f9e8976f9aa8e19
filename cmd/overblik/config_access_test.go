package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const keyHash = "14e98ee7a4f52e2a086b5926dfdb043240096ab555e453417bf0926d73a335ed"

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
	c, err := Load(path, func(string) string { return "" })
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
	if err := requireAuthMethod(c); err != nil {
		t.Errorf("requireAuthMethod: %v", err)
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
			name:    "bad API keys",
			data:    "api_keys:\n  - {name: a, key_sha256: not-hex-at-all, role: doctor}\n  - {key_sha256: " + keyHash + ", role: admin}\n  - {name: a, key_sha256: " + keyHash + ", role: admin}\n",
			want:    []string{"api_keys[0].key_sha256: want 64 hex digits", `api_keys[0].role: unknown role "doctor"`, "api_keys[1].name: required", `api_keys[2].name: "a" is used twice`},
			notWant: []string{"not-hex-at-all"},
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

// TestServeRefusesWithoutAuthentication: serve with no login and no API
// keys exits with status 2 and says why, before it listens.
func TestServeRefusesWithoutAuthentication(t *testing.T) {
	path := filepath.Join(t.TempDir(), "overblik.yaml")
	if err := os.WriteFile(path, []byte("listen: 0.0.0.0:0\n"+minimalConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	got := run(context.Background(), []string{"serve", "--config", path}, &stdout, &stderr, func(string) string { return "" })
	if got != exitUsage {
		t.Fatalf("exit = %d, want %d; stderr: %s", got, exitUsage, stderr.String())
	}
	if !strings.Contains(stderr.String(), "no authentication method configured") || stdout.Len() != 0 {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
}
