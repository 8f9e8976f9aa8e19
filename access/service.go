package access

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Service gathers what a decision needs from the store, decides, and writes
// the audit row before it answers. It is what web calls.
type Service struct {
	store Store
	now   func() time.Time
	log   *slog.Logger
}

// Options configure a Service; the zero value uses the wall clock and no logging.
type Options struct {
	Now    func() time.Time
	Logger *slog.Logger
}

// NewService returns a Service on store.
func NewService(store Store, opts Options) *Service {
	s := &Service{store: store, now: opts.Now, log: opts.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Authorize decides whether p may do a (ActionView or ActionLookup) on the
// patient's data. When allowed, the audit row is committed before it returns;
// a failed write is an error and the caller must not send data. A refusal is
// ErrNotVisible (404) or ErrInvalid (400).
func (s *Service) Authorize(ctx context.Context, p Principal, patient string, a Action, reason string) (Decision, error) {
	if a != ActionView && a != ActionLookup {
		return Decision{}, fmt.Errorf("authorize %q: only view and lookup: %w", a, ErrInvalid)
	}
	reason = strings.TrimSpace(reason)
	rel, err := s.relation(ctx, p, patient)
	if err != nil {
		return Decision{}, err
	}
	now := s.now()
	d, err := Decide(p, rel, a, now, reason)
	if errors.Is(err, ErrNotVisible) && rel.Blocked && p.Has(RoleClinician) {
		// The patient should see that a clinician tried and was stopped.
		ev := s.event(p, RoleClinician, patient, a, reason, OutcomeBlocked, "", now)
		if aerr := s.store.Audit(ctx, ev); aerr != nil {
			return Decision{}, fmt.Errorf("audit refused %s: %w", a, aerr)
		}
		s.log.InfoContext(ctx, "access refused by block", "principal", p, "patient", patient, "action", a)
	}
	if err != nil {
		return Decision{}, err
	}
	if err := s.store.Audit(ctx, s.event(p, d.Role, patient, a, reason, OutcomeAllowed, "", now)); err != nil {
		return Decision{}, fmt.Errorf("audit %s: %w", a, err)
	}
	return d, nil
}

// relation reads only what the principal's roles could use, so a patient
// viewing their own timeline costs no store round trip.
func (s *Service) relation(ctx context.Context, p Principal, patient string) (Relation, error) {
	rel := Relation{Patient: patient}
	if patient == "" || (p.Handle == patient && p.Has(RolePatient)) {
		return rel, nil
	}
	if p.Has(RoleRelative) && p.Handle != "" {
		ds, err := s.store.Delegations(ctx, patient, p.Handle)
		if err != nil {
			return Relation{}, fmt.Errorf("read delegations: %w", err)
		}
		rel.Delegations = ds
	}
	if p.Has(RoleClinician) {
		b, err := s.store.Block(ctx, patient)
		if err != nil {
			return Relation{}, fmt.Errorf("read block: %w", err)
		}
		rel.Blocked = b.Blocked
	}
	return rel, nil
}

// Audit writes ev, stamping its time when zero. web calls it for audited
// actions that do not go through Authorize.
func (s *Service) Audit(ctx context.Context, ev Event) error {
	if ev.At.IsZero() {
		ev.At = s.now()
	}
	if err := s.store.Audit(ctx, ev); err != nil {
		return fmt.Errorf("audit %s: %w", ev.Action, err)
	}
	return nil
}

// GrantRequest is what a patient fills in to delegate to a relative.
type GrantRequest struct {
	Grantee           string    // handle of the relative's identifier (aggregator.Patients.Handle)
	Label             string    // the patient's name for the relative
	Until             time.Time // exclusive end; zero means no end date
	IncludeRestricted bool
}

// Grant lets the relative see p's timeline, from now.
func (s *Service) Grant(ctx context.Context, p Principal, r GrantRequest) (Delegation, error) {
	now := s.now()
	d, err := Decide(p, Relation{Patient: p.Handle}, ActionGrant, now, "")
	if err != nil {
		return Delegation{}, err
	}
	r.Label = strings.TrimSpace(r.Label)
	switch {
	case r.Grantee == "":
		return Delegation{}, fmt.Errorf("grant: no grantee: %w", ErrInvalid)
	case r.Grantee == p.Handle:
		return Delegation{}, fmt.Errorf("grant: to oneself: %w", ErrInvalid)
	case len(r.Label) > MaxLabelLen:
		return Delegation{}, fmt.Errorf("grant: label longer than %d bytes: %w", MaxLabelLen, ErrInvalid)
	case !r.Until.IsZero() && !r.Until.After(now):
		return Delegation{}, fmt.Errorf("grant: end date not in the future: %w", ErrInvalid)
	}
	id, err := newID()
	if err != nil {
		return Delegation{}, err
	}
	g := Delegation{
		ID: id, Patient: p.Handle, Grantee: r.Grantee, Label: r.Label, PatientName: p.Name,
		IncludeRestricted: r.IncludeRestricted, Created: now, Until: r.Until,
	}
	ev := s.event(p, d.Role, p.Handle, ActionGrant, "", OutcomeAllowed, id, now)
	if err := s.store.CreateDelegation(ctx, g, ev); err != nil {
		return Delegation{}, fmt.Errorf("grant: %w", err)
	}
	return g, nil
}

// Revoke ends p's delegation id now; ErrNotFound if p has no such active one.
func (s *Service) Revoke(ctx context.Context, p Principal, id string) error {
	now := s.now()
	d, err := Decide(p, Relation{Patient: p.Handle}, ActionRevoke, now, "")
	if err != nil {
		return err
	}
	ev := s.event(p, d.Role, p.Handle, ActionRevoke, "", OutcomeAllowed, id, now)
	if err := s.store.RevokeDelegation(ctx, p.Handle, id, now, ev); err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	return nil
}

// Grants lists the delegations p gave, newest first, valid or not.
func (s *Service) Grants(ctx context.Context, p Principal) ([]Delegation, error) {
	if _, err := Decide(p, Relation{Patient: p.Handle}, ActionGrant, s.now(), ""); err != nil {
		return nil, err
	}
	ds, err := s.store.Delegations(ctx, p.Handle, "")
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	return ds, nil
}

// Received lists the delegations given to p that are valid now, newest
// first: the timelines a relative can switch between.
func (s *Service) Received(ctx context.Context, p Principal) ([]Delegation, error) {
	if !p.Has(RoleRelative) || p.Handle == "" {
		return nil, nil
	}
	ds, err := s.store.Delegations(ctx, "", p.Handle)
	if err != nil {
		return nil, fmt.Errorf("list received delegations: %w", err)
	}
	now := s.now()
	valid := ds[:0]
	for _, d := range ds {
		if d.Valid(now) {
			// The label is the grantor's private note, not the grantee's business.
			d.Label = ""
			valid = append(valid, d)
		}
	}
	return valid, nil
}

// SetBlock makes p refuse clinician look-ups (blocked) or lifts that.
func (s *Service) SetBlock(ctx context.Context, p Principal, blocked bool) error {
	a := ActionUnblock
	if blocked {
		a = ActionBlock
	}
	now := s.now()
	d, err := Decide(p, Relation{Patient: p.Handle}, a, now, "")
	if err != nil {
		return err
	}
	if err := s.store.SetBlock(ctx, p.Handle, blocked, now, s.event(p, d.Role, p.Handle, a, "", OutcomeAllowed, "", now)); err != nil {
		return fmt.Errorf("%s: %w", a, err)
	}
	return nil
}

// Block returns p's own block.
func (s *Service) Block(ctx context.Context, p Principal) (Block, error) {
	if _, err := Decide(p, Relation{Patient: p.Handle}, ActionBlock, s.now(), ""); err != nil {
		return Block{}, err
	}
	b, err := s.store.Block(ctx, p.Handle)
	if err != nil {
		return Block{}, fmt.Errorf("read block: %w", err)
	}
	return b, nil
}

// AuditLog pages through p's own audit log, newest first.
func (s *Service) AuditLog(ctx context.Context, p Principal, cursor string, limit int) (AuditPage, error) {
	if _, err := Decide(p, Relation{Patient: p.Handle}, ActionReadAudit, s.now(), ""); err != nil {
		return AuditPage{}, err
	}
	if limit < 1 || limit > 500 {
		return AuditPage{}, fmt.Errorf("audit log: limit %d not in 1..500: %w", limit, ErrInvalid)
	}
	page, err := s.store.AuditLog(ctx, p.Handle, cursor, limit)
	if err != nil {
		return AuditPage{}, fmt.Errorf("read audit log: %w", err)
	}
	return page, nil
}

func (s *Service) event(p Principal, role Role, patient string, a Action, reason string, o Outcome, ref string, at time.Time) Event {
	return Event{
		At: at, Actor: p.Subject, ActorRole: role, ActorName: p.Name, ActorHandle: p.Handle,
		Patient: patient, Action: a, Reason: reason, Outcome: o, Ref: ref,
	}
}

func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
