package aggregator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/overblik/overblik/internal/buildid"
)

// Registration is a source as configured: the connector plus what the
// aggregator needs around it.
type Registration struct {
	Source  Source
	Display string        // human name, e.g. "Aarhus Universitetshospital"
	Phone   string        // whom to call about its appointments, when configured: said while it fails
	Timeout time.Duration // per-source deadline for one Fetch; default 10s
	// ChangeFeed: background refresh asks this source only for patients its
	// change feed names (and in full every RefresherOptions.FeedFullEvery).
	// Ignored unless the Source implements ChangeFeed.
	ChangeFeed bool
}

// Options tune the service; zero values take the defaults.
type Options struct {
	FreshFor time.Duration  // a timeline younger than this is served as is; default 2m
	Past     time.Duration  // window before now; default 90 days
	Future   time.Duration  // window after now; default 180 days
	Location *time.Location // day boundaries of the window; default UTC
	Now      func() time.Time
	Logger   *slog.Logger
	// Conflicts configures the coordination-conflict rules; nil = the
	// defaults (DefaultConflictRules).
	Conflicts *ConflictRules
	// Merge says when entries of different sources are one entry (a joint
	// meeting, a stay known twice); nil = the defaults (DefaultMergeRules).
	Merge *MergeRules
	// KeepChanges is how long each patient's changes are kept; default
	// DefaultKeepChanges (90 days).
	KeepChanges time.Duration
	// RefreshEvery is how often a Refresher refreshes a viewed patient;
	// default FreshFor. Shorter than FreshFor, changes reach a page that
	// is reloaded sooner than an on-demand refresh would bring them.
	RefreshEvery time.Duration
	// Metrics receives measurements; nil for none.
	Metrics Metrics
	// StaleRefreshes bounds the refreshes stale reads start that run at
	// once in this process, and StaleQueue the patients waiting for one;
	// a stale read beyond that is served without asking for a refresh (the
	// next read, or the background refresher, will). Defaults
	// DefaultStaleRefreshes and DefaultStaleQueue.
	StaleRefreshes int
	StaleQueue     int
	// RetryFirst and RetryMax pace the retries of a source that is down
	// for a viewed patient (retry.go): the first after RetryFirst, then
	// twice as long each time, up to RetryMax. Defaults DefaultRetryFirst
	// and DefaultRetryMax; a negative RetryFirst turns retries off.
	RetryFirst time.Duration
	RetryMax   time.Duration
	// Changed, when set, is called after a build was stored that recorded
	// changes or found conflicts the previous build did not have, with the
	// new version, its changes and the new conflicts, before the refresh
	// returns (and, with a shared cache, before its lease is released: each
	// version is seen once in the cluster). It must return within ctx and
	// handle its own errors; notices of changes hang on it.
	Changed func(ctx context.Context, handle string, version int64, changes []Change, conflictsAdded []Conflict)
	// Named, when set, hears the patient's name after each build in which a
	// source gave one (the first source in configuration order that did),
	// so it can be kept where identities are kept (Patients.SetName) and
	// never in the timeline. It must return within ctx; the name is
	// personal data.
	Named func(ctx context.Context, handle, name string)
}

// Service builds, caches and refreshes timelines.
type Service struct {
	regs    []Registration
	backend Backend
	opts    Options
	log     *slog.Logger
	built   string // names this build and its merge rules, see digest

	flight singleflight.Group
	views  viewNotes
	health sourceHealth   // each source's own last success and failure (sourcestate.go)
	feeds  feedWatch      // set by a Refresher with change feeds
	retry  retries        // sources down for viewed patients (retry.go)
	bg     sync.WaitGroup // background refreshes and retries, awaited by Close
	stop   chan struct{}  // closed by Close: retries stop waiting
	mu     sync.Mutex     // guards closed, stale and running
	closed bool
	// Refreshes stale reads asked for: the patients waiting or under way
	// (at most StaleQueue), and how many run (at most StaleRefreshes).
	stale   map[string]staleRead
	queue   []string
	running int
}

