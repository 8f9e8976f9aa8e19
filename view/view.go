// Package view is the one authorized read of a patient's data. Every output
// that shows it (the timeline JSON and page, the clinician page, conflicts,
// changes, the worklist, and every output added later: calendar feeds,
// notices) opens it here and nowhere else. Open decides whether the viewer may
// see the patient (role, delegation and its scope, block, reason), writes the
// audit row, reads the timeline, and returns only what this viewer may see:
// the visible entries, conflicts found among those entries alone (never one
// that involves a hidden entry, so no text mentions one), the changes since
// the viewer last looked without any about hidden entries, and whose timeline
// it is.
//
// The order is deliberate. The decision comes first and needs nothing but
// the handle, so a refusal for a registered handle and for an unknown one
// look the same. The audit row is committed (group-committed: see
// access.GroupCommit) while the timeline is read, and nothing is returned
// before it is: no request gets data without its row.
//
// view depends inward on aggregator and access; web maps its errors, which
// wrap access's, to HTTP in one place.
package view

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/aggregator"
)

// Access is what a view asks of access control; *access.Service is one.
type Access interface {
	Decide(ctx context.Context, p access.Principal, patient string, a access.Action, reason string) (access.Decision, error)
	Audit(ctx context.Context, ev access.Event) error
	AuditAll(ctx context.Context, evs []access.Event) error
	LookedUp(ctx context.Context, p access.Principal, since time.Time, limit int) ([]string, error)
}

// Timelines is what a view reads; *aggregator.Service is one.
type Timelines interface {
	Timeline(ctx context.Context, p aggregator.PatientRef) (*aggregator.Timeline, error)
	Cached(ctx context.Context, handle string) (*aggregator.Timeline, bool, error)
	Changes(ctx context.Context, handle string, since time.Time) ([]aggregator.Change, error)
	// Conflicts finds the conflicts among a timeline's entries as its
	// build would have.
	Conflicts(t *aggregator.Timeline) []aggregator.Conflict
}

// Patients maps identifiers to handles and back; *aggregator.Patients is one.
type Patients interface {
	Handle(id aggregator.Identifier) string
	Register(ctx context.Context, id aggregator.Identifier) (aggregator.PatientRef, error)
	Resolve(ctx context.Context, handle string) (aggregator.PatientRef, bool, error)
}

// Conflicted finds, from the index each build keeps, the cached patients
// with a conflict in a period, so a worklist costs what it shows;
// *aggregator.Service is one (see aggregator.ConflictIndex).
type Conflicted interface {
	// Conflicted lists, at most limit, the patients with a conflict on a
	// day in [from, to] and, unless organization is "", an entry from it.
	Conflicted(ctx context.Context, from, to, organization string, limit int) ([]string, error)
	// ConflictedAmong keeps those of handles with a conflict in [from, to].
	ConflictedAmong(ctx context.Context, from, to string, handles []string) ([]string, error)
}

// Names gives the patient's name as the sources have it, "" when none
// said; *aggregator.Patients is one.
type Names interface {
	Name(ctx context.Context, handle string) string
}

// Options tune a Viewer; zero values take the defaults.
type Options struct {
	// Names tells a clinician whom they are looking at (the patient
	// banner); nil leaves their views without a name.
	Names Names
	// Access decides and audits. Nil opens every timeline to everyone,
	// restricted entries included, and audits nothing: only the
	// loopback demo without login does that, and serve refuses to.
	Access Access
	// Conflicted is the conflict index the worklist reads. Nil: the
	// worklist reads the timeline of each patient the clinician looked up,
	// and without access control it is empty.
	Conflicted Conflicted
	// ByOrganization widens the worklist to the patients with an entry from
	// the clinician's organisation (when the login carries one), through
	// Conflicted.
	ByOrganization bool
	// LookedUpWithin is how far back the patients a clinician looked up
	// stay on their worklist; default 30 days.
	LookedUpWithin time.Duration
	// WorklistMax bounds the patients one worklist considers; default 500.
	WorklistMax int
	Now         func() time.Time
	Logger      *slog.Logger
}

// Viewer opens patients' data for viewers.
type Viewer struct {
	tl   Timelines
	pats Patients
	opts Options
	log  *slog.Logger
	vis  visibleCache

	auditMu   sync.Mutex
	lastAudit map[string]time.Time // AuditKey -> when this replica last audited it
}

