// Package ical is a timeline source that reads a patient's iCalendar
// (RFC 5545) feed, as many municipal care-planning systems export one. It
// proves that aggregator.Source is not FHIR-shaped and is the model for a
// non-FHIR connector.
//
// # Which feed is the patient's
//
// The feed URL is a template holding {identifier}, e.g.
// https://kommune.example/ical/{identifier}.ics. The identifier is the
// patient's identifier in IdentifierSystem (by default the CPR number),
// either as is or, when IdentifierKey is set, as the lowercase hex
// HMAC-SHA256 of the value under that key, shared with the feed's operator.
// A plain hash is not offered: there are few enough CPR numbers to hash them
// all. {identifier} may not appear in the host (it would leak into DNS), and
// the expanded URL never appears in an error: as is, it is personal data.
// A patient known only by another identifier system gets NotFound.
//
// A feed may say whose calendar it is with X-PATIENT-ID on the VCALENDAR or
// on each VEVENT (the event's wins): the identifier as the feed knows it,
// the value or its HMAC, dashes and case aside. Events that name another
// patient are dropped, counted as skipped with a note: a feed that mixes
// people's calendars must not show them to one another. Events that name
// nobody are read.
//
// # What is read
//
// Every VEVENT of the feed:
//
//   - DTSTART and DTEND or DURATION. DATE values are all-day in the
//     configured zone. TZID names an IANA zone, also behind a vendor prefix
//     (/mozilla.org/.../Europe/Copenhagen), or a common Windows zone; any
//     other name is read in the configured zone with a warning (VTIMEZONE
//     rules are not read). Floating times are read in the calendar's
//     X-WR-TIMEZONE if it names a zone, else in the configured zone.
//   - STATUS (CANCELLED stays, marked), SUMMARY, DESCRIPTION, LOCATION, GEO,
//     ORGANIZER's CN, CLASS (PRIVATE, CONFIDENTIAL and unknown classes are
//     restricted), LAST-MODIFIED, SEQUENCE.
//   - UID and RECURRENCE-ID: the entry id is a hash of them, since a UID is
//     free text and may hold personal data.
//   - CONFERENCE (RFC 7986), vendor meeting links and CATEGORIES for video,
//     phone and home visits; URL is the link of a video event without one.
//   - Recurring events, for the rules care-planning feeds use: FREQ DAILY,
//     WEEKLY or MONTHLY (on DTSTART's day), INTERVAL, COUNT, UNTIL, plain
//     BYDAY, WKST, EXDATE, and instances moved by RECURRENCE-ID. An event
//     with another rule is skipped with a note; RDATE's extra instances are
//     missing, with a warning.
//
// Events outside the window are left out; an event that cannot be read is
// skipped and counted; a feed that cannot be read as a whole (cut off,
// not a calendar, over MaxBytes) is an Invalid error.
package ical

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/fhir"
)

// Defaults for Config fields left at zero.
const (
	DefaultIdentifierSystem = "urn:oid:1.2.208.176.1.2" // CPR
	DefaultMaxBytes         = 4 << 20
)

const placeholder = "{identifier}"

// Config describes one feed. Its fields tagged yaml are the source's own
// keys in the configuration (config.go); Open fills the others from the
// keys every source has.
type Config struct {
	Name   string // unique; part of every entry id
	Sector aggregator.Sector
	// URL is an absolute http(s) URL template with {identifier} in its path
	// or query.
	URL string `yaml:"url" env:"URL"`
	// IdentifierSystem is the identifier system the feed knows patients
	// by; Open's default is the configuration's patient_identifier_system.
	IdentifierSystem string `yaml:"identifier_system"`
	// IdentifierKey, when set, sends HMAC-SHA256(key, value) in hex instead
	// of the value itself. At least 16 bytes. ReadFiles reads it from
	// IdentifierKeyFile.
	IdentifierKey     []byte
	IdentifierKeyFile string         `yaml:"identifier_key_file"`
	MaxBytes          int64          // largest feed read; default DefaultMaxBytes
	Location          *time.Location // zone of DATE and floating values; default UTC
	// Generic keeps only time, place, medium, status and sensitivity and
	// marks entries Generic, for the web to show a generic title (the
	// configuration's detail: generic).
	Generic bool
	// Auth is how Open's HTTP client authenticates to the feed; New takes
	// the client instead.
	Auth fhir.AuthConfig `yaml:"auth"`
}

// Source is an iCalendar feed as a timeline source. Safe for concurrent use:
// it is not changed after New.
type Source struct {
	cfg Config
	hc  *http.Client
}

