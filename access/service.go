package access

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Service gathers what a decision needs from the store, decides, and writes
// the audit rows. The authorized view (package view) and web's account pages
// call it.
type Service struct {
	store   Store
	auditor Auditor
	cache   *relationCache
	bcast   Broadcaster
	now     func() time.Time
	log     *slog.Logger
}

// Auditor writes audit rows durably; a GroupCommit batches them, a Store
// writes each in its own commit.
type Auditor interface {
	Audit(ctx context.Context, ev Event) error
	AuditBatch(ctx context.Context, evs []Event) error
}

// Options configure a Service; the zero value uses the wall clock, writes
// each audit row through the store, caches decisions' inputs in process
// and logs nothing.
type Options struct {
	Now    func() time.Time
	Logger *slog.Logger
	// Auditor writes the audit rows of views and look-ups; nil writes them
	// through the store one commit each (GroupCommit in production).
	Auditor Auditor
	// CacheFor is how long a replica keeps a patient's block and
	// delegations; DefaultCacheFor when zero, no cache when negative. Any
	// change made through this Service drops them at once.
	CacheFor time.Duration
	// Broadcast, with several replicas, carries those drops to the others;
	// the Service then uses its cache only between Reset(true) and
	// Reset(false), which the broadcaster's feed calls. Nil for one process.
	Broadcast Broadcaster
}

// DefaultCacheFor bounds how long a cached block or delegation is trusted
// even when no invalidation arrives (a lost broadcast).
const DefaultCacheFor = time.Minute

// maxCached bounds the patients whose relations a replica caches.
const maxCached = 100_000

