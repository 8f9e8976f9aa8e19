package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad: no configuration file may panic Load, which reads the files a
// configuration names relative to its own folder. Load answers with a
// configuration that Validate accepts or with a *Error, never both,
// and an error never quotes a secret read from a file. Seeds: the shipped
// configurations, this package's test configurations and ones that name
// each kind of secret file. (FuzzParse covers Parse without a folder.)
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"overblik.example.yaml", "overblik.demo.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, seed := range []string{
		minimalConfig,
		minimalConfig + "handle_secret_file: handle.key\nwindow: {past: 30d, future: 1d12h}\n",
		"sources:\n  - {name: kommune, display: K, sector: municipality, kind: ical, url: \"https://k.example/ical/{identifier}.ics\", identifier_key_file: idkey}\n",
		"sources:\n  - name: gp\n    display: GP\n    sector: gp\n    kind: feed\n    base_url: https://gp.example/r4\n    auth: {kind: bearer, token_file: token}\n" +
			"  - name: rh\n    display: RH\n    sector: hospital\n    kind: feed\n    base_url: https://rh.example/r4\n    auth: {kind: client_credentials, token_url: https://rh.example/token, client_id: o, client_secret_file: secret}\n",
		"sources:\n  - {name: x, display: X, sector: other, kind: feed, base_url: https://x.example, auth: {kind: smart_backend, token_url: https://x.example/t, client_id: o, private_key_file: token, alg: ES384}}\n",
		"api_keys:\n  - {name: demo, key_sha256: " + keyHash + ", role: clinician}\n" + minimalConfig,
		"sources: [\n", "a: &x [*x, *x]\nb: *x\n", "---\nsources: []\n---\n", "cache: {fresh_for: 9999999999d}\n",
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	const secret = "0123456789abcdef0123456789abcdef-qz7Xv3Kp9" // every secret file holds it
	for _, name := range []string{"handle.key", "idkey", "token", "secret"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(secret+"\n"), 0o600); err != nil {
			f.Fatal(err)
		}
	}
	path := filepath.Join(dir, "overblik.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		// Reading a device would only test the device.
		if strings.Contains(string(data), "/dev/") || strings.Contains(string(data), "/proc/") {
			return
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path, func(string) string { return "" }, testKinds())
		switch {
		case err != nil && c != nil:
			t.Fatalf("Load returned a configuration and %v", err)
		case err != nil:
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %T, want *Error", err)
			}
			if strings.Contains(err.Error(), "qz7Xv3Kp9") && !strings.Contains(string(data), "qz7Xv3Kp9") {
				t.Fatalf("an error quotes a secret file: %v", err)
			}
		case c == nil:
			t.Fatal("Load returned neither a configuration nor an error")
		default:
			if err := c.Validate(testKinds()); err != nil {
				t.Fatalf("Load accepted a configuration Validate rejects: %v", err)
			}
		}
	})
}
