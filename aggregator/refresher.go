package aggregator

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of background refresh.
const (
	DefaultViewedWithin = 30 * 24 * time.Hour
	DefaultPerSource    = 4
	DefaultTick         = time.Second
	DefaultJitter       = 0.2
)

// viewNoteEvery is how often one replica tells the Schedule that a patient
// it serves was viewed: "viewed in the last 30 days" needs no finer grain,
// and a cached read must not pay a Redis write each time.
const viewNoteEvery = time.Hour

// maxViewNotes bounds the memory of which patients were noted; forgetting
// them all costs one more Schedule write each.
const maxViewNotes = 100_000

// viewNoteTimeout bounds the Schedule write a view makes, so a Redis that
// hangs costs a request that much at most; and viewNoteRetry is how soon a
// failed one is tried again for the same patient.
const (
	viewNoteTimeout = 250 * time.Millisecond
	viewNoteRetry   = time.Minute
)

type viewNotes struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// noteViewed tells the Schedule, at most once per viewNoteEvery per patient
// and replica, that handle was viewed; a patient new to the schedule is due
// a little before its timeline t turns stale, so a refresher that keeps up
// means viewers never see a stale one, or, when change feeds stand for all
// of t (feedWatch.fullRead), at its first full read. A failure costs the
// background refresh of one patient for a while, never the request: logged.
func (s *Service) noteViewed(ctx context.Context, handle string, t *Timeline) {
	sched := s.backend.Schedule
	now := s.opts.Now()
	s.views.mu.Lock()
	if last, ok := s.views.last[handle]; ok && now.Sub(last) < viewNoteEvery && !now.Before(last) {
		s.views.mu.Unlock()
		return
	}
	if s.views.last == nil || len(s.views.last) >= maxViewNotes {
		s.views.last = make(map[string]time.Time)
	}
	s.views.last[handle] = now
	s.views.mu.Unlock()
	vctx, cancel := context.WithTimeout(ctx, viewNoteTimeout)
	defer cancel()
	due := t.GeneratedAt.Add(dueIn(s.opts.RefreshEvery, DefaultJitter))
	if full, ok := s.feeds.fullRead(t, len(s.regs)); ok {
		due = full
	}
	if err := sched.Viewed(vctx, handle, now, due); err != nil {
		s.views.mu.Lock()
		s.views.last[handle] = now.Add(viewNoteRetry - viewNoteEvery) // try again in a minute, not at every view
		s.views.mu.Unlock()
		s.log.WarnContext(ctx, "recording a view for background refresh failed", "patient", handle, "err", err)
	}
}

// dueIn is how long after a build a patient is next due: a little before
// the timeline turns stale after interval, and earlier by up to jitter of
// the interval at random, so patients viewed together spread out rather
// than come due in step.
func dueIn(interval time.Duration, jitter float64) time.Duration {
	return interval - time.Duration(float64(interval)*(0.05+jitter*rand.Float64()))
}

// PatientResolver maps a handle back to the patient the sources are asked
// for; *Patients is one.
type PatientResolver interface {
	Resolve(ctx context.Context, handle string) (PatientRef, bool, error)
}

// RefresherOptions tune a Refresher; zero values take the defaults.
type RefresherOptions struct {
	// ViewedWithin: patients viewed longer ago leave the schedule. Default 30 days.
	ViewedWithin time.Duration
	// PerSource bounds the refreshes running at once in this replica; each
	// asks every source once, so no source gets more concurrent requests
	// from the refresher than this. Default DefaultPerSource.
	PerSource int
	// Tick is how often Run looks for due patients. Default 1s.
	Tick time.Duration
	// Jitter is the share of the interval (the service's RefreshEvery) by which
	// a patient's refresh comes early at random when it is scheduled afresh
	// (after a claim more than half an interval late); on time, a patient
	// keeps its pace. Default 0.2.
	Jitter float64
	// FeedEvery is how often this replica asks the change feeds. Default 10s.
	FeedEvery time.Duration
	// FeedFullEvery is how often a source with a change feed is read in
	// full for each viewed patient anyway: it catches deletions a feed does
	// not show and entries that came into the window as time passed.
	// Default 24h.
	FeedFullEvery time.Duration
	Logger        *slog.Logger
}

