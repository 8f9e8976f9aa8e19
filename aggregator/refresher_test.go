package aggregator_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
)

// directory resolves the handles of the patients the test made.
type directory map[string]aggregator.PatientRef

func (d directory) Resolve(_ context.Context, h string) (aggregator.PatientRef, bool, error) {
	p, ok := d[h]
	return p, ok, nil
}

func patients(n int) (directory, []aggregator.PatientRef) {
	d := directory{}
	var ps []aggregator.PatientRef
	for i := range n {
		p := aggregator.PatientRef{Handle: fmt.Sprintf("h%d", i), Identifier: aggregator.Identifier{System: "urn:test", Value: fmt.Sprint(i)}}
		d[p.Handle] = p
		ps = append(ps, p)
	}
	return d, ps
}

// countingSchedule counts the views a service records and the
// reschedules a refresher makes.
type countingSchedule struct {
	aggregator.Schedule
	views                 atomic.Int64
	reschedules, patients atomic.Int64
}

func (c *countingSchedule) Reschedule(ctx context.Context, next ...aggregator.Next) error {
	c.reschedules.Add(1)
	c.patients.Add(int64(len(next)))
	return c.Schedule.Reschedule(ctx, next...)
}

func (c *countingSchedule) Viewed(ctx context.Context, h string, at, due time.Time) error {
	c.views.Add(1)
	return c.Schedule.Viewed(ctx, h, at, due)
}

type refresherFixture struct {
	clk   *clock
	src   *fakeSource
	svc   *aggregator.Service
	sched *countingSchedule
	ref   *aggregator.Refresher
	dir   directory
	ps    []aggregator.PatientRef
}