// NewService returns a Service on store.
func NewService(store Store, opts Options) *Service {
	s := &Service{store: store, auditor: opts.Auditor, bcast: opts.Broadcast, now: opts.Now, log: opts.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.auditor == nil {
		s.auditor = store
	}
	if opts.CacheFor == 0 {
		opts.CacheFor = DefaultCacheFor
	}
	if opts.CacheFor > 0 {
		s.cache = newRelationCache(opts.CacheFor, maxCached, s.now, opts.Broadcast == nil)
	}
	return s
}

// Invalidate drops what this replica cached about patient; a broadcaster's
// feed calls it for changes made on any replica.
func (s *Service) Invalidate(patient string) { s.cache.invalidate(patient) }

// Reset drops everything cached and says whether the cache may be used:
// a broadcaster's feed calls Reset(true) once it listens and Reset(false)
// when it may have missed a message.
func (s *Service) Reset(usable bool) { s.cache.reset(usable) }

// changed drops patient's cached relations here at once and tells the other
// replicas. A failed broadcast leaves them on their entries until those
// expire (CacheFor): logged, since the change itself is committed.
func (s *Service) changed(ctx context.Context, patient string) {
	s.cache.invalidate(patient)
	if s.bcast == nil {
		return
	}
	if err := s.bcast.Broadcast(ctx, patient); err != nil {
		s.log.WarnContext(ctx, "telling the other replicas about an access change failed; they follow within the cache time",
			"patient", patient, "err", err)
	}
}

// Decide says whether p may do a on the patient's data, from the store's
// delegations and block (cached per replica). It writes no audit row for
// an allowed action: the caller audits with Audit once it knows what it
// shows (NewEvent), before it sends anything. A clinician stopped by the
// patient's block is audited here, as OutcomeBlocked, so the patient sees
// that someone tried. A refusal is ErrNotVisible (404) or ErrInvalid (400).
func (s *Service) Decide(ctx context.Context, p Principal, patient string, a Action, reason string) (Decision, error) {
	switch a {
	case ActionView, ActionLookup, ActionWorklist, ActionCalendar, ActionNotice:
	default:
		return Decision{}, fmt.Errorf("decide %q: not a read of patient data: %w", a, ErrInvalid)
	}
	reason = strings.TrimSpace(reason)
	if err := checkReason(reason); err != nil {
		return Decision{}, err // before anything about the patient is read
	}
	rel, err := s.relation(ctx, p, patient, nil)
	if err != nil {
		return Decision{}, err
	}
	return s.decide(ctx, p, rel, a, reason)
}

// BlocksReader is a Store that reads many patients' blocks in one round
// trip, for DecideAll; a patient without a row is missing from the map.
type BlocksReader interface {
	Blocks(ctx context.Context, patients []string) (map[string]Block, error)
}

// DecideAll is Decide, without a reason, for each of patients (a
// worklist's candidates): ds[i] is the decision on patients[i], or refused[i]
// its refusal. The blocks not cached are read in one round trip when the
// store is a BlocksReader. err is a failure to decide at all.
func (s *Service) DecideAll(ctx context.Context, p Principal, patients []string, a Action) (ds []Decision, refused []error, err error) {
	ds, refused = make([]Decision, len(patients)), make([]error, len(patients))
	switch a {
	case ActionView, ActionLookup, ActionWorklist, ActionCalendar, ActionNotice:
	default:
		return nil, nil, fmt.Errorf("decide %q: not a read of patient data: %w", a, ErrInvalid)
	}
	blocks, err := s.blocks(ctx, p, patients)
	if err != nil {
		return nil, nil, err
	}
	for i, patient := range patients {
		rel, err := s.relation(ctx, p, patient, blocks)
		if err != nil {
			return nil, nil, err
		}
		ds[i], refused[i] = s.decide(ctx, p, rel, a, "")
		if refused[i] != nil && !errors.Is(refused[i], ErrNotVisible) && !errors.Is(refused[i], ErrReasonRequired) &&
			!errors.Is(refused[i], ErrInvalid) {
			return nil, nil, refused[i] // the audit of a blocked attempt failed
		}
	}
	return ds, refused, nil
}

// blocks reads, for a clinician, the blocks of those of patients whose
// block is not cached, in one round trip, and caches them; nil when there
// is nothing to read or the store reads blocks one by one.
func (s *Service) blocks(ctx context.Context, p Principal, patients []string) (map[string]bool, error) {
	br, ok := s.store.(BlocksReader)
	if !ok || !p.Has(RoleClinician) {
		return nil, nil
	}
	gen, _ := s.cache.generation()
	var missing []string
	for _, patient := range patients {
		if _, ok := s.cache.block(patient); !ok && patient != "" {
			missing = append(missing, patient)
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	bs, err := br.Blocks(ctx, missing)
	if err != nil {
		return nil, fmt.Errorf("read blocks: %w", err)
	}
	out := make(map[string]bool, len(missing))
	for _, patient := range missing {
		out[patient] = bs[patient].Blocked
		s.cache.putBlock(gen, patient, out[patient])
	}
	return out, nil
}

// decide is Decide on the relation read.
func (s *Service) decide(ctx context.Context, p Principal, rel Relation, a Action, reason string) (Decision, error) {
	patient := rel.Patient
	now := s.now()
	d, err := Decide(p, rel, a, now, reason)
	if errors.Is(err, ErrNotVisible) && rel.Blocked && p.Has(RoleClinician) && a != ActionWorklist {
		// The patient should see that a clinician tried and was stopped (a
		// worklist merely leaves them out).
		ev := NewEvent(p, Decision{Role: RoleClinician}, patient, a, reason, now)
		ev.Outcome = OutcomeBlocked
		if aerr := s.auditor.Audit(ctx, ev); aerr != nil {
			return Decision{}, fmt.Errorf("audit refused %s: %w", a, aerr)
		}
		s.log.InfoContext(ctx, "access refused by block", "principal", p, "patient", patient, "action", a)
	}
	if err != nil {
		return Decision{}, err
	}
	return d, nil
}

// Authorize is Decide and, when allowed, the audit row of the action,
// committed before it returns; a failed write is an error and the caller
// must not send data.
func (s *Service) Authorize(ctx context.Context, p Principal, patient string, a Action, reason string) (Decision, error) {
	d, err := s.Decide(ctx, p, patient, a, reason)
	if err != nil {
		return Decision{}, err
	}
	if err := s.Audit(ctx, NewEvent(p, d, patient, a, reason, s.now())); err != nil {
		return Decision{}, err
	}
	return d, nil
}

// NewEvent is the audit row of an allowed action: who, under which role,
// did a to patient's data, why, at at.
func NewEvent(p Principal, d Decision, patient string, a Action, reason string, at time.Time) Event {
	ev := Event{
		At: at, Actor: p.Subject, ActorRole: d.Role, ActorName: p.Name, ActorHandle: p.Handle,
		Patient: patient, Action: a, Reason: strings.TrimSpace(reason), Outcome: OutcomeAllowed,
	}
	if p.Has(RoleClinician) {
		ev.ActorOrg = p.Organization
	}
	return ev
}

// actorName is who colleagues and a feed's log read: a clinician with their
// workplace, when the login says it.
func actorName(p Principal) string {
	if p.Organization != "" && p.Has(RoleClinician) && p.Name != "" {
		return p.Name + ", " + p.Organization
	}
	return p.Name
}

// LookedUp lists the patients clinician p looked up or viewed since,
// newest first, at most limit: the default scope of their worklist.
func (s *Service) LookedUp(ctx context.Context, p Principal, since time.Time, limit int) ([]string, error) {
	if !p.Has(RoleClinician) || p.Subject == "" {
		return nil, nil
	}
	hs, err := s.store.LookedUp(ctx, p.Subject, since, limit)
	if err != nil {
		return nil, fmt.Errorf("patients looked up: %w", err)
	}
	return hs, nil
}

// relation reads only what the principal's roles could use, so a patient
// viewing their own timeline costs no store round trip. A block in blocks
// (read just now by DecideAll) is not read again.
func (s *Service) relation(ctx context.Context, p Principal, patient string, blocks map[string]bool) (Relation, error) {
	rel := Relation{Patient: patient}
	if patient == "" || (p.Handle == patient && p.Has(RolePatient)) {
		return rel, nil
	}
	gen, _ := s.cache.generation()
	if p.Has(RoleRelative) && p.Handle != "" {
		ds, ok := s.cache.delegations(patient, p.Handle)
		if !ok {
			var err error
			if ds, err = s.store.Delegations(ctx, patient, p.Handle); err != nil {
				return Relation{}, fmt.Errorf("read delegations: %w", err)
			}
			s.cache.putDelegations(gen, patient, p.Handle, ds)
		}
		rel.Delegations = ds
	}
	if p.Has(RoleClinician) {
		blocked, ok := blocks[patient]
		if !ok {
			blocked, ok = s.cache.block(patient)
		}
		if !ok {
			b, err := s.store.Block(ctx, patient)
			if err != nil {
				return Relation{}, fmt.Errorf("read block: %w", err)
			}
			blocked = b.Blocked
			s.cache.putBlock(gen, patient, blocked)
		}
		rel.Blocked = blocked
	}
	return rel, nil
}

// Audit writes ev durably, stamping its time when zero; it returns once the
// row is committed.
func (s *Service) Audit(ctx context.Context, ev Event) error {
	if ev.At.IsZero() {
		ev.At = s.now()
	}
	if err := s.auditor.Audit(ctx, ev); err != nil {
		return fmt.Errorf("audit %s: %w", ev.Action, err)
	}
	return nil
}

// AuditAll writes every event durably (the worklist's rows): it returns
// once all are committed.
func (s *Service) AuditAll(ctx context.Context, evs []Event) error {
	now := s.now()
	for i := range evs {
		if evs[i].At.IsZero() {
			evs[i].At = now
		}
	}
	if err := s.auditor.AuditBatch(ctx, evs); err != nil {
		return fmt.Errorf("audit %d rows: %w", len(evs), err)
	}
	return nil
}

// GrantRequest is what a patient fills in to delegate to a relative.
type GrantRequest struct {
	Grantee           string    // handle of the relative's identifier (aggregator.Patients.Handle)
	GranteeMasked     string    // the identifier as a page may show it (300241-xxxx), never the number itself
	Label             string    // the patient's name for the relative
	Until             time.Time // exclusive end; zero means no end date
	IncludeRestricted bool
}

// Grant lets the relative see p's timeline, from now; ErrAlreadyGranted
// when p already lets them (a delegation neither revoked nor ended).
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
	case utf8.RuneCountInString(r.Label) > MaxLabelLen:
		return Delegation{}, fmt.Errorf("grant: label longer than %d characters: %w", MaxLabelLen, ErrInvalid)
	case !r.Until.IsZero() && !r.Until.After(now):
		return Delegation{}, fmt.Errorf("grant: end date not in the future: %w", ErrInvalid)
	}
	// The store refuses a second delegation to the same person too, at
	// once; this read keeps their name, should p have granted before.
	earlier, err := s.store.Delegations(ctx, p.Handle, r.Grantee)
	if err != nil {
		return Delegation{}, fmt.Errorf("grant: %w", err)
	}
	name := ""
	for _, e := range earlier { // newest first
		if e.Revoked.IsZero() && (e.Until.IsZero() || e.Until.After(now)) {
			return Delegation{}, fmt.Errorf("grant: %w", ErrAlreadyGranted)
		}
		if name == "" {
			name = e.GranteeName
		}
	}
	id, err := newID()
	if err != nil {
		return Delegation{}, err
	}
	g := Delegation{
		ID: id, Patient: p.Handle, Grantee: r.Grantee, Label: r.Label, PatientName: p.Name,
		GranteeMasked: r.GranteeMasked, GranteeName: name,
		IncludeRestricted: r.IncludeRestricted, Created: now, Until: r.Until,
	}
	ev := s.event(p, d.Role, p.Handle, ActionGrant, "", OutcomeAllowed, id, now)
	if err := s.store.CreateDelegation(ctx, g, ev); err != nil {
		return Delegation{}, fmt.Errorf("grant: %w", err)
	}
	s.changed(ctx, p.Handle)
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
	s.changed(ctx, p.Handle)
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

// SharesRestricted reports whether patient p has a valid grant that lets a
// relative see her restricted entries, for her own page to say who cannot
// see them. It reads through the per-replica cache decisions use (dropped
// on every replica when her grants change), so a page view costs no store
// read.
func (s *Service) SharesRestricted(ctx context.Context, p Principal) (bool, error) {
	if _, err := Decide(p, Relation{Patient: p.Handle}, ActionGrant, s.now(), ""); err != nil {
		return false, err
	}
	gen, _ := s.cache.generation()
	ds, ok := s.cache.delegations(p.Handle, "") // "": to anyone
	if !ok {
		var err error
		if ds, err = s.store.Delegations(ctx, p.Handle, ""); err != nil {
			return false, fmt.Errorf("read grants: %w", err)
		}
		s.cache.putDelegations(gen, p.Handle, "", ds)
	}
	now := s.now()
	for _, d := range ds {
		if d.IncludeRestricted && d.Valid(now) {
			return true, nil
		}
	}
	return false, nil
}

// Received lists the delegations given to p that are valid now, one for
// each patient (the one that lasts longest, since two from one patient
// made before Grant refused that would both let p in), newest first: the
// timelines a relative can switch between, each person once.
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
		if !d.Valid(now) {
			continue
		}
		// The label is the grantor's private note, not the grantee's business.
		d.Label = ""
		i := slices.IndexFunc(valid, func(v Delegation) bool { return v.Patient == d.Patient })
		switch {
		case i < 0:
			valid = append(valid, d)
		case lastsLonger(d, valid[i]):
			valid[i] = d
		}
	}
	return valid, nil
}