// Refresher keeps the timelines of recently viewed patients fresh without
// anyone waiting: every replica runs one on the shared Schedule, which hands
// each due patient to one of them, and the service's lease makes sure only
// one of them asks the sources even when a viewer refreshes too.
type Refresher struct {
	svc      *Service
	sched    Schedule
	cursors  Cursors
	patients PatientResolver
	handles  HandleMaker
	feeds    []string // sources whose change feed is used
	opts     RefresherOptions
	log      *slog.Logger

	mu       sync.Mutex
	lastPoll time.Time // of the change feeds
}

// NewRefresher returns a refresher for the patients svc notes as viewed,
// on svc's backend (its Schedule and, for change feeds, its Cursors).
// Change feeds need a resolver that makes handles too (a HandleMaker, as
// *Patients is).
func NewRefresher(svc *Service, patients PatientResolver, opts RefresherOptions) (*Refresher, error) {
	if svc == nil || patients == nil {
		return nil, errors.New("aggregator: a refresher needs a service and a patient resolver")
	}
	if opts.ViewedWithin <= 0 {
		opts.ViewedWithin = DefaultViewedWithin
	}
	if opts.PerSource <= 0 {
		opts.PerSource = DefaultPerSource
	}
	if opts.Tick <= 0 {
		opts.Tick = DefaultTick
	}
	if opts.Jitter <= 0 || opts.Jitter >= 1 {
		opts.Jitter = DefaultJitter
	}
	if opts.FeedEvery <= 0 {
		opts.FeedEvery = DefaultFeedEvery
	}
	if opts.FeedFullEvery <= 0 {
		opts.FeedFullEvery = DefaultFeedFullEvery
	}
	log := opts.Logger
	if log == nil {
		log = svc.log
	}
	r := &Refresher{svc: svc, sched: svc.backend.Schedule, cursors: svc.backend.Cursors, patients: patients,
		feeds: svc.feedSources(), opts: opts, log: log}
	if len(r.feeds) > 0 {
		hm, ok := patients.(HandleMaker)
		if !ok {
			return nil, errors.New("aggregator: change feeds need a resolver that makes handles (*Patients)")
		}
		r.handles = hm
		svc.feeds.watch(r.feeds, opts.FeedEvery, opts.FeedFullEvery)
	}
	return r, nil
}