func newRefresherFixture(t *testing.T, n int, opts aggregator.RefresherOptions, fetch func(context.Context, aggregator.PatientRef, aggregator.Window) (aggregator.Batch, error)) *refresherFixture {
	t.Helper()
	f := &refresherFixture{clk: &clock{now: now}, sched: &countingSchedule{Schedule: memcache.NewSchedule()}}
	if fetch == nil {
		fetch = returning(appt("h/Appointment/1", now.Add(24*time.Hour)))
	}
	f.src = &fakeSource{name: "h", sector: aggregator.SectorHospital, fetch: fetch}
	svc, err := aggregator.New([]aggregator.Registration{{Source: f.src}}, backend(nil, f.sched),
		aggregator.Options{FreshFor: time.Minute, Now: f.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	f.svc = svc
	f.dir, f.ps = patients(n)
	f.ref, err = aggregator.NewRefresher(svc, f.dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *refresherFixture) view(t *testing.T, ps ...aggregator.PatientRef) {
	t.Helper()
	for _, p := range ps {
		if _, err := f.svc.Timeline(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *refresherFixture) runOnce(t *testing.T) int {
	t.Helper()
	n, err := f.ref.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRefresherKeepsViewedPatientsFresh(t *testing.T) {
	f := newRefresherFixture(t, 3, aggregator.RefresherOptions{}, nil)
	f.view(t, f.ps[0], f.ps[1]) // ps[2] is never viewed
	if got := f.src.calls.Load(); got != 2 {
		t.Fatalf("%d fetches for two views, want 2", got)
	}
	if n := f.runOnce(t); n != 0 || f.src.calls.Load() != 2 {
		t.Errorf("a round while everything is fresh refreshed %d (fetches %d), want none", n, f.src.calls.Load())
	}
	for round := 1; round <= 3; round++ {
		f.clk.Add(time.Minute) // FreshFor: due, before any viewer sees a stale timeline
		if n := f.runOnce(t); n != 2 {
			t.Errorf("round %d refreshed %d patients, want the 2 viewed", round, n)
		}
		if got, want := f.src.calls.Load(), int64(2+2*round); got != want {
			t.Errorf("round %d: %d fetches, want %d: each viewed patient once per interval", round, got, want)
		}
		for _, p := range f.ps[:2] {
			tl, err := f.svc.Timeline(context.Background(), p)
			if err != nil || !tl.GeneratedAt.Equal(f.clk.Now()) {
				t.Errorf("round %d: %s generated at %v (%v), want now %v", round, p.Handle, tl.GeneratedAt, err, f.clk.Now())
			}
		}
	}
}

// A claimed batch is rescheduled in one step (one round trip to Redis),
// every patient of it.
func TestRefresherReschedulesABatchAtOnce(t *testing.T) {
	f := newRefresherFixture(t, 3, aggregator.RefresherOptions{}, nil)
	f.view(t, f.ps...)
	f.clk.Add(time.Minute)
	if n := f.runOnce(t); n != 3 {
		t.Fatalf("refreshed %d, want 3", n)
	}
	if r, p := f.sched.reschedules.Load(), f.sched.patients.Load(); r != 1 || p != 3 {
		t.Errorf("%d reschedules of %d patients, want 1 of 3", r, p)
	}
	if n := f.runOnce(t); n != 0 {
		t.Errorf("right after, %d refreshed again, want none: the reschedule did not take", n)
	}
}

func TestRefresherForgetsPatientsNotViewed(t *testing.T) {
	f := newRefresherFixture(t, 2, aggregator.RefresherOptions{ViewedWithin: 24 * time.Hour}, nil)
	f.view(t, f.ps...)
	for range 23 { // viewed under a day ago: kept fresh
		f.clk.Add(time.Hour)
		f.runOnce(t)
	}
	f.clk.Add(2 * time.Hour)
	calls := f.src.calls.Load()
	if n := f.runOnce(t); n != 0 || f.src.calls.Load() != calls {
		t.Errorf("a day after the last view, %d patients were refreshed (%d fetches), want none", n, f.src.calls.Load()-calls)
	}
	// A view brings a patient back. It is served the stale timeline and
	// refreshed in the background; once that build is stored and an
	// interval (FreshFor) has passed, the refresher refreshes it again.
	// (Without the wait, whether the refresher found the view's build
	// stored yet, and so skipped it as fresh, was a race.)
	f.view(t, f.ps[0])
	deadline := time.Now().Add(5 * time.Second)
	for {
		tl, ok, err := f.svc.Cached(context.Background(), f.ps[0].Handle)
		if err == nil && ok && tl.GeneratedAt.Equal(f.clk.Now()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the view's background refresh was not stored")
		}
		time.Sleep(time.Millisecond)
	}
	f.clk.Add(time.Minute)
	if n := f.runOnce(t); n != 1 {
		t.Errorf("after a new view, %d refreshed, want 1", n)
	}
	if n := f.runOnce(t); n != 0 {
		t.Errorf("right after that, %d refreshed again, want none", n)
	}
}

func TestRefresherSkipsTimelinesAViewerRefreshed(t *testing.T) {
	f := newRefresherFixture(t, 1, aggregator.RefresherOptions{}, nil)
	f.view(t, f.ps[0])
	f.clk.Add(5 * time.Minute)
	// Stale: the viewer gets it at once and it is refreshed in the background.
	f.view(t, f.ps[0])
	f.svc.Close() // waits for that refresh
	calls := f.src.calls.Load()
	if n := f.runOnce(t); n != 0 || f.src.calls.Load() != calls {
		t.Errorf("the refresher refreshed %d just refreshed timelines (%d more fetches), want none", n, f.src.calls.Load()-calls)
	}
}

func TestRefresherLeavesUnknownPatients(t *testing.T) {
	f := newRefresherFixture(t, 2, aggregator.RefresherOptions{}, nil)
	f.view(t, f.ps...)
	delete(f.dir, f.ps[1].Handle) // another replica's patient
	f.clk.Add(time.Minute)
	if n := f.runOnce(t); n != 1 {
		t.Errorf("refreshed %d, want only the patient this replica can resolve", n)
	}
}

func TestViewsAreNotedOncePerHour(t *testing.T) {
	f := newRefresherFixture(t, 1, aggregator.RefresherOptions{}, nil)
	for range 10 {
		f.view(t, f.ps[0])
		f.clk.Add(time.Second)
	}
	if got := f.sched.views.Load(); got != 1 {
		t.Errorf("10 views in 10 seconds wrote %d views to the schedule, want 1", got)
	}
	f.clk.Add(time.Hour)
	f.view(t, f.ps[0])
	if got := f.sched.views.Load(); got != 2 {
		t.Errorf("a view an hour later made %d writes in all, want 2", got)
	}
}

func TestRefresherBoundsConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit, n = 3, 10
		var mu sync.Mutex
		inflight, most := 0, 0
		release := make(chan struct{})
		blocking := false
		fetch := func(ctx context.Context, _ aggregator.PatientRef, w aggregator.Window) (aggregator.Batch, error) {
			mu.Lock()
			inflight++
			most = max(most, inflight)
			b := blocking
			mu.Unlock()
			if b {
				<-release
			}
			mu.Lock()
			inflight--
			mu.Unlock()
			return aggregator.Batch{}, nil
		}
		f := newRefresherFixture(t, n, aggregator.RefresherOptions{PerSource: limit}, fetch)
		f.view(t, f.ps...)
		mu.Lock()
		blocking, most = true, 0
		mu.Unlock()
		f.clk.Add(time.Minute)
		done := make(chan int)
		go func() {
			got, _ := f.ref.RunOnce(context.Background())
			done <- got
		}()
		synctest.Wait() // every refresh that could start has, and blocks
		mu.Lock()
		if inflight != limit {
			t.Errorf("%d refreshes at once, want %d (PerSource)", inflight, limit)
		}
		mu.Unlock()
		close(release)
		if got := <-done; got != n {
			t.Errorf("refreshed %d, want %d", got, n)
		}
		if most > limit {
			t.Errorf("at most %d refreshes at once, want %d", most, limit)
		}
	})
}

// readingLease is a LeaseReader made of a Lease and the cache it guards,
// as a back end that reads with its lease provides one.
type readingLease struct {
	aggregator.Lease
	timelines aggregator.Cache
}

func (l readingLease) AcquireRead(ctx context.Context, handle string, ttl time.Duration) (func(context.Context) error, *aggregator.Timeline, bool, error) {
	release, ok, err := l.Acquire(ctx, handle, ttl)
	if err != nil || !ok {
		return release, nil, ok, err
	}
	t, found, err := l.timelines.Get(ctx, handle)
	if err != nil || !found {
		t = nil
	}
	return release, t, true, nil
}

// With a LeaseReader, a round's refreshes run on at most PerSource
// goroutines, each taking one patient after another, and a build that asks
// one source asks it on its own goroutine: a new goroutine per patient or
// per source paid for its stack's growth each time. A patient a viewer
// refreshed meanwhile is let go without a build.
func TestRefresherRefreshesOnAFewGoroutines(t *testing.T) {
	const limit, n = 2, 12
	var mu sync.Mutex
	ids := map[string]int{}
	fetch := func(ctx context.Context, _ aggregator.PatientRef, w aggregator.Window) (aggregator.Batch, error) {
		buf := make([]byte, 64)
		id, _, _ := strings.Cut(strings.TrimPrefix(string(buf[:runtime.Stack(buf, false)]), "goroutine "), " ")
		mu.Lock()
		ids[id]++
		mu.Unlock()
		return returning(appt("h/Appointment/1", now.Add(24*time.Hour)))(ctx, aggregator.PatientRef{}, w)
	}
	clk := &clock{now: now}
	src := &fakeSource{name: "h", sector: aggregator.SectorHospital, fetch: fetch}
	b := backend(nil, nil)
	b.Lease = readingLease{Lease: b.Lease, timelines: b.Timelines}
	svc, err := aggregator.New([]aggregator.Registration{{Source: src}}, b, aggregator.Options{FreshFor: time.Minute, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	dir, ps := patients(n)
	ref, err := aggregator.NewRefresher(svc, dir, aggregator.RefresherOptions{PerSource: limit})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if _, err := svc.Timeline(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	clear(ids)
	mu.Unlock()
	clk.Add(time.Minute)
	// A viewer refreshes the first patient just before the round.
	if _, err := svc.Refresh(context.Background(), ps[0]); err != nil {
		t.Fatal(err)
	}
	if got, err := ref.RunOnce(context.Background()); err != nil || got != n-1 {
		t.Fatalf("RunOnce = %d, %v; want %d refreshed", got, err, n-1)
	}
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for _, k := range ids {
		total += k
	}
	if total != n || len(ids) > limit+1 { // the viewer's, and the round's
		t.Errorf("%d fetches on %d goroutines (%v), want %d on at most %d", total, len(ids), ids, n, limit+1)
	}
}

// brokenSchedule fails every write, as a Schedule on a Redis that is down.
type brokenSchedule struct {
	aggregator.Schedule
	views atomic.Int64
}

func (b *brokenSchedule) Viewed(context.Context, string, time.Time, time.Time) error {
	b.views.Add(1)
	return errors.New("redis down")
}

func TestAFailingScheduleCostsNoRequest(t *testing.T) {
	clk := &clock{now: now}
	sched := &brokenSchedule{Schedule: memcache.NewSchedule()}
	src := &fakeSource{name: "h", fetch: returning()}
	svc, err := aggregator.New([]aggregator.Registration{{Source: src}}, backend(nil, sched),
		aggregator.Options{FreshFor: time.Minute, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	for range 5 {
		if _, err := svc.Timeline(context.Background(), patient); err != nil {
			t.Fatalf("Timeline with the schedule down: %v", err)
		}
		clk.Add(time.Second)
	}
	if got := sched.views.Load(); got != 1 {
		t.Errorf("5 views in 5 seconds tried the broken schedule %d times, want once", got)
	}
	clk.Add(time.Minute)
	if _, err := svc.Timeline(context.Background(), patient); err != nil {
		t.Fatal(err)
	}
	if got := sched.views.Load(); got != 2 {
		t.Errorf("a minute later the schedule was tried %d times in all, want 2", got)
	}
}

// TestRefreshEveryIsShorterThanFreshFor keeps a viewed patient fresher than
// on-demand refresh would: with fresh_for 2m and refresh every 1m, a minute
// later the refresher has already asked the source again.
func TestRefreshEveryIsShorterThanFreshFor(t *testing.T) {
	clk := &clock{now: now}
	sched := memcache.NewSchedule()
	src := &fakeSource{name: "h", sector: aggregator.SectorHospital, fetch: returning(appt("h/Appointment/1", now.Add(24*time.Hour)))}
	svc, err := aggregator.New([]aggregator.Registration{{Source: src}}, backend(nil, sched),
		aggregator.Options{FreshFor: 2 * time.Minute, RefreshEvery: time.Minute, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	dir, ps := patients(1)
	ref, err := aggregator.NewRefresher(svc, dir, aggregator.RefresherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Timeline(context.Background(), ps[0]); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	n, err := ref.RunOnce(context.Background())
	if err != nil || n != 1 || src.calls.Load() != 2 {
		t.Errorf("a minute after the view: refreshed %d (%v), %d fetches; want 1 and 2", n, err, src.calls.Load())
	}
}

// TestRefresherAsksOncePerInterval runs the refresher on the clock, not by
// jumps: each viewed patient's source is asked once per refresh.every,
// neither more often (refreshes that each come a little early add up) nor
// less. The service is configured as cmd/overblik's defaults are.
func TestRefresherAsksOncePerInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, intervals = 20, 10
		var mu sync.Mutex
		asked := map[string]int{}
		src := &fakeSource{name: "h", sector: aggregator.SectorHospital, fetch: func(_ context.Context, p aggregator.PatientRef, _ aggregator.Window) (aggregator.Batch, error) {
			mu.Lock()
			asked[p.Handle]++
			mu.Unlock()
			return aggregator.Batch{}, nil
		}}
		sched := memcache.NewSchedule()
		svc, err := aggregator.New([]aggregator.Registration{{Source: src}}, backend(nil, sched),
			aggregator.Options{FreshFor: 2 * time.Minute, RefreshEvery: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		defer svc.Close()
		dir, ps := patients(n)
		ref, err := aggregator.NewRefresher(svc, dir, aggregator.RefresherOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if _, err := svc.Timeline(context.Background(), p); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- ref.Run(ctx) }()
		time.Sleep(intervals * time.Minute)
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, p := range ps {
			if got, want := asked[p.Handle], 1+intervals; got != want {
				t.Errorf("patient %s: asked %d times in %d intervals after its view, want %d (the view, then once per interval)",
					p.Handle, got, intervals, want)
			}
		}
	})
}

// A background refresh decides on the cached timeline and builds on that
// same one. The cache is read twice (each a round trip to Redis): for the
// decision, and once the lease is held, for a build another replica stored
// in between.
func TestBackgroundRefreshReadsTheCacheTwice(t *testing.T) {
	clk := &clock{now: now}
	cache := &countingCache{Cache: memcache.New(0)}
	src := &fakeSource{name: "h", sector: aggregator.SectorHospital, fetch: returning(appt("h/Appointment/1", now.Add(24*time.Hour)))}
	svc, err := aggregator.New([]aggregator.Registration{{Source: src}}, backend(cache, nil),
		aggregator.Options{FreshFor: time.Minute, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	dir, ps := patients(1)
	ref, err := aggregator.NewRefresher(svc, dir, aggregator.RefresherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Timeline(context.Background(), ps[0]); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	before := cache.gets.Load()
	if n, err := ref.RunOnce(context.Background()); err != nil || n != 1 {
		t.Fatalf("RunOnce = %d, %v; want 1 refreshed", n, err)
	}
	if got := cache.gets.Load() - before; got != 2 {
		t.Errorf("a background refresh read the cached timeline %d times, want 2", got)
	}
	if src.calls.Load() != 2 {
		t.Errorf("%d fetches, want 2: the view and the refresh", src.calls.Load())
	}
}