// New returns a Viewer.
func New(tl Timelines, pats Patients, opts Options) *Viewer {
	if opts.LookedUpWithin <= 0 {
		opts.LookedUpWithin = 30 * 24 * time.Hour
	}
	if opts.WorklistMax <= 0 {
		opts.WorklistMax = 500
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Viewer{tl: tl, pats: pats, opts: opts, log: log, vis: visibleCache{max: 4096}}
}

// Request is one viewer asking for one patient's data.
type Request struct {
	Principal access.Principal
	Handle    string
	// Reason is why a clinician looks; required of clinicians.
	Reason string
	// Changes asks for the changes noticed after Since (zero: all kept).
	Changes bool
	Since   time.Time
	// Action is what the read is decided and audited as: ActionView when
	// empty; an output of its own (ActionCalendar, ActionNotice) names it.
	Action access.Action
	// AuditKey and AuditEvery, when both set, write the audit row of this
	// read only when this replica wrote none for the key within AuditEvery:
	// a calendar app polling a feed every few minutes is in the patient's
	// log about once an hour, not hundreds of times a day.
	AuditKey   string
	AuditEvery time.Duration
}

// View is what one viewer may see of one patient.
type View struct {
	// Patient is whom the data is about. Its Identifier is personal data:
	// never log it or put it in a URL.
	Patient aggregator.PatientRef
	// Name is whose timeline it is, as this viewer knows the patient (their
	// own name, the name on the delegation, for a clinician the name the
	// sources give); empty when not known. Personal data: never log it.
	Name string
	// Decision is what the view was allowed as: role, restricted entries.
	Decision access.Decision
	// Timeline holds the visible entries, the conflicts among them and the
	// sources' statuses with the visible entries counted. Shared: read only.
	Timeline *aggregator.Timeline
	// Changes are those asked for, about visible entries only, oldest first.
	Changes []aggregator.Change
	// Hidden is how many entries of the timeline this viewer may not see
	// (restricted ones, for a relative whose delegation leaves them out),
	// so a page can say that some are not shown. A count only: nothing
	// else of them leaves this package.
	Hidden int
}

// errUnknown wraps access.ErrNotVisible for a handle nobody registered, so
// it answers exactly as a patient the viewer may not see.
var errUnknown = fmt.Errorf("view: unknown handle: %w", access.ErrNotVisible)

// Open decides, audits and reads one patient's data for r.Principal. Errors
// wrap access.ErrNotVisible (not this viewer's, or unknown),
// access.ErrReasonRequired and access.ErrInvalid (bad request), or are a
// failure (the audit, the store, the cache) after which nothing is shown.
func (v *Viewer) Open(ctx context.Context, r Request) (*View, error) {
	if r.Action == "" {
		r.Action = access.ActionView
	}
	if r.Action == access.ActionLookup || r.Action == access.ActionWorklist {
		return nil, fmt.Errorf("view: %s is not a read of one timeline: %w", r.Action, access.ErrInvalid)
	}
	d, err := v.decide(ctx, r.Principal, r.Handle, r.Action, r.Reason)
	if err != nil {
		return nil, err
	}
	ref, ok, err := v.pats.Resolve(ctx, r.Handle)
	if err != nil {
		return nil, fmt.Errorf("resolve patient: %w", err)
	}
	if !ok {
		return nil, errUnknown
	}
	// The audit commit and the reads overlap; the answer waits for both.
	audited := background(func() error {
		if !v.dueForAudit(r) {
			return nil
		}
		if err := v.audit(ctx, r.Principal, d, ref.Handle, r.Action, r.Reason); err != nil {
			return err
		}
		v.audited(r)
		return nil
	})
	var changes <-chan []aggregator.Change
	if r.Changes {
		changes = v.changes(ctx, ref.Handle, r.Since)
	}
	tl, terr := v.tl.Timeline(ctx, ref)
	if err := <-audited; err != nil {
		return nil, err
	}
	if terr != nil {
		return nil, fmt.Errorf("timeline: %w", terr)
	}
	if tl == nil {
		tl = &aggregator.Timeline{Patient: ref.Handle}
	}
	out := &View{Patient: ref, Name: v.name(ctx, r.Principal, d, ref.Handle), Decision: d}
	out.Timeline, out.Hidden = v.visible(tl, d.Restricted)
	if r.Changes {
		out.Changes = visibleChanges(<-changes, out.Timeline, d.Restricted)
	}
	return out, nil
}

// background runs f in a goroutine of its own; a panic in it becomes its
// error, as one in the request's own goroutine becomes a 500.
func background(f func() error) <-chan error {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("view: panic: %v", p)
			}
		}()
		done <- f()
	}()
	return done
}