// Run refreshes due patients every Tick until ctx is done, then waits for
// the refreshes it started and returns nil.
func (r *Refresher) Run(ctx context.Context) error {
	tick := time.NewTicker(r.opts.Tick)
	defer tick.Stop()
	failing := false
	for {
		// Said once when rounds start failing (a Redis outage fails every
		// tick) and once when they work again.
		switch _, err := r.RunOnce(ctx); {
		case err != nil && ctx.Err() == nil && !failing:
			failing = true
			r.log.WarnContext(ctx, "background refresh rounds are failing", "err", err)
		case err == nil && failing:
			failing = false
			r.log.InfoContext(ctx, "background refresh rounds work again")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// RunOnce claims the patients due now, batch by batch, refreshes them with
// bounded concurrency and returns how many it refreshed (a patient found
// fresh already, or not resolvable here, does not count). A ctx that ends
// stops the claiming; refreshes under way finish.
func (r *Refresher) RunOnce(ctx context.Context) (int, error) {
	interval := r.svc.opts.RefreshEvery
	batch := 4 * r.opts.PerSource
	w := &workers{limit: r.opts.PerSource, refresh: r.refreshOne}
	var rescheduled sync.WaitGroup // the batches' flushes
	defer func() { w.wait(); rescheduled.Wait() }()
	r.pollFeeds(ctx)
	r.reportQueue(ctx)
	for ctx.Err() == nil {
		now := r.svc.opts.Now()
		// The claim runs out after a whole interval: a replica that dies
		// with it leaves the patient to another one then.
		hs, err := r.sched.Claim(ctx, now, batch, now.Add(interval), now.Add(-r.opts.ViewedWithin))
		if err != nil {
			return w.wait(), err
		}
		// A claimed batch is rescheduled in one step once all of it is done
		// (a round trip per batch, not per patient); its claims last an
		// interval, much longer than the slowest of it may take.
		next := &nextBatch{}
		var batchDone sync.WaitGroup
		for _, c := range hs {
			batchDone.Add(1)
			w.do(job{ctx: context.WithoutCancel(ctx), c: c, next: next, done: &batchDone})
		}
		rescheduled.Add(1)
		go func() {
			defer rescheduled.Done()
			batchDone.Wait()
			r.flush(context.WithoutCancel(ctx), next)
		}()
		if len(hs) < batch {
			break
		}
	}
	return w.wait(), nil
}

// job is one claimed patient of a batch for a worker.
type job struct {
	ctx  context.Context
	c    Claim
	next *nextBatch
	done *sync.WaitGroup
}

// workers run one round's refreshes, at most limit at once, each worker
// one after another: started as the jobs need them and kept for the round,
// a worker's stack grows to a build's depth once, not once per patient as
// a goroutine per patient did (3% of the region rows' CPU).
type workers struct {
	limit   int
	refresh func(ctx context.Context, c Claim, next *nextBatch) bool

	jobs      chan job
	started   int
	running   sync.WaitGroup
	refreshed atomic.Int64
	closed    bool
}

func (w *workers) do(j job) {
	if w.jobs == nil {
		w.jobs = make(chan job)
	}
	select {
	case w.jobs <- j: // a worker was waiting
		return
	default:
	}
	if w.started < w.limit {
		w.started++
		w.running.Add(1)
		go w.work()
	}
	w.jobs <- j
}

func (w *workers) work() {
	defer w.running.Done()
	for j := range w.jobs {
		if w.refresh(j.ctx, j.c, j.next) {
			w.refreshed.Add(1)
		}
		j.done.Done()
	}
}

// wait lets the workers finish what they were given and returns how many
// patients they refreshed. Only the round's goroutine calls do and wait.
func (w *workers) wait() int {
	if !w.closed && w.jobs != nil {
		close(w.jobs)
	}
	w.closed = true
	w.running.Wait()
	return int(w.refreshed.Load())
}

// nextBatch collects when a claimed batch's patients are due next.
type nextBatch struct {
	mu   sync.Mutex
	next []Next
}

func (b *nextBatch) add(n Next) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next = append(b.next, n)
}

// flush reschedules what b collected.
func (r *Refresher) flush(ctx context.Context, b *nextBatch) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.next) == 0 {
		return
	}
	if err := r.sched.Reschedule(ctx, b.next...); err != nil {
		// The claims run out after an interval and bring them back anyway.
		r.log.WarnContext(ctx, "background refresh: reschedule failed", "patients", len(b.next), "err", err)
	}
}

func (r *Refresher) reportQueue(ctx context.Context) {
	now := r.svc.opts.Now()
	n, earliest, err := r.sched.Due(ctx, now)
	if err != nil {
		return // the claim will fail and say so
	}
	var lag time.Duration
	if n > 0 && earliest.Before(now) {
		lag = now.Sub(earliest)
	}
	r.svc.opts.Metrics.RefreshQueue(n, lag)
}

