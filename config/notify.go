package config

import (
	"bytes"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"

	yaml "go.yaml.in/yaml/v3"

	"github.com/overblik/overblik/notify"
)

// The `notify` section: notices of changes and reminders. Without it no
// notices go out.

// NotifyConfig is `notify`.
type NotifyConfig struct {
	// BaseURL is `base_url`: where people reach overblik, for the link in
	// a notice; default the origin of auth.redirect_url.
	BaseURL     string
	SMTP        *SMTPConfig    // `smtp`: e-mail
	Webhook     *WebhookConfig // `webhook`: a signed POST per notice
	ReminderAt  string         // `reminders.at`, default 18:00
	QuietFrom   string         // `quiet_hours.from`, default 22:00: a person's until they choose their own
	QuietTo     string         // `quiet_hours.to`, default 07:00
	MaxAttempts int            // `max_attempts`, default 5: then a notice is failed and listed on /admin

	// Reminder, QuietStart and QuietEnd are ReminderAt, QuietFrom and
	// QuietTo as Validate read them.
	Reminder, QuietStart, QuietEnd notify.Clock
	// Mailbox: the demo keeps e-mail in its mailbox (not from YAML).
	Mailbox bool
}

// SMTPConfig is `notify.smtp`.
type SMTPConfig struct {
	Addr         string // `addr`: host:port of the submission server
	From         string // `from`: "Overblik <noreply@example.org>"
	Username     string // `username`; none: no authentication
	PasswordFile string // `password_file`
	StartTLS     bool   // `starttls`, default true: nothing is sent to a server that does not offer it
	Details      bool   // `details`: which entries and when in the e-mail; off by default, since e-mail is no place for health data
	Password     []byte // read from PasswordFile
}

// WebhookConfig is `notify.webhook`.
type WebhookConfig struct {
	URL        string // `url`: https (http only to loopback)
	SecretFile string // `secret_file`: the HMAC-SHA256 key, at least 16 bytes
	Details    bool   // `details`: which entries and when in the body
	Secret     []byte // read from SecretFile
}

func (d *decoder) notify(n *yaml.Node, path string) *NotifyConfig {
	c := &NotifyConfig{ReminderAt: "18:00", QuietFrom: "22:00", QuietTo: "07:00", MaxAttempts: 5}
	d.mapping(n, path, map[string]field{
		"base_url": d.str(&c.BaseURL),
		"smtp": func(n *yaml.Node, path string) {
			c.SMTP = &SMTPConfig{StartTLS: true}
			d.mapping(n, path, map[string]field{
				"addr":          d.str(&c.SMTP.Addr),
				"from":          d.str(&c.SMTP.From),
				"username":      d.str(&c.SMTP.Username),
				"password_file": d.str(&c.SMTP.PasswordFile),
				"starttls":      d.boolean(&c.SMTP.StartTLS),
				"details":       d.boolean(&c.SMTP.Details),
			})
		},
		"webhook": func(n *yaml.Node, path string) {
			c.Webhook = &WebhookConfig{}
			d.mapping(n, path, map[string]field{
				"url":         d.str(&c.Webhook.URL),
				"secret_file": d.str(&c.Webhook.SecretFile),
				"details":     d.boolean(&c.Webhook.Details),
			})
		},
		"reminders": func(n *yaml.Node, path string) {
			d.mapping(n, path, map[string]field{"at": d.str(&c.ReminderAt)})
		},
		"quiet_hours": func(n *yaml.Node, path string) {
			d.mapping(n, path, map[string]field{"from": d.str(&c.QuietFrom), "to": d.str(&c.QuietTo)})
		},
		"max_attempts": d.integer(&c.MaxAttempts),
	})
	return c
}

// readNotifySecrets reads the SMTP password and the webhook secret,
// relative to the configuration's folder.
func (d *decoder) readNotifySecrets(c *Config, dir string) {
	if c.Notify == nil {
		return
	}
	read := func(key, p string) []byte {
		if p == "" {
			return nil
		}
		if !filepath.IsAbs(p) && dir != "" {
			p = filepath.Join(dir, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			d.problem(d.line(key), key, "%v", err)
			return nil
		}
		return bytes.TrimRight(b, "\r\n")
	}
	if s := c.Notify.SMTP; s != nil {
		s.Password = read("notify.smtp.password_file", s.PasswordFile)
	}
	if w := c.Notify.Webhook; w != nil {
		w.Secret = read("notify.webhook.secret_file", w.SecretFile)
	}
}

// validateNotify checks `notify`.
func (c *Config) validateNotify(add func(key, format string, args ...any)) {
	n := c.Notify
	if n == nil {
		return
	}
	if n.SMTP == nil && n.Webhook == nil && !n.Mailbox {
		add("notify", "needs smtp or webhook (or both): notices have no way to go")
	}
	if n.BaseURL == "" && c.Login.RedirectURL != "" {
		if u, err := url.Parse(c.Login.RedirectURL); err == nil {
			n.BaseURL = u.Scheme + "://" + u.Host
		}
	}
	if n.BaseURL == "" {
		add("notify.base_url", "required (where people reach overblik, for the link in a notice) unless auth.redirect_url gives it")
	} else if u, err := url.Parse(n.BaseURL); err != nil || (u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname()))) || u.Host == "" {
		add("notify.base_url", "must be an absolute https URL (http only on loopback)")
	}
	var err error
	if n.Reminder, err = notify.ParseClock(n.ReminderAt); err != nil {
		add("notify.reminders.at", "%v", err)
	}
	if n.QuietStart, err = notify.ParseClock(n.QuietFrom); err != nil {
		add("notify.quiet_hours.from", "%v", err)
	}
	if n.QuietEnd, err = notify.ParseClock(n.QuietTo); err != nil {
		add("notify.quiet_hours.to", "%v", err)
	}
	if n.MaxAttempts < 1 || n.MaxAttempts > 100 {
		add("notify.max_attempts", "must be between 1 and 100, got %d", n.MaxAttempts)
	}
	if s := n.SMTP; s != nil {
		host, _, err := net.SplitHostPort(s.Addr)
		if err != nil || host == "" {
			add("notify.smtp.addr", "want host:port, e.g. smtp.example.org:587")
		}
		if a, err := mail.ParseAddress(s.From); err != nil || a.Address == "" {
			add("notify.smtp.from", "want an address, e.g. Overblik <noreply@example.org>")
		}
		if s.Username != "" && s.PasswordFile == "" {
			add("notify.smtp.password_file", "required with username")
		}
		if s.Username != "" && !s.StartTLS && !loopback(host) {
			add("notify.smtp.starttls", "must be on to send a password to a server not on loopback")
		}
	}
	if w := n.Webhook; w != nil {
		u, err := url.Parse(w.URL)
		switch {
		case w.URL == "" || err != nil || u.Host == "":
			add("notify.webhook.url", "want an absolute https URL")
		case u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname())):
			add("notify.webhook.url", "must be https (http only on loopback)")
		case u.User != nil:
			add("notify.webhook.url", "must not carry credentials")
		}
		if w.SecretFile == "" {
			add("notify.webhook.secret_file", "required: receivers check the signature with it")
		} else if w.Secret != nil && len(w.Secret) < 16 {
			add("notify.webhook.secret_file", "the secret is %d bytes, want at least 16", len(w.Secret))
		}
	}
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
