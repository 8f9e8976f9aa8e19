package notify

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/view"
)

// Options configure a Notifier; zero values take the defaults.
type Options struct {
	// Senders deliver each channel; a channel without one is not offered.
	Senders map[Channel]Sender
	// Details, per channel, puts which entries and when in the notice;
	// off, a notice says only that there is something to see.
	Details map[Channel]bool
	// BaseURL is where people reach overblik, for the link in a notice
	// (https://overblik.example.org); required.
	BaseURL  string
	Location *time.Location // the zone of quiet hours, reminders and times; default UTC
	// ReminderAt is when the day's reminders of the next day's
	// appointments go out; default 18:00.
	ReminderAt Clock
	// MaxAttempts is how often a notice is tried before it is marked
	// failed; default 5.
	MaxAttempts int
	// RetryAfter is the wait after the first failed attempt, doubled after
	// each further one up to RetryMax; defaults 30 s and 1 h.
	RetryAfter, RetryMax time.Duration
	// Poll is how often the worker looks for due notices; default 2 s.
	Poll time.Duration
	// LeaseFor is how long the worker's cluster-wide lease lasts unless
	// renewed; default 30 s. A send that takes longer than a third of it
	// is cut off, so no other worker takes over while one is sending.
	LeaseFor time.Duration
	// Holder names this replica's worker in the lease; default random.
	Holder string
	// Quiet are the quiet hours of a person who never chose any; nil:
	// DefaultQuietFrom to DefaultQuietTo (22:00-07:00).
	Quiet *QuietHours
	// Keep is how long delivered and failed notices stay; default 30 days.
	Keep time.Duration
	// ConflictText writes a conflict's sentence in lang from the
	// timeline it is part of (web.ConflictSentences), for notices with
	// details: to the patient when about is "", else to someone else
	// about the patient so named. nil names the conflict's rule alone.
	ConflictText func(tl *aggregator.Timeline, c aggregator.Conflict, lang, about string) string
	Now          func() time.Time
	Logger       *slog.Logger
}

// Notifier works out who is told what when a build changed something or a
// day's reminders are due, keeps the notices in the outbox, and delivers
// them.
//
// Every notice is a read of the patient's data by its recipient, made with
// view.Viewer.Open (Action notice) as that person: access decides it (the
// patient herself, or a relative with a valid delegation, never a
// clinician), and the view holds only what that person may see, so a
// relative without restricted access is never told of a restricted entry.
// A recipient whose view holds nothing to tell gets nothing. The read's
// audit row (for a relative: "Åse was sent a notice" in the patient's log)
// is written when a notice is written to the outbox, just before, so the
// log names only notices that exist; a read that finds nothing to tell
// leaves no row. The views read cached timelines only: a notice never makes
// a source fetch.
type Notifier struct {
	store *Store
	tl    view.Timelines
	pats  view.Patients
	acc   view.Access
	opts  Options
	log   *slog.Logger

	wake chan struct{}
	tick sync.Mutex // one round at a time on this replica
	mu   sync.Mutex
	// leaseUntil is when this replica's lease runs out (zero: not held).
	leaseUntil time.Time
}

// Timelines is what a Notifier reads timelines through;
// *aggregator.Service is one. Only cached timelines are read.
type Timelines = view.Timelines