// New checks the registrations and returns a service keeping its state in
// backend. The Schedule learns which patients are viewed, so that a
// Refresher on the same backend keeps them fresh in the background.
func New(regs []Registration, backend Backend, opts Options) (*Service, error) {
	if len(regs) == 0 {
		return nil, errors.New("aggregator: no sources")
	}
	if err := backend.check(); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	regs = append([]Registration(nil), regs...)
	for i := range regs {
		r := &regs[i]
		if r.Source == nil {
			return nil, fmt.Errorf("aggregator: registration %d has no source", i)
		}
		name := r.Source.Name()
		if name == "" || seen[name] {
			return nil, fmt.Errorf("aggregator: source name %q is empty or not unique", name)
		}
		seen[name] = true
		if r.Timeout <= 0 {
			r.Timeout = 10 * time.Second
		}
		if r.Display == "" {
			r.Display = name
		}
	}
	if opts.FreshFor <= 0 {
		opts.FreshFor = 2 * time.Minute
	}
	if opts.RefreshEvery <= 0 {
		opts.RefreshEvery = opts.FreshFor
	}
	if opts.Past <= 0 {
		opts.Past = 90 * 24 * time.Hour
	}
	if opts.Future <= 0 {
		opts.Future = 180 * 24 * time.Hour
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Conflicts == nil {
		opts.Conflicts = &ConflictRules{}
	}
	if opts.KeepChanges <= 0 {
		opts.KeepChanges = DefaultKeepChanges
	}
	if opts.Metrics == nil {
		opts.Metrics = noMetrics{}
	}
	if opts.StaleRefreshes <= 0 {
		opts.StaleRefreshes = DefaultStaleRefreshes
	}
	if opts.StaleQueue <= 0 {
		opts.StaleQueue = DefaultStaleQueue
	}
	if opts.RetryFirst == 0 {
		opts.RetryFirst = DefaultRetryFirst
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = DefaultRetryMax
	}
	opts.RetryMax = max(opts.RetryMax, opts.RetryFirst)
	rules := opts.Conflicts.withDefaults()
	opts.Conflicts = &rules // a copy: the caller's struct may change later
	mr := DefaultMergeRules()
	if opts.Merge != nil {
		mr = opts.Merge.withDefaults()
	}
	opts.Merge = &mr
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// A stored digest is trusted by the build that made it only: another
	// may normalise or merge differently (internal/buildid).
	built := digestOf(buildid.Fingerprint(), fmt.Sprintf("%+v", mr))
	return &Service{regs: regs, backend: backend, opts: opts, log: log, built: built, stop: make(chan struct{})}, nil
}

// Timeline returns the patient's timeline under the freshness policy: a fresh
// cached one as is; an older one at once, refreshed in the background; none
// at all built now. Concurrent callers for one patient share one refresh.
func (s *Service) Timeline(ctx context.Context, p PatientRef) (*Timeline, error) {
	cached, ok, err := s.backend.Timelines.Get(ctx, p.Handle)
	if err != nil {
		// A broken cache must not hide the timeline: build it directly.
		s.log.WarnContext(ctx, "cache get failed", "patient", p, "err", err)
		ok = false
	}
	if ok {
		if !s.fresh(cached, s.opts.Now()) {
			s.opts.Metrics.CacheRead(CacheStale)
			s.refreshInBackground(p, cached.GeneratedAt)
		} else {
			s.opts.Metrics.CacheRead(CacheHit)
		}
		if !cached.Unknown() {
			s.noteViewed(ctx, p.Handle, cached)
			s.noteFailures(p, cached)
		}
		return cached, nil
	}
	s.opts.Metrics.CacheRead(CacheMiss)
	t, err := s.Refresh(ctx, p)
	if err == nil && !t.Unknown() {
		// A patient no source knows (a mistyped identifier) is not worth
		// asking every source about again and again.
		s.noteViewed(ctx, p.Handle, t)
		s.noteFailures(p, t)
	}
	return t, err
}

// fresh says whether t may be served without a refresh: younger than
// FreshFor, or vouched for by change feeds (feedWatch.vouches), and not
// showing a source down that has answered since (recovered).
func (s *Service) fresh(t *Timeline, now time.Time) bool {
	if s.recovered(t) {
		return false
	}
	return now.Sub(t.GeneratedAt) < s.opts.FreshFor || s.feeds.vouches(t, len(s.regs), now)
}

// Cached returns the patient's timeline if one is cached, without building
// or refreshing anything: for views across patients, such as a worklist.
func (s *Service) Cached(ctx context.Context, handle string) (*Timeline, bool, error) {
	t, ok, err := s.backend.Timelines.Get(ctx, handle)
	if err != nil {
		return nil, false, fmt.Errorf("cached timeline of %s: %w", handle, err)
	}
	return t, ok, nil
}

// Conflicts finds the coordination conflicts among t's entries under the
// configured rules, as a build at t.GeneratedAt would: for a copy of a
// timeline some entries were taken out of, whose stored conflicts may
// involve them.
func (s *Service) Conflicts(t *Timeline) []Conflict {
	return s.opts.Conflicts.Find(t, s.opts.Location, t.GeneratedAt)
}

// Refresh builds the patient's timeline now (sharing a build already running
// for the same patient), stores it and returns it. The build itself is not
// cancelled when ctx is: other callers may be waiting for it.
func (s *Service) Refresh(ctx context.Context, p PatientRef) (*Timeline, error) {
	return s.refreshShared(ctx, p, time.Time{}, plan{})
}

// plan is what a background refresh knows before building: the cached
// timeline it decided on (prev), the sources not to ask (reuse: their
// entries and status come from prev) and the change-feed marks its claim
// carried, which the build covers (SourceStatus.FeedMark). A build without
// a claim covers none: a source it read may be read once more for a mark
// it did cover, never skipped for one it did not.
type plan struct {
	claimed bool
	prev    *Timeline // nil: refresh reads the cached timeline itself
	reuse   map[string]bool
	marks   map[string]int64
}

// refreshShared runs one refresh per patient in this process. seen is the
// GeneratedAt of the old timeline that made the caller refresh, zero when
// it wants a build whatever the cache holds.
func (s *Service) refreshShared(ctx context.Context, p PatientRef, seen time.Time, pl plan) (*Timeline, error) {
	ch := s.flight.DoChan(p.Handle, func() (any, error) {
		return s.refresh(context.WithoutCancel(ctx), p, seen, pl)
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*Timeline), nil
	}
}

// Close stops retrying failed sources, waits for background refreshes to
// finish and refuses new ones.
func (s *Service) Close() {
	s.mu.Lock()
	if !s.closed {
		close(s.stop)
	}
	s.closed = true
	s.mu.Unlock()
	s.bg.Wait()
}

// Defaults of the refreshes stale reads start.
const (
	DefaultStaleRefreshes = 8
	DefaultStaleQueue     = 1024
)

// refreshInBackground asks for p to be refreshed after a stale read: once
// however many reads ask (a patient waiting or under way is not queued
// again), at most StaleRefreshes at a time, the others waiting in order,
// and none beyond StaleQueue waiting, so a burst of stale reads (a restart,
// a Redis back after an outage) never starts a goroutine per read.
func (s *Service) refreshInBackground(p PatientRef, seen time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if _, ok := s.stale[p.Handle]; ok {
		return
	}
	if len(s.stale) >= s.opts.StaleQueue {
		s.log.Debug("stale-read refreshes are queued full; served stale without one", "patient", p)
		return
	}
	if s.stale == nil {
		s.stale = map[string]staleRead{}
	}
	s.stale[p.Handle] = staleRead{p: p, seen: seen}
	s.queue = append(s.queue, p.Handle)
	if s.running >= s.opts.StaleRefreshes {
		return
	}
	s.running++
	s.bg.Add(1)
	go s.refreshStale()
}

// staleRead is a patient a stale read asked to refresh, and the
// GeneratedAt of the timeline it read.
type staleRead struct {
	p    PatientRef
	seen time.Time
}

// refreshStale refreshes queued patients until the queue is empty.
func (s *Service) refreshStale() {
	defer s.bg.Done()
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.running--
			s.mu.Unlock()
			return
		}
		h := s.queue[0]
		s.queue = s.queue[1:]
		r := s.stale[h]
		s.mu.Unlock()
		if _, err := s.refreshShared(context.Background(), r.p, r.seen, plan{}); err != nil {
			s.log.Warn("background refresh failed", "patient", r.p, "err", err)
		}
		s.mu.Lock()
		delete(s.stale, h)
		s.mu.Unlock()
	}
}

