package access

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Calendar feeds: a person's subscription to a patient's timeline (their
// own, or one delegated to them) that a calendar app fetches without a
// login. The address carries a secret, a bearer credential: 256 random bits,
// shown once when the feed is made and stored only as its SHA-256, so a copy
// of the database opens no feed. Each fetch is decided again from the
// record (the patient's own, or a relative with a delegation valid now) and
// read through package view as ActionCalendar.

const (
	// ActionFeedCreate is a person making (or replacing) a calendar feed of
	// the patient's timeline; ActionFeedRevoke stopping it. Both are in
	// the patient's log, so she sees who takes her appointments home.
	ActionFeedCreate Action = "feed-create"
	ActionFeedRevoke Action = "feed-revoke"
)

// Feed is one calendar feed: whose timeline (Patient) and whose
// subscription (the viewer: Subject, Roles, Handle, Name), as the viewer
// was when they made it. A fetch rebuilds the viewer's Principal from it.
type Feed struct {
	ID      string
	Patient string // handle of the patient whose timeline the feed shows
	Subject string // the viewer's Principal.Subject
	Roles   []Role // the viewer's roles when they made the feed
	Handle  string // the viewer's Principal.Handle
	Name    string // the viewer's name as the patient's log shows it; personal data: never log
	Lang    string // the language the feed is written in ("da", "en")
	Created time.Time
	Revoked time.Time // zero while active
}

// Principal is the viewer as the feed remembers them.
func (f Feed) Principal() Principal {
	return Principal{Subject: f.Subject, Roles: append([]Role(nil), f.Roles...), Handle: f.Handle, Name: f.Name}
}

// LogValue keeps the name out of structured logs.
func (f Feed) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", f.ID), slog.String("patient", f.Patient), slog.String("subject", f.Subject))
}

// FeedStore keeps calendar feeds next to the delegations; every Store has
// it. It never sees a secret, only its hex SHA-256.
type FeedStore interface {
	// CreateFeed stores f, whose ID the caller chose, under the secret's
	// hash, revokes at f.Created every other active feed of the same
	// subject and patient (a new address replaces the old), and writes ev,
	// all in one transaction.
	CreateFeed(ctx context.Context, f Feed, secretHash string, ev Event) error
	// RevokeFeed revokes subject's active feed of patient at time at and
	// writes ev with its Ref set to the feed's ID; ErrNotFound when there is
	// none.
	RevokeFeed(ctx context.Context, subject, patient string, at time.Time, ev Event) error
	// FeedBySecret returns the active feed stored under secretHash;
	// ErrNotFound when there is none or it was revoked.
	FeedBySecret(ctx context.Context, secretHash string) (Feed, error)
	// Feeds lists subject's active feeds, newest first.
	Feeds(ctx context.Context, subject string) ([]Feed, error)
}

// feedSecretBytes is the entropy of a feed's secret: 256 bits, twice the
// least the issue asks for.
const feedSecretBytes = 32

// feedSecretHash is what the store keeps of a secret: hex SHA-256. A
// secret of 256 random bits needs no salt or slow hash: nobody can guess
// one, so only a lookup by the exact value is possible.
func feedSecretHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// validFeedSecret reports whether s has the form of a secret CreateFeed
// makes (unpadded base64url of 32 bytes), so a malformed address costs no
// query.
func validFeedSecret(s string) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(feedSecretBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

func newFeedSecret() (string, error) {
	var b [feedSecretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new feed secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// CreateFeed makes p a calendar feed of patient's timeline, replacing the
// one p had, and returns it with its secret, which is never stored and
// cannot be had again. p may do so for their own timeline or one delegated
// to them now, as for a fetch (ActionCalendar); never a clinician. The
// patient's log records it.
func (s *Service) CreateFeed(ctx context.Context, p Principal, patient, lang string) (Feed, string, error) {
	if p.Subject == "" {
		return Feed{}, "", fmt.Errorf("create feed: a principal without a subject: %w", ErrInvalid)
	}
	rel, err := s.relation(ctx, p, patient, nil)
	if err != nil {
		return Feed{}, "", err
	}
	now := s.now()
	d, err := Decide(p, rel, ActionCalendar, now, "")
	if err != nil {
		return Feed{}, "", fmt.Errorf("create feed: %w", err)
	}
	id, err := newID()
	if err != nil {
		return Feed{}, "", err
	}
	secret, err := newFeedSecret()
	if err != nil {
		return Feed{}, "", err
	}
	f := Feed{ID: id, Patient: patient, Subject: p.Subject, Roles: append([]Role(nil), p.Roles...), Handle: p.Handle,
		Name: actorName(p), Lang: strings.TrimSpace(lang), Created: now}
	ev := s.event(p, d.Role, patient, ActionFeedCreate, "", OutcomeAllowed, id, now)
	if err := s.store.CreateFeed(ctx, f, feedSecretHash(secret), ev); err != nil {
		return Feed{}, "", fmt.Errorf("create feed: %w", err)
	}
	return f, secret, nil
}

// RevokeFeed stops p's feed of patient now; ErrNotFound when p has none.
// It needs no valid delegation: a relative whose access ended may still
// clean up.
func (s *Service) RevokeFeed(ctx context.Context, p Principal, patient string) error {
	if p.Subject == "" || patient == "" {
		return ErrNotFound
	}
	now := s.now()
	role := RoleRelative
	if p.Handle != "" && p.Handle == patient {
		role = RolePatient
	}
	ev := s.event(p, role, patient, ActionFeedRevoke, "", OutcomeAllowed, "", now)
	if err := s.store.RevokeFeed(ctx, p.Subject, patient, now, ev); err != nil {
		return fmt.Errorf("revoke feed: %w", err)
	}
	return nil
}

// Feeds lists p's active feeds, newest first.
func (s *Service) Feeds(ctx context.Context, p Principal) ([]Feed, error) {
	if p.Subject == "" {
		return nil, nil
	}
	fs, err := s.store.Feeds(ctx, p.Subject)
	if err != nil {
		return nil, fmt.Errorf("list feeds: %w", err)
	}
	return fs, nil
}

// FeedBySecret finds the active feed whose address carries secret;
// ErrNotFound (so ErrNotVisible) for a malformed, unknown or revoked one.
// Whether the feed's viewer may still see the patient is decided when it is
// read (package view), not here.
func (s *Service) FeedBySecret(ctx context.Context, secret string) (Feed, error) {
	if !validFeedSecret(secret) {
		return Feed{}, ErrNotFound
	}
	f, err := s.store.FeedBySecret(ctx, feedSecretHash(secret))
	if err != nil {
		return Feed{}, fmt.Errorf("find feed: %w", err)
	}
	return f, nil
}