// New returns a Notifier. acc decides and audits (*access.Service).
func New(store *Store, tl view.Timelines, pats view.Patients, acc view.Access, opts Options) (*Notifier, error) {
	if store == nil || tl == nil || pats == nil || acc == nil {
		return nil, errors.New("notify: store, timelines, patients and access are all required")
	}
	u, err := url.Parse(opts.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("notify: BaseURL must be an absolute http(s) URL")
	}
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.ReminderAt == 0 {
		opts.ReminderAt = DefaultReminderAt
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = 30 * time.Second
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = time.Hour
	}
	if opts.Poll <= 0 {
		opts.Poll = 2 * time.Second
	}
	if opts.LeaseFor <= 0 {
		opts.LeaseFor = 30 * time.Second
	}
	if opts.Keep <= 0 {
		opts.Keep = 30 * 24 * time.Hour
	}
	if opts.Holder == "" {
		var b [8]byte
		rand.Read(b[:])
		opts.Holder = hex.EncodeToString(b[:])
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{store: store, tl: tl, pats: pats, acc: acc, opts: opts, log: log, wake: make(chan struct{}, 1)}, nil
}

// Channels are the channels notices can go by, in a stable order.
func (n *Notifier) Channels() []Channel {
	var out []Channel
	for _, c := range []Channel{ChannelEmail, ChannelWebhook} {
		if n.opts.Senders[c] != nil {
			out = append(out, c)
		}
	}
	return out
}

// Preferences returns the person's preferences, the defaults when they
// never saved any.
func (n *Notifier) Preferences(ctx context.Context, person string) (Preferences, error) {
	p, ok, err := n.store.Preferences(ctx, person)
	if err != nil {
		return Preferences{}, err
	}
	if !ok {
		p = DefaultPreferences(person)
		if q := n.opts.Quiet; q != nil {
			p.QuietFrom, p.QuietTo = q.From, q.To
		}
	}
	return p, nil
}

// SetPreferences stores a person's preferences; ErrInvalid for a bad form
// or a channel that is not configured.
func (n *Notifier) SetPreferences(ctx context.Context, p Preferences) error {
	if !slices.Contains(n.Channels(), p.Channel) {
		return fmt.Errorf("channel %q is not configured: %w", p.Channel, ErrInvalid)
	}
	p.Updated = n.opts.Now()
	return n.store.SetPreferences(ctx, p)
}

// Failed lists the notices given up on, newest first.
func (n *Notifier) Failed(ctx context.Context, limit int) ([]Failed, error) {
	return n.store.Failed(ctx, limit)
}

// hookTimeout bounds what Changed adds to a build.
const hookTimeout = 10 * time.Second

// Changed is the aggregator's Options.Changed: a build of handle's timeline
// was stored as version with these changes and new conflicts. It records
// the event (so a crash from here on leaves it to the worker), works out
// the notices and writes them to the outbox before it returns.
func (n *Notifier) Changed(ctx context.Context, handle string, version int64, changes []aggregator.Change, added []aggregator.Conflict) {
	ev := event{Patient: handle, Version: version}
	for _, c := range changes {
		switch c.Kind {
		case aggregator.ChangeAdded, aggregator.ChangeMoved, aggregator.ChangeCancelled:
			ev.Changes = true
		}
		if c.Version == version {
			ev.Noticed = c.Noticed
		}
	}
	for _, c := range added {
		if c.Severity == aggregator.SeverityHigh {
			ev.Conflicts = append(ev.Conflicts, c.ID)
		}
	}
	if !ev.Changes && len(ev.Conflicts) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hookTimeout)
	defer cancel()
	now := n.opts.Now()
	if ev.Noticed.IsZero() {
		ev.Noticed = now
	}
	if err := n.store.addEvent(ctx, ev, now); err != nil {
		n.log.ErrorContext(ctx, "notices of a change lost: the event could not be recorded", "patient", handle, "version", version, "err", err)
		return
	}
	if err := n.handle(ctx, ev); err != nil {
		n.log.WarnContext(ctx, "notices of a change left to the worker", "patient", handle, "version", version, "err", err)
		return
	}
	n.poke()
}

// poke wakes this replica's worker, which delivers at once if it holds the lease.
func (n *Notifier) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// handle works out the notices of one event for everyone who follows the
// patient and writes them to the outbox; then the event is handled. An
// error leaves it pending, and handling it again adds no notice twice.
func (n *Notifier) handle(ctx context.Context, ev event) error {
	followers, err := n.store.followers(ctx, ev.Patient)
	if err != nil {
		return err
	}
	ref := "v" + strconv.FormatInt(ev.Version, 10)
	for _, f := range followers {
		var kinds []Kind
		if ev.Changes && f.Changes {
			kinds = append(kinds, KindChange)
		}
		if len(ev.Conflicts) > 0 && f.Conflicts {
			kinds = append(kinds, KindConflict)
		}
		if err := n.tell(ctx, f, ev.Patient, ref, kinds, func(v *view.View, k Kind) []detail {
			if k == KindChange {
				return n.changeDetails(v, ev)
			}
			about := "" // to the patient herself
			if f.Person != ev.Patient {
				about = v.Name
			}
			return n.conflictDetails(v, ev.Conflicts, f.Lang, about)
		}, view.Request{Changes: true, Since: ev.Noticed.Add(-time.Second)}); err != nil {
			return err
		}
	}
	return n.store.eventHandled(ctx, ev, n.opts.Now())
}