func (s *Service) buildTimeout() time.Duration {
	var longest time.Duration
	for _, r := range s.regs {
		longest = max(longest, r.Timeout)
	}
	return longest + 5*time.Second
}

// refresh builds and stores the timeline, unless another replica (or an
// earlier flight) has refreshed it since the caller saw it at seen. ctx has
// no deadline: the wait for another replica and the build each get
// buildTimeout.
func (s *Service) refresh(ctx context.Context, p PatientRef, seen time.Time, pl plan) (*Timeline, error) {
	// The background refresh has just read it (a round trip to Redis
	// per refresh saved); the lease below still waits for any replica
	// that builds meanwhile.
	prev := pl.prev
	if prev == nil {
		cached, ok, err := s.backend.Timelines.Get(ctx, p.Handle)
		if err == nil && ok {
			prev = cached
		}
	}
	since := seen // cached timelines are compared with each other, never with our clock
	if prev != nil && prev.GeneratedAt.After(since) {
		if !seen.IsZero() {
			return prev, nil
		}
		since = prev.GeneratedAt
	}
	t, release := s.lease(ctx, s.backend.Lease, p, since)
	if t != nil {
		return t, nil
	}
	if release != nil {
		defer func() {
			if err := release(ctx); err != nil {
				s.log.WarnContext(ctx, "refresh lease release failed", "patient", p, "err", err)
			}
		}()
	}
	return s.buildAndStore(ctx, p, prev, pl), nil
}

