package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/overblik/overblik/notify"
)

func TestParseNotify(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"smtp-password": "pw\n", "webhook-secret": "a-secret-of-24-bytes-ok\n", "short": "short"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	load := func(t *testing.T, yaml string) (*Config, error) {
		t.Helper()
		path := filepath.Join(dir, "overblik.yaml")
		if err := os.WriteFile(path, []byte(minimalConfig+yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return Load(path, func(string) string { return "" }, testKinds())
	}

	c, err := load(t, `auth: {issuer: https://login.example.dk, client_id: o, redirect_url: https://overblik.example.dk/auth/callback}
notify:
  smtp: {addr: "smtp.example.dk:587", from: "Overblik <noreply@example.dk>", username: overblik, password_file: smtp-password}
  webhook: {url: "https://app.region.example/hook", secret_file: webhook-secret, details: true}
  reminders: {at: "17:30"}
  quiet_hours: {from: "21:00", to: "08:15"}
  max_attempts: 7
`)
	if err != nil {
		t.Fatal(err)
	}
	n := c.Notify
	if n == nil || n.BaseURL != "https://overblik.example.dk" || n.MaxAttempts != 7 || n.Reminder.String() != "17:30" ||
		n.QuietStart.String() != "21:00" || n.QuietEnd.String() != "08:15" {
		t.Fatalf("notify = %+v", n)
	}
	if s := n.SMTP; s == nil || s.Addr != "smtp.example.dk:587" || !s.StartTLS || string(s.Password) != "pw" || s.Details {
		t.Errorf("smtp = %+v (starttls on and details off by default)", s)
	}
	if w := n.Webhook; w == nil || string(w.Secret) != "a-secret-of-24-bytes-ok" || !w.Details {
		t.Errorf("webhook = %+v", w)
	}

	// Defaults, and none at all.
	c, err = load(t, "notify: {base_url: https://o.example.dk, smtp: {addr: \"127.0.0.1:25\", from: o@example.dk}}\n")
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Notify; n.Reminder != notify.DefaultReminderAt || n.QuietStart != notify.DefaultQuietFrom || n.QuietEnd != notify.DefaultQuietTo || n.MaxAttempts != 5 {
		t.Errorf("defaults: %+v", n)
	}
	if c, err := load(t, ""); err != nil || c.Notify != nil {
		t.Errorf("without notify: %+v, %v; want no notices", c.Notify, err)
	}

	for _, tc := range []struct{ yaml, key string }{
		{"notify: {smtp: {addr: \"x:25\", from: o@x.dk}}\n", "notify.base_url"},
		{"notify: {base_url: https://o.dk}\n", "notify"},
		{"notify: {base_url: http://o.dk, smtp: {addr: \"x:25\", from: o@x.dk}}\n", "notify.base_url"},
		{"notify: {base_url: https://o.dk, smtp: {addr: nohost, from: o@x.dk}}\n", "notify.smtp.addr"},
		{"notify: {base_url: https://o.dk, smtp: {addr: \"x:25\", from: nobody}}\n", "notify.smtp.from"},
		{"notify: {base_url: https://o.dk, smtp: {addr: \"x:25\", from: o@x.dk, username: u}}\n", "notify.smtp.password_file"},
		{"notify: {base_url: https://o.dk, smtp: {addr: \"x.dk:25\", from: o@x.dk, username: u, password_file: smtp-password, starttls: false}}\n", "notify.smtp.starttls"},
		{"notify: {base_url: https://o.dk, webhook: {url: \"http://app.example/hook\", secret_file: webhook-secret}}\n", "notify.webhook.url"},
		{"notify: {base_url: https://o.dk, webhook: {url: \"https://app.example/hook\"}}\n", "notify.webhook.secret_file"},
		{"notify: {base_url: https://o.dk, webhook: {url: \"https://app.example/hook\", secret_file: short}}\n", "notify.webhook.secret_file"},
		{"notify: {base_url: https://o.dk, webhook: {url: \"https://app.example/hook\", secret_file: missing}}\n", "notify.webhook.secret_file"},
		{"notify: {base_url: https://o.dk, smtp: {addr: \"x:25\", from: o@x.dk}, reminders: {at: \"6pm\"}}\n", "notify.reminders.at"},
		{"notify: {base_url: https://o.dk, smtp: {addr: \"x:25\", from: o@x.dk}, quiet_hours: {from: \"25:00\"}}\n", "notify.quiet_hours.from"},
		{"notify: {base_url: https://o.dk, smtp: {addr: \"x:25\", from: o@x.dk}, max_attempts: 0}\n", "notify.max_attempts"},
		{"notify: {base_url: https://o.dk, smtp: {addr: \"x:25\", from: o@x.dk, tls: true}}\n", "notify.smtp.tls"},
	} {
		_, err := load(t, tc.yaml)
		var ce *Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.key+":") {
			t.Errorf("%s: error %v, want one about %s", strings.TrimSpace(tc.yaml), err, tc.key)
		}
		if err != nil && (strings.Contains(err.Error(), "a-secret-of") || strings.Contains(err.Error(), ": pw")) {
			t.Errorf("an error quotes a secret: %v", err)
		}
	}
}