// changes reads the patient's changes since in the background. They are a
// convenience (marks on the page): when they cannot be read, the timeline is
// shown without them.
func (v *Viewer) changes(ctx context.Context, handle string, since time.Time) <-chan []aggregator.Change {
	out := make(chan []aggregator.Change, 1)
	go func() {
		var cs []aggregator.Change
		defer func() {
			if p := recover(); p != nil {
				v.log.ErrorContext(ctx, "reading changes panicked", "patient", handle, "panic", fmt.Sprint(p))
				cs = nil
			}
			out <- cs
		}()
		var err error
		cs, err = v.tl.Changes(ctx, handle, since)
		if err != nil && !errors.Is(err, aggregator.ErrNoChangeLog) {
			v.log.WarnContext(ctx, "changes unavailable", "patient", handle, "err", err)
		}
		if err != nil {
			cs = nil
		}
	}()
	return out
}

// ErrUnknownPerson is a clinician's look-up of an identifier no source
// knows (every source answered it has nobody by it: a mistyped CPR number).
// Only a clinician, allowed and audited, is told: anyone else gets the
// handle, as for any identifier, and learns nothing of who exists.
var ErrUnknownPerson = errors.New("view: no source knows the person")

// Lookup finds the handle of a patient by identifier for a viewer who may
// look them up. The identifier is registered (kept so the handle resolves)
// only once the decision allowed it, and the look-up is audited before it
// answers. A clinician's look-up builds the timeline (which the view that
// follows reads from the cache) and is ErrUnknownPerson when no source
// knows the person.
func (v *Viewer) Lookup(ctx context.Context, p access.Principal, id aggregator.Identifier, reason string) (aggregator.PatientRef, error) {
	h := v.pats.Handle(id)
	d, err := v.decide(ctx, p, h, access.ActionLookup, reason)
	if err != nil {
		return aggregator.PatientRef{}, err
	}
	ref, err := v.pats.Register(ctx, id)
	if err != nil {
		return aggregator.PatientRef{}, fmt.Errorf("register patient: %w", err)
	}
	if err := v.audit(ctx, p, d, ref.Handle, access.ActionLookup, reason); err != nil {
		return aggregator.PatientRef{}, err
	}
	if d.Role == access.RoleClinician {
		tl, err := v.tl.Timeline(ctx, ref)
		if err != nil {
			return aggregator.PatientRef{}, fmt.Errorf("timeline: %w", err)
		}
		if tl != nil && tl.Unknown() {
			return aggregator.PatientRef{}, ErrUnknownPerson
		}
	}
	return ref, nil
}

func (v *Viewer) decide(ctx context.Context, p access.Principal, handle string, a access.Action, reason string) (access.Decision, error) {
	if v.opts.Access == nil {
		return access.Decision{Restricted: true}, nil
	}
	d, err := v.opts.Access.Decide(ctx, p, handle, a, reason)
	if err != nil {
		return access.Decision{}, fmt.Errorf("view %s: %w", a, err)
	}
	return d, nil
}

func (v *Viewer) audit(ctx context.Context, p access.Principal, d access.Decision, handle string, a access.Action, reason string) error {
	if v.opts.Access == nil {
		return nil
	}
	if err := v.opts.Access.Audit(ctx, access.NewEvent(p, d, handle, a, reason, v.opts.Now())); err != nil {
		return fmt.Errorf("view: %w", err)
	}
	return nil
}

// dueForAudit tells whether r's audit row must be written now: always,
// unless r asks for a row per key and interval and one was written.
func (v *Viewer) dueForAudit(r Request) bool {
	if r.AuditKey == "" || r.AuditEvery <= 0 {
		return true
	}
	v.auditMu.Lock()
	defer v.auditMu.Unlock()
	last, ok := v.lastAudit[r.AuditKey]
	return !ok || v.opts.Now().Sub(last) >= r.AuditEvery
}