// buildAndStore builds p's timeline after prev (nil: none cached) and
// stores it, under the lease the caller holds or could not take.
func (s *Service) buildAndStore(ctx context.Context, p PatientRef, prev *Timeline, pl plan) *Timeline {
	bctx, cancel := context.WithTimeout(ctx, s.buildTimeout())
	defer cancel()
	start := time.Now()
	t, name := s.build(bctx, p, prev, pl)
	s.opts.Metrics.TimelineBuilt(time.Since(start))
	if name != "" && s.opts.Named != nil {
		s.opts.Named(bctx, p.Handle, name)
	}
	t.Version = s.lastVersion(bctx, p.Handle, prev) + 1
	stored, cs := s.store(bctx, p, prev, t)
	// Changed reads the stored build back: without it there is nothing to read.
	if s.opts.Changed != nil && prev != nil && stored {
		if added := newConflicts(prev, t); len(cs) > 0 || len(added) > 0 {
			s.opts.Changed(bctx, p.Handle, t.Version, cs, added)
		}
	}
	return t
}

// lastVersion is the version of prev, or, when the cache lost the timeline
// but kept its changes, the newest version they name, so versions never go
// back.
func (s *Service) lastVersion(ctx context.Context, handle string, prev *Timeline) int64 {
	if prev != nil {
		return prev.Version
	}
	cs, err := s.backend.Changes.Changes(ctx, handle, time.Time{})
	if err != nil || len(cs) == 0 {
		return 0
	}
	var v int64
	for _, c := range cs {
		v = max(v, c.Version)
	}
	return v
}

// lease makes this replica the one in the cluster that refreshes p, or waits
// for the replica that is. It returns that replica's timeline (one generated
// after since), or the lease to release after building, or neither when the
// lease cannot coordinate: then this replica builds on its own, since a
// refresh too many beats none.
func (s *Service) lease(ctx context.Context, l Lease, p PatientRef, since time.Time) (*Timeline, func(context.Context) error) {
	ctx, cancel := context.WithTimeout(ctx, s.buildTimeout())
	defer cancel()
	for range 2 { // a holder that gives up hands over once
		release, ok, err := l.Acquire(ctx, p.Handle, s.buildTimeout())
		if err != nil {
			s.log.WarnContext(ctx, "refresh lease unavailable; refreshing without it", "patient", p, "err", err)
			return nil, nil
		}
		if ok {
			// Another replica may have stored its refresh between our read and
			// our lease: use it rather than ask the sources again.
			if cur, ok, err := s.backend.Timelines.Get(ctx, p.Handle); err == nil && ok && cur.GeneratedAt.After(since) {
				_ = release(ctx)
				return cur, nil
			}
			return nil, release
		}
		t, err := l.Wait(ctx, p.Handle, since)
		if err == nil {
			return t, nil
		}
		if ctx.Err() != nil {
			s.log.WarnContext(ctx, "waited for another replica's refresh in vain", "patient", p)
			return nil, nil
		}
	}
	return nil, nil
}