// changeDetails are the visible changes of the event's version to upcoming
// entries: added, moved, cancelled.
func (n *Notifier) changeDetails(v *view.View, ev event) []detail {
	now := n.opts.Now()
	entries := make(map[string]*aggregator.Entry, len(v.Timeline.Entries))
	for i := range v.Timeline.Entries {
		entries[v.Timeline.Entries[i].ID] = &v.Timeline.Entries[i]
	}
	var out []detail
	seen := map[string]bool{}
	for i := range v.Changes {
		c := &v.Changes[i]
		e := entries[c.EntryID]
		if c.Version != ev.Version || e == nil || seen[c.EntryID+string(c.Kind)] {
			continue
		}
		switch c.Kind {
		case aggregator.ChangeAdded, aggregator.ChangeMoved, aggregator.ChangeCancelled:
		default:
			continue
		}
		if !upcoming(e, now) {
			continue
		}
		seen[c.EntryID+string(c.Kind)] = true
		out = append(out, detail{change: c, entry: e})
	}
	return out
}

// upcoming: not over yet (an admission without an end is going on).
func upcoming(e *aggregator.Entry, now time.Time) bool {
	if e.End.IsZero() {
		return true
	}
	return e.End.After(now)
}

// conflictDetails are the event's new high-severity conflicts that the
// viewer's own timeline has (the view found them among visible entries).
func (n *Notifier) conflictDetails(v *view.View, ids []string, lang, about string) []detail {
	var out []detail
	for _, c := range v.Timeline.Conflicts {
		if c.Severity == aggregator.SeverityHigh && slices.Contains(ids, c.ID) {
			text := string(c.Rule)
			if n.opts.ConflictText != nil {
				text = n.opts.ConflictText(v.Timeline, c, lang, about)
			}
			out = append(out, detail{text: text})
		}
	}
	return out
}