func (v *Viewer) audited(r Request) {
	if r.AuditKey == "" || r.AuditEvery <= 0 {
		return
	}
	v.auditMu.Lock()
	defer v.auditMu.Unlock()
	if v.lastAudit == nil || len(v.lastAudit) >= maxAuditKeys {
		v.lastAudit = map[string]time.Time{} // forgetting costs one row more per key
	}
	v.lastAudit[r.AuditKey] = v.opts.Now()
}

// maxAuditKeys bounds the keys whose last audit a replica remembers.
const maxAuditKeys = 100_000

// name is whose timeline it is, as far as this viewer knows the patient:
// a clinician, who may see whom they look up, reads the sources' name.
func (v *Viewer) name(ctx context.Context, p access.Principal, d access.Decision, handle string) string {
	switch {
	case d.Role == access.RolePatient && p.Handle == handle:
		return p.Name
	case d.Role == access.RoleRelative:
		return d.PatientName
	case (d.Role == access.RoleClinician || v.opts.Access == nil) && v.opts.Names != nil:
		return v.opts.Names.Name(ctx, handle)
	}
	return ""
}

// visible is t as a viewer allowed restricted (or not) sees it, and how
// many entries were left out. Without hidden entries it is t itself; with
// them, a copy without them whose conflicts are found again among the
// visible entries alone, kept per build so it is worked out once, not per
// request.
func (v *Viewer) visible(t *aggregator.Timeline, restricted bool) (*aggregator.Timeline, int) {
	if restricted || !hasRestricted(t) {
		return t, 0
	}
	key := visibleKey{handle: t.Patient, version: t.Version, generated: t.GeneratedAt.UnixNano()}
	out, ok := v.vis.get(key)
	if !ok {
		out = withoutRestricted(t)
		out.Conflicts = v.tl.Conflicts(out)
		if !t.GeneratedAt.IsZero() {
			v.vis.put(key, out)
		}
	}
	// The copy keeps every entry of t but the restricted ones.
	return out, len(t.Entries) - len(out.Entries)
}

func hasRestricted(t *aggregator.Timeline) bool {
	for i := range t.Entries {
		if t.Entries[i].Sensitivity == aggregator.SensitivityRestricted {
			return true
		}
	}
	return false
}

// withoutRestricted copies t without its restricted entries and its
// conflicts, with each source's entry count recounted so the copy does not
// tell how many were hidden. The entries' own slices are shared: read only.
func withoutRestricted(t *aggregator.Timeline) *aggregator.Timeline {
	out := *t
	out.Conflicts = nil
	out.Entries = make([]aggregator.Entry, 0, len(t.Entries))
	hidden := map[string]int{}
	for _, e := range t.Entries {
		if e.Sensitivity == aggregator.SensitivityRestricted {
			hidden[e.Source]++
			continue
		}
		out.Entries = append(out.Entries, e)
	}
	out.Sources = append([]aggregator.SourceStatus(nil), t.Sources...)
	for i := range out.Sources {
		out.Sources[i].Entries -= hidden[out.Sources[i].Name]
	}
	return &out
}

// visibleChanges keeps the changes about entries in tl, and those about
// removed entries the viewer may know of: not restricted ones unless the
// viewer sees restricted entries (a change recorded before sensitivity was
// kept counts as restricted).
func visibleChanges(changes []aggregator.Change, tl *aggregator.Timeline, restricted bool) []aggregator.Change {
	shown := make(map[string]bool, len(tl.Entries))
	for i := range tl.Entries {
		shown[tl.Entries[i].ID] = true
	}
	out := changes[:0:0]
	for _, c := range changes {
		switch {
		case shown[c.EntryID]:
			out = append(out, c)
		case c.Kind == aggregator.ChangeRemoved && !shown[c.EntryID] &&
			(restricted || c.Sensitivity == aggregator.SensitivityNormal):
			out = append(out, c)
		}
	}
	return out
}

type visibleKey struct {
	handle    string
	version   int64
	generated int64
}

// visibleCache keeps the copies visible works out; at max it starts over,
// which costs one conflict search per patient.
type visibleCache struct {
	mu  sync.Mutex
	max int
	m   map[visibleKey]*aggregator.Timeline
}

func (c *visibleCache) get(k visibleKey) (*aggregator.Timeline, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[k]
	return t, ok
}

func (c *visibleCache) put(k visibleKey, t *aggregator.Timeline) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= c.max {
		c.m = make(map[visibleKey]*aggregator.Timeline)
	}
	c.m[k] = t
}