// Window is the period timelines cover at now: whole days in the configured zone.
func (s *Service) Window(now time.Time) Window {
	day := func(t time.Time) time.Time {
		t = t.In(s.opts.Location)
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, s.opts.Location)
	}
	return Window{From: day(now.Add(-s.opts.Past)), To: day(now.Add(s.opts.Future)).AddDate(0, 0, 1)}
}

type fetchResult struct {
	batch    Batch
	err      error
	duration time.Duration
	digest   string // SourceStatus.Digest of this read; empty when it has none
	// later normalises a reading whose digest matched the source's last
	// good read, if the build needs its entries after all; nil otherwise.
	later func(context.Context, []Entry) (Batch, error)
}

// lastRead is what the source's previous good read in this window gave:
// its SourceStatus.Digest, and prev's entries (every source's, shared: a
// built timeline is never changed), where the source finds its own.
type lastRead struct {
	digest  string
	entries []Entry
}

// build fans out to every source in parallel. A failing source never fails
// the timeline: its last good entries from prev stay, marked stale. A source
// in pl.reuse is not asked when prev has its status: its entries in the
// window and its status stay as they were. A source read covers the marks
// of a claimed pl (see plan). patientName is the patient's name from the
// first source (in configuration order) that gave one.
//
// When every source asked read what it read for prev (equal digests) in
// the same window, prev's entries are the merge of what they said, and
// stay, with nothing normalised or merged again: most refreshes find
// nothing changed. Otherwise such a reading is normalised after all.
func (s *Service) build(ctx context.Context, p PatientRef, prev *Timeline, pl plan) (_ *Timeline, patientName string) {
	now := s.opts.Now()
	w := s.Window(now)
	results := make([]fetchResult, len(s.regs))
	kept := make([]*SourceStatus, len(s.regs))
	lasts := make([]lastRead, len(s.regs))
	var asked []int
	for i, r := range s.regs {
		if prev != nil {
			st := statusOf(prev, r.Source.Name())
			if pl.reuse[r.Source.Name()] && st != nil {
				kept[i] = st
				continue
			}
			if st != nil && st.OK && prev.Window.From.Equal(w.From) && prev.Window.To.Equal(w.To) {
				lasts[i] = lastRead{digest: st.Digest, entries: prev.Entries}
			}
		}
		asked = append(asked, i)
	}
	each(asked, func(i int) { results[i] = s.fetch(ctx, s.regs[i], p, w, lasts[i]) })

	t := &Timeline{Patient: p.Handle, GeneratedAt: now, Window: w}
	found := false // t.Conflicts
	if s.unchanged(results, kept) {
		patientName = s.keep(t, prev, results, kept)
		if clockless(t) { // the same entries in the same window: the same conflicts
			t.Conflicts, found = prev.Conflicts, true // shared, as the entries are
		}
	} else {
		var later []int
		for i := range s.regs {
			if results[i].later != nil {
				later = append(later, i)
			}
		}
		each(later, func(i int) { s.normaliseLater(ctx, s.regs[i], &results[i], lasts[i].entries) })
		patientName = s.assemble(ctx, t, p, prev, results, kept)
	}
	if !found {
		t.Conflicts = s.opts.Conflicts.Find(t, s.opts.Location, now)
	}
	for i := range t.Sources {
		t.Sources[i].FeedMark = 0
		if pl.claimed {
			t.Sources[i].FeedMark = pl.marks[t.Sources[i].Name]
		}
		t.Sources[i].Entries = countOf(t.Entries, t.Sources[i].Name)
	}
	return t, patientName
}