// lastsLonger tells whether a ends after b; no end is the longest.
func lastsLonger(a, b Delegation) bool {
	return !b.Until.IsZero() && (a.Until.IsZero() || a.Until.After(b.Until))
}

// SignedIn is told of each person's login: the name their login gives is
// what the patients who delegated to them read beside those grants, once
// they have signed in. A program, or a person without a handle or a name,
// changes nothing.
func (s *Service) SignedIn(ctx context.Context, p Principal) error {
	if p.Handle == "" || strings.TrimSpace(p.Name) == "" {
		return nil
	}
	if err := s.store.SetGranteeName(ctx, p.Handle, strings.TrimSpace(p.Name)); err != nil {
		return fmt.Errorf("signed in: %w", err)
	}
	return nil
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
	s.changed(ctx, p.Handle)
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

// AuditLogWithoutOwnReads is AuditLog without p's own reads of their
// timeline (their views, calendar fetches and notices): what others did,
// and every change of who may see it, p's own included.
func (s *Service) AuditLogWithoutOwnReads(ctx context.Context, p Principal, cursor string, limit int) (AuditPage, error) {
	if _, err := Decide(p, Relation{Patient: p.Handle}, ActionReadAudit, s.now(), ""); err != nil {
		return AuditPage{}, err
	}
	if limit < 1 || limit > 500 {
		return AuditPage{}, fmt.Errorf("audit log: limit %d not in 1..500: %w", limit, ErrInvalid)
	}
	page, err := s.store.AuditLogWithoutReadsBy(ctx, p.Handle, p.Handle, cursor, limit)
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