// refreshOne refreshes one claimed patient unless its timeline is fresh
// enough already, and schedules the next refresh (see reschedule).
// Sources with a change feed that named no change are not asked; when that
// is every source, nothing is built. With a LeaseReader the lease comes
// first, with the timeline, and a patient found fresh is let go again.
func (r *Refresher) refreshOne(ctx context.Context, c Claim, next *nextBatch) bool {
	handle := c.Handle
	p, ok, err := r.patients.Resolve(ctx, handle)
	if err != nil || !ok {
		// Another replica may know the patient; the claim runs out and
		// gives it a chance.
		if err != nil {
			r.log.WarnContext(ctx, "background refresh: cannot resolve patient", "patient", handle, "err", err)
		}
		return false
	}
	if lr, ok := r.svc.backend.Lease.(LeaseReader); ok {
		release, cached, ok, err := lr.AcquireRead(ctx, handle, r.svc.buildTimeout())
		if err == nil && ok {
			defer func() {
				if err := release(ctx); err != nil {
					r.log.WarnContext(ctx, "refresh lease release failed", "patient", handle, "err", err)
				}
			}()
			reuse, skip := r.decide(cached, c)
			if skip {
				next.add(r.reschedule(c, cached))
				return false
			}
			// Not through the service's single-flight: a viewer's refresh of
			// the patient here waits for this build as another replica's
			// would (the lease), rather than this one for it.
			t := r.svc.buildAndStore(ctx, p, cached, plan{claimed: true, prev: cached, reuse: reuse, marks: c.Marks})
			next.add(r.reschedule(c, t))
			return true
		}
		// Another holds the lease (this replica's viewer or another
		// replica), or it cannot be taken: read, and wait for that build.
	}
	cached, ok, err := r.svc.backend.Timelines.Get(ctx, handle)
	if err != nil || !ok {
		cached = nil
	}
	reuse, skip := r.decide(cached, c)
	if skip {
		next.add(r.reschedule(c, cached))
		return false
	}
	var seen time.Time
	if cached != nil {
		seen = cached.GeneratedAt
	}
	t, err := r.svc.refreshShared(ctx, p, seen, plan{claimed: true, prev: cached, reuse: reuse, marks: c.Marks})
	if err != nil {
		r.log.WarnContext(ctx, "background refresh failed", "patient", p, "err", err)
		return false
	}
	next.add(r.reschedule(c, t))
	return true
}

// decide says whether the claimed patient, with cached its timeline (nil
// for none), needs no build (skip), and which sources a build may keep
// from cached (reuse).
func (r *Refresher) decide(cached *Timeline, c Claim) (reuse map[string]bool, skip bool) {
	if cached == nil {
		return nil, false
	}
	now := r.svc.opts.Now()
	if age := now.Sub(cached.GeneratedAt); age < r.svc.opts.RefreshEvery/2 && !unread(cached, c) {
		return nil, true // a viewer refreshed it lately
	}
	reuse = r.reusable(cached, c, now)
	// Every source has a feed that named no change since it was read:
	// building would ask nobody and find nothing new.
	return reuse, len(reuse) == len(r.svc.regs)
}

// reschedule is when the claimed patient is due next: one interval after it
// was due this time, so its refreshes keep to the interval. (Scheduled a little
// early after each build, as a newly viewed patient is, the early parts
// added up: 11 or 12 refreshes in 10 intervals.) When that would be less
// than half an interval after t, the timeline the claim ended with (a
// refresher that fell behind), the patient is scheduled afresh from t, so
// its sources are never asked twice within half an interval. A patient all
// of whose sources have change feeds that read it without failing is due
// only for the first full read (FeedFullEvery): its feeds bring it back
// sooner when it changes.
func (r *Refresher) reschedule(c Claim, t *Timeline) Next {
	interval := r.svc.opts.RefreshEvery
	due := c.Due.Add(interval)
	if due.Before(t.GeneratedAt.Add(interval / 2)) {
		due = t.GeneratedAt.Add(dueIn(interval, r.opts.Jitter))
	}
	if full, ok := r.fullReadDue(t); ok {
		due = full
	}
	return Next{Handle: c.Handle, Due: due}
}

// fullReadDue is when t's first feed source is due for its full read, when
// every source of t has a change feed and was read without failing.
func (r *Refresher) fullReadDue(t *Timeline) (time.Time, bool) {
	return r.svc.feeds.fullRead(t, len(r.svc.regs))
}