// each runs fn for every index in is at once, and returns when all are
// done; one runs in the caller's goroutine. With change feeds most builds
// ask one source, and a goroutine of its own cost that build its start and
// the growth of its stack.
func each(is []int, fn func(i int)) {
	if len(is) == 1 {
		fn(is[0])
		return
	}
	// A plain Group, not WithContext: one source's failure must not cancel the others.
	var g errgroup.Group
	for _, i := range is {
		g.Go(func() error {
			fn(i)
			return nil
		})
	}
	_ = g.Wait()
}

// unchanged reports whether every source was kept or read the same as for
// the previous build (fetch left its reading to normalise later).
func (s *Service) unchanged(results []fetchResult, kept []*SourceStatus) bool {
	asked := false
	for i := range s.regs {
		if kept[i] != nil {
			continue
		}
		if results[i].later == nil {
			return false
		}
		asked = true
	}
	return asked
}

// keep fills t from prev for a build in which nothing changed: prev's
// entries, the read sources' statuses good now.
func (s *Service) keep(t, prev *Timeline, results []fetchResult, kept []*SourceStatus) (patientName string) {
	for i, r := range s.regs {
		name := r.Source.Name()
		if kept[i] != nil {
			t.Sources = append(t.Sources, *kept[i])
			continue
		}
		res := results[i]
		st := *statusOf(prev, name) // present: its digest matched
		st.Display, st.Phone, st.Sector, st.Duration = r.Display, r.Phone, r.Source.Sector(), res.duration
		st.LastSuccess, st.Digest = t.GeneratedAt, res.digest
		t.Sources = append(t.Sources, st)
		if patientName == "" {
			patientName = res.batch.PatientName
		}
	}
	// prev's entries themselves: a built timeline is never changed (caches
	// hand one to every reader), so the two share them. An entry's
	// FetchedAt stays when it was made; its source's LastSuccess is when
	// it was last read.
	t.Entries = prev.Entries
	return patientName
}

// assemble fills t from what the sources said, prev for those kept or
// failed, and merges the entries.
func (s *Service) assemble(ctx context.Context, t *Timeline, p PatientRef, prev *Timeline, results []fetchResult, kept []*SourceStatus) (patientName string) {
	now, w := t.GeneratedAt, t.Window
	n := 0 // the entries, at most
	for i, r := range s.regs {
		if res := results[i]; kept[i] == nil && res.err == nil {
			n += len(res.batch.Entries)
		} else if prev != nil {
			n += countOf(prev.Entries, r.Source.Name())
		}
	}
	all := make([]Entry, 0, n)
	for i, r := range s.regs {
		res := results[i]
		name := r.Source.Name()
		st := SourceStatus{Name: name, Display: r.Display, Phone: r.Phone, Sector: r.Source.Sector(), Duration: res.duration}
		if kept[i] != nil {
			st = *kept[i]
			for k := range prev.Entries {
				if e := &prev.Entries[k]; e.Source == name && inWindow(e, w) {
					all = append(all, *e) // merge copies what it keeps
				}
			}
		} else if res.err == nil {
			if patientName == "" {
				patientName = res.batch.PatientName
			}
			st.OK = true
			st.LastSuccess = now
			st.Skipped, st.Warnings = res.batch.Skipped, res.batch.Warnings
			if !res.batch.Unsettled {
				st.Digest = res.digest
			}
			for k := range res.batch.Entries {
				all = append(all, res.batch.Entries[k])
				e := &all[len(all)-1]
				e.Source, e.Sector, e.Stale, e.FetchedAt = name, st.Sector, false, now
				// Whatever a connector let through, only an https link leaves.
				e.VideoURL = SafeURL(e.VideoURL)
			}
			if res.batch.Skipped > 0 || res.batch.Warnings > 0 {
				s.log.WarnContext(ctx, "source skipped resources", "source", name, "patient", p,
					"skipped", res.batch.Skipped, "warnings", res.batch.Warnings, "notes", res.batch.Notes)
			}
		} else {
			st.ErrorKind = KindOf(res.err)
			st.Error = res.err.Error()
			s.log.WarnContext(ctx, "source failed", "source", name, "patient", p, "kind", st.ErrorKind, "err", res.err)
			if prev != nil {
				all = append(all, lastGood(prev, name, &st)...)
			}
		}
		t.Sources = append(t.Sources, st)
	}
	t.Entries = merge(all, *s.opts.Merge)
	return patientName
}

