package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"net/smtp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Message is one notice as a sender gets it.
type Message struct {
	// Key is the notice's idempotency key: the same for every attempt, so
	// a receiver that remembers keys drops a second delivery (after a crash
	// between sending and marking it sent). Hex, no personal data.
	Key     string
	Kind    Kind
	Channel Channel
	// To is the recipient's address. Personal data: never log it.
	To      string
	Lang    string
	Subject string
	Text    string // the body, the link in it
	Link    string
	Created time.Time
}

// Sender delivers notices of one channel; an error is a failed attempt,
// retried later.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// SMTP sends notices as plain-text e-mail.
type SMTP struct {
	Addr string // host:port of the submission server
	// From is the sender, "Overblik <noreply@example.org>" or a bare address.
	From string
	// Username and Password authenticate with PLAIN, which net/smtp sends
	// only over TLS (or to localhost).
	Username string
	Password []byte
	// StartTLS requires STARTTLS before anything is sent: a server that
	// does not offer it gets nothing.
	StartTLS bool
	// TLS configures it; nil verifies the server against the system roots
	// under the host of Addr.
	TLS *tls.Config
}

// Send implements Sender.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	from, err := mail.ParseAddress(s.From)
	if err != nil {
		return fmt.Errorf("smtp: from: %w", err)
	}
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return fmt.Errorf("smtp: addr: %w", err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp: %w", err)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if s.StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("smtp: the server offers no STARTTLS, and starttls is required")
		}
		cfg := s.TLS
		if cfg == nil {
			cfg = &tls.Config{}
		}
		cfg = cfg.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
		cfg.MinVersion = max(cfg.MinVersion, tls.VersionTLS12)
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("smtp: starttls: %w", err)
		}
	}
	if s.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.Username, string(s.Password), host)); err != nil {
			return fmt.Errorf("smtp: auth: %w", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("smtp: mail from: %w", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return fmt.Errorf("smtp: rcpt: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp: data: %w", err)
	}
	if _, err := w.Write(email(from, m)); err != nil {
		return fmt.Errorf("smtp: data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp: data: %w", err)
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("smtp: quit: %w", err)
	}
	return nil
}

// email is m as an RFC 5322 message. Its Message-ID is the idempotency key,
// which a mail system that drops duplicates goes by.
func email(from *mail.Address, m Message) []byte {
	domain := "overblik.invalid"
	if _, d, ok := strings.Cut(from.Address, "@"); ok && d != "" {
		domain = d
	}
	var b bytes.Buffer
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", from.String())
	h("To", (&mail.Address{Address: m.To}).String())
	h("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	h("Date", m.Created.Format(time.RFC1123Z))
	h("Message-ID", "<"+m.Key+"@"+domain+">")
	h("Auto-Submitted", "auto-generated")
	h("Content-Language", m.Lang)
	h("MIME-Version", "1.0")
	h("Content-Type", `text/plain; charset="utf-8"`)
	h("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ReplaceAll(m.Text, "\n", "\r\n")))
	qp.Close()
	return b.Bytes()
}

// Webhook posts notices as JSON to one URL, signed: X-Overblik-Signature is
// "sha256=" and the hex HMAC-SHA256 under the shared secret of the
// timestamp in X-Overblik-Timestamp (Unix seconds), a dot and the body, so
// a receiver that checks the signature and refuses old timestamps cannot be
// fed a recorded request again. Idempotency-Key carries the notice's key.
type Webhook struct {
	URL    string
	Secret []byte
	Client *http.Client // nil: one with a 30 s timeout
	Now    func() time.Time
}

// Headers of a webhook request.
const (
	HeaderSignature = "X-Overblik-Signature"
	HeaderTimestamp = "X-Overblik-Timestamp"
	HeaderIdemKey   = "Idempotency-Key"
)

// WebhookBody is what a webhook receives.
type WebhookBody struct {
	ID      string    `json:"id"` // the idempotency key
	Kind    Kind      `json:"kind"`
	To      string    `json:"to"` // whom the receiver knows the person by
	Lang    string    `json:"lang"`
	Subject string    `json:"subject"`
	Text    string    `json:"text"`
	Link    string    `json:"link"`
	Created time.Time `json:"created"`
}

// Sign is the signature header's value for body sent at ts.
func Sign(secret []byte, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(strconv.FormatInt(ts, 10) + "."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Send implements Sender: any answer but 2xx is a failed attempt.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(WebhookBody{ID: m.Key, Kind: m.Kind, To: m.To, Lang: m.Lang, Subject: m.Subject, Text: m.Text, Link: m.Link, Created: m.Created})
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	ts := now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderIdemKey, m.Key)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(w.Secret, ts, body))
	hc := w.Client
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		var uerr interface{ Unwrap() error }
		if errors.As(err, &uerr) && uerr.Unwrap() != nil {
			err = uerr.Unwrap() // the url.Error would repeat the URL
		}
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook: answered %s", resp.Status)
	}
	return nil
}

// Mailbox keeps notices in memory instead of sending them: the demo's
// mailbox at /demo/mail. It holds the newest max.
type Mailbox struct {
	mu   sync.Mutex
	max  int
	msgs []Message
}

// NewMailbox returns a mailbox of the newest max notices.
func NewMailbox(max int) *Mailbox { return &Mailbox{max: max} }

// Send implements Sender.
func (b *Mailbox) Send(_ context.Context, m Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.msgs = append(b.msgs, m)
	if len(b.msgs) > b.max {
		b.msgs = b.msgs[len(b.msgs)-b.max:]
	}
	return nil
}

// Messages are the notices kept, newest first.
func (b *Mailbox) Messages() []Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Message, len(b.msgs))
	for i, m := range b.msgs {
		out[len(b.msgs)-1-i] = m
	}
	return out
}