// New returns a connector for cfg that talks HTTP through hc (nil: a plain
// client; deadlines come from the ctx of each Fetch).
func New(cfg Config, hc *http.Client) (*Source, error) {
	if cfg.Name == "" {
		return nil, errors.New("ical: name is required")
	}
	if err := checkTemplate(cfg.URL); err != nil {
		return nil, fmt.Errorf("ical %s: url %w", cfg.Name, err)
	}
	if cfg.IdentifierSystem == "" {
		cfg.IdentifierSystem = DefaultIdentifierSystem
	}
	if cfg.IdentifierKey != nil && len(cfg.IdentifierKey) < 16 {
		return nil, fmt.Errorf("ical %s: identifier key must be at least 16 bytes", cfg.Name)
	}
	if cfg.MaxBytes < 0 {
		return nil, fmt.Errorf("ical %s: negative size limit", cfg.Name)
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if hc == nil {
		hc = &http.Client{}
	}
	return &Source{cfg: cfg, hc: hc}, nil
}

// checkTemplate checks a feed's URL template: absolute http(s), with the
// placeholder outside the host (it would leak into DNS). It never quotes
// the URL.
func checkTemplate(tpl string) error {
	if !strings.Contains(tpl, placeholder) {
		return errors.New("must contain " + placeholder + ", where the patient's identifier goes")
	}
	u, err := url.Parse(strings.ReplaceAll(tpl, placeholder, "x0"))
	if err != nil {
		return errors.New("not a valid URL") // url's error would repeat it
	}
	scheme, rest, _ := strings.Cut(tpl, "://")
	host, _, _ := strings.Cut(rest, "/")
	host, _, _ = strings.Cut(host, "?")
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("must be an absolute http or https URL")
	case u.Host == "" || scheme == "" || strings.Contains(host, placeholder):
		return errors.New("must name a host, without " + placeholder + " in it")
	case u.User != nil:
		return errors.New("must not carry credentials (user:password@): they would leak into logs")
	case u.Fragment != "":
		return errors.New("must not have a fragment")
	}
	return nil
}

func (s *Source) Name() string              { return s.cfg.Name }
func (s *Source) Sector() aggregator.Sector { return s.cfg.Sector }

// Fetch reads the patient's feed and returns its events in w.
func (s *Source) Fetch(ctx context.Context, p aggregator.PatientRef, w aggregator.Window) (aggregator.Batch, error) {
	if p.Identifier.System != s.cfg.IdentifierSystem || p.Identifier.Value == "" {
		return aggregator.Batch{}, s.fail(aggregator.NotFound, "the feed knows patients by another identifier system", nil)
	}
	body, err := s.get(ctx, s.feedURL(p.Identifier.Value), p.Identifier.Value)
	if err != nil {
		return aggregator.Batch{}, err
	}
	cals, err := parse(body)
	if err != nil {
		return aggregator.Batch{}, s.fail(aggregator.Invalid, "feed", err)
	}
	n := normaliser{cfg: &s.cfg, zones: &zones{fallback: s.cfg.Location},
		patient: patientForms(p.Identifier.Value, s.cfg.IdentifierKey)}
	return n.batch(cals, w), nil
}

// feedURL expands the template; the result is personal data.
func (s *Source) feedURL(value string) string {
	id := value
	if s.cfg.IdentifierKey != nil {
		id = identifierMAC(s.cfg.IdentifierKey, value)
	}
	return strings.ReplaceAll(s.cfg.URL, placeholder, escape(id))
}

// identifierMAC is what the feed knows a patient by when it is given a key.
func identifierMAC(key []byte, value string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))
}

// escape percent-encodes all but RFC 3986 unreserved characters, which is
// right in a path segment and in a query value alike.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// get fetches the feed. Its errors never hold the URL or the identifier.
func (s *Source) get(ctx context.Context, rawURL, ident string) ([]byte, error) {
	secrets := []string{rawURL, ident, escape(ident)}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, s.fail(aggregator.Invalid, "feed URL", errors.New("does not parse"))
	}
	req.Header.Set("Accept", "text/calendar, text/plain;q=0.5")
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, s.transportErr(ctx, "GET feed", err, secrets)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// The body is not read: feeds echo the URL and the identifier.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
		return nil, s.fail(aggregator.KindForHTTPStatus(resp.StatusCode), fmt.Sprintf("GET feed: HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode)), nil)
	}
	if resp.ContentLength > s.cfg.MaxBytes {
		return nil, s.fail(aggregator.Invalid, fmt.Sprintf("GET feed: %d bytes, limit %d", resp.ContentLength, s.cfg.MaxBytes), nil)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.cfg.MaxBytes+1))
	if err != nil {
		return nil, s.transportErr(ctx, "GET feed: reading the body", err, secrets)
	}
	if int64(len(body)) > s.cfg.MaxBytes {
		return nil, s.fail(aggregator.Invalid, fmt.Sprintf("GET feed: over the limit of %d bytes", s.cfg.MaxBytes), nil)
	}
	return body, nil
}

// transportErr classifies a failed request and drops the URL from it.
func (s *Source) transportErr(ctx context.Context, op string, err error, secrets []string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	err = fhir.Scrub(err, secrets...)
	kind := aggregator.Unavailable
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		kind = aggregator.Timeout
	case errors.As(err, &ne) && ne.Timeout():
		kind = aggregator.Timeout
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w: %w", cerr, err)
	}
	return s.fail(kind, op, err)
}

func (s *Source) fail(kind aggregator.ErrorKind, msg string, err error) error {
	return &aggregator.SourceError{Source: s.cfg.Name, Kind: kind, Msg: msg, Err: err}
}