// countOf counts the entries of source name in es.
func countOf(es []Entry, name string) int {
	n := 0
	for i := range es {
		if es[i].Source == name {
			n++
		}
	}
	return n
}

// statusOf returns the status of source name in t, nil when it has none.
func statusOf(t *Timeline, name string) *SourceStatus {
	for i := range t.Sources {
		if t.Sources[i].Name == name {
			st := t.Sources[i]
			return &st
		}
	}
	return nil
}

// lastGood returns the entries a failed source contributed to the previous
// timeline, marked stale as fetched when the source last answered, and
// carries that time over.
func lastGood(prev *Timeline, name string, st *SourceStatus) []Entry {
	for _, ps := range prev.Sources {
		if ps.Name == name {
			st.LastSuccess = ps.LastSuccess
		}
	}
	var out []Entry
	for _, e := range prev.Entries {
		if e.Source == name {
			// On a copy of the struct; merge copies its slices.
			if e.Stale = true; !st.LastSuccess.IsZero() {
				e.FetchedAt = st.LastSuccess
			}
			out = append(out, e)
		}
	}
	return out
}

// fetch asks one source for the patient's entries in w. last is the
// source's last good read for prev in this window: a Reader that reads the
// same again is not normalised now (fetchResult.later), and one that reads
// something else may keep the entries of what it read the same.
func (s *Service) fetch(ctx context.Context, r Registration, p PatientRef, w Window, last lastRead) (res fetchResult) {
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	start := time.Now()
	defer func() { // runs last: after the recover below has turned a panic into an error
		var kind ErrorKind
		var retryAfter time.Duration
		if res.err != nil {
			kind = KindOf(res.err)
			if se := (*SourceError)(nil); errors.As(res.err, &se) {
				retryAfter = se.RetryAfter
			}
		}
		s.opts.Metrics.SourceFetched(r.Source.Name(), res.duration, kind)
		s.health.record(r.Source.Name(), s.opts.Now(), kind, retryAfter)
	}()
	defer func() {
		res.duration = time.Since(start)
		if v := recover(); v != nil {
			// A connector bug must cost that source only, never the timeline.
			res = fetchResult{err: &SourceError{Source: r.Source.Name(), Kind: Invalid, Msg: fmt.Sprintf("connector panicked: %v", v)}, duration: time.Since(start)}
		}
	}()
	var b Batch
	var err error
	if rd, ok := r.Source.(Reader); ok {
		var reading Reading
		if reading, err = rd.Read(ctx, p, w); err == nil {
			res.digest = s.digest(r, reading.Digest)
			if res.digest != "" && res.digest == last.digest {
				res.batch.PatientName, res.later = reading.PatientName, reading.Normalise
				return res
			}
			if b, err = reading.Normalise(ctx, last.entries); b.PatientName == "" {
				b.PatientName = reading.PatientName
			}
		}
	} else {
		b, err = r.Source.Fetch(ctx, p, w)
	}
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded && KindOf(err) != Timeout {
			err = &SourceError{Source: r.Source.Name(), Kind: Timeout, Msg: fmt.Sprintf("no answer within %s", r.Timeout), Err: err}
		}
		return fetchResult{err: err}
	}
	res.batch = b
	return res
}

// normaliseLater normalises a reading fetch left for later, within the
// source's deadline and, as fetch does, turning a panic into its error.
func (s *Service) normaliseLater(ctx context.Context, r Registration, res *fetchResult, last []Entry) {
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	later := res.later
	res.later = nil
	defer func() {
		if v := recover(); v != nil {
			res.batch, res.err = Batch{}, &SourceError{Source: r.Source.Name(), Kind: Invalid, Msg: fmt.Sprintf("connector panicked: %v", v)}
		}
	}()
	name := res.batch.PatientName
	res.batch, res.err = later(ctx, last)
	if res.batch.PatientName == "" {
		res.batch.PatientName = name
	}
}

// digest is a reading's SourceStatus.Digest: the source's digest, bound
// to this build of overblik, its merge rules and the source's place.
func (s *Service) digest(r Registration, read string) string {
	if read == "" {
		return ""
	}
	return digestOf(s.built, r.Source.Name(), string(r.Source.Sector()), read)
}