// tell opens the patient's data as follower f and writes a notice of each
// kind whose details (worked out from that view) are not empty. Kinds whose
// notice is in the outbox already are skipped without a read.
func (n *Notifier) tell(ctx context.Context, f Preferences, patient, ref string, kinds []Kind,
	details func(*view.View, Kind) []detail, req view.Request) error {
	if !slices.Contains(f.Follow, patient) || n.opts.Senders[f.Channel] == nil {
		return nil
	}
	var todo []Kind
	for _, k := range kinds {
		done, err := n.store.enqueued(ctx, Key(patient, ref, f.Person, k))
		if err != nil {
			return err
		}
		if !done {
			todo = append(todo, k)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	v, audit, err := n.open(ctx, f, patient, req)
	if errors.Is(err, access.ErrNotVisible) {
		return nil // no (longer a) valid delegation: nothing to tell
	}
	if err != nil {
		return err
	}
	now := n.opts.Now()
	own := f.Person == patient
	var notices []notice
	for _, k := range todo {
		ds := details(v, k)
		if len(ds) == 0 {
			continue
		}
		if !n.opts.Details[f.Channel] {
			ds = nil
		}
		link := n.opts.BaseURL + "/p/" + url.PathEscape(patient) + "?lang=" + f.Lang
		subject, body := compose(f.Lang, k, own, v.Name, link, ds, n.opts.Location)
		nt := notice{Key: Key(patient, ref, f.Person, k), Patient: patient, Ref: ref, Recipient: f.Person, Kind: k,
			Channel: f.Channel, Address: f.Address, Lang: f.Lang, Subject: subject, Body: body, Link: link,
			QuietFrom: f.QuietFrom, QuietTo: f.QuietTo, Created: now, Next: now}
		if local := now.In(n.opts.Location); inQuiet(local, f.QuietFrom, f.QuietTo) {
			nt.Next = quietEnd(local, f.QuietTo)
		}
		notices = append(notices, nt)
	}
	if len(notices) == 0 {
		return nil // nothing this person may see: no notice, no row
	}
	audit.Ref = notices[0].Key
	if err := n.acc.Audit(ctx, audit); err != nil {
		return fmt.Errorf("audit notice: %w", err)
	}
	for _, nt := range notices {
		if _, err := n.store.enqueue(ctx, nt); err != nil {
			return err
		}
	}
	return nil
}

// open reads patient's data as f through the one authorized view, from
// cached timelines only, and returns its audit row unwritten.
func (n *Notifier) open(ctx context.Context, f Preferences, patient string, req view.Request) (*view.View, access.Event, error) {
	p := access.Principal{Subject: f.Subject, Handle: f.Person, Name: f.Name, Roles: []access.Role{access.RoleRelative}}
	if f.Person == patient {
		p.Roles = []access.Role{access.RolePatient}
	}
	if p.Subject == "" {
		p.Subject = "notify:" + f.Person
	}
	held := &heldAudit{Access: n.acc}
	v := view.New(cachedOnly{n.tl}, n.pats, view.Options{Access: held, Now: n.opts.Now, Logger: n.log})
	req.Principal, req.Handle, req.Action = p, patient, access.ActionNotice
	out, err := v.Open(ctx, req)
	if err != nil {
		return nil, access.Event{}, err
	}
	if held.ev == nil {
		return nil, access.Event{}, errors.New("notify: the view wrote no audit row")
	}
	return out, *held.ev, nil
}

// heldAudit decides through access but keeps the read's audit row for the
// Notifier to write once it knows a notice goes out (before it is written
// to the outbox, so before anything is sent).
type heldAudit struct {
	view.Access
	ev *access.Event
}

func (h *heldAudit) Audit(_ context.Context, ev access.Event) error {
	h.ev = &ev
	return nil
}

// cachedOnly reads timelines from the cache and never builds one: a
// patient nobody's timeline is cached for has nothing to tell.
type cachedOnly struct{ view.Timelines }

func (c cachedOnly) Timeline(ctx context.Context, p aggregator.PatientRef) (*aggregator.Timeline, error) {
	t, ok, err := c.Cached(ctx, p.Handle)
	if err != nil || !ok {
		return nil, err
	}
	return t, nil
}

// Key is the idempotency key of the notice of kind about patient's ref (a
// version, v42, or a reminder's day, d2026-12-03) to recipient: what the
// outbox is unique on, Idempotency-Key to a webhook and the Message-ID of
// an e-mail. A hash: it names nobody.
func Key(patient, ref, recipient string, k Kind) string {
	h := sha256.New()
	for _, s := range []string{"overblik notice", patient, ref, recipient, string(k)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// reminders writes the reminders of tomorrow's appointments once the day's
// reminder time has come, once a day in the cluster: the run is recorded
// when done, and a notice already in the outbox is not worked out again.
func (n *Notifier) reminders(ctx context.Context, now time.Time) error {
	local := now.In(n.opts.Location)
	at := time.Date(local.Year(), local.Month(), local.Day(), int(n.opts.ReminderAt)/60, int(n.opts.ReminderAt)%60, 0, 0, n.opts.Location)
	if local.Before(at) {
		return nil
	}
	run := "reminders:" + local.Format(time.DateOnly)
	if done, err := n.store.ran(ctx, run); err != nil || done {
		return err
	}
	from := time.Date(local.Year(), local.Month(), local.Day()+1, 0, 0, 0, 0, n.opts.Location)
	to := time.Date(local.Year(), local.Month(), local.Day()+2, 0, 0, 0, 0, n.opts.Location)
	ref := "d" + from.Format(time.DateOnly)
	people, err := n.store.remindable(ctx)
	if err != nil {
		return err
	}
	for _, p := range people {
		for _, patient := range p.Follow {
			if err := n.tell(ctx, p, patient, ref, []Kind{KindReminder}, func(v *view.View, _ Kind) []detail {
				return tomorrow(v, from, to)
			}, view.Request{}); err != nil {
				return err
			}
		}
	}
	return n.store.markRun(ctx, run, now)
}

// tomorrow are the visible entries starting in [from, to) that still take place.
func tomorrow(v *view.View, from, to time.Time) []detail {
	var out []detail
	for i := range v.Timeline.Entries {
		e := &v.Timeline.Entries[i]
		if e.Start.Before(from) || !e.Start.Before(to) {
			continue
		}
		switch e.Status {
		case aggregator.StatusCancelled, aggregator.StatusEnteredInError, aggregator.StatusCompleted, aggregator.StatusNoShow:
			continue
		}
		out = append(out, detail{entry: e})
	}
	return out
}
