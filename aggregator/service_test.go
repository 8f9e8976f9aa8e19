package aggregator_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
)

// fakeSource is a Source whose Fetch is a function of the test's.
type fakeSource struct {
	name   string
	sector aggregator.Sector
	calls  atomic.Int64
	fetch  func(ctx context.Context, p aggregator.PatientRef, w aggregator.Window) (aggregator.Batch, error)
}

func (f *fakeSource) Name() string              { return f.name }
func (f *fakeSource) Sector() aggregator.Sector { return f.sector }
func (f *fakeSource) Fetch(ctx context.Context, p aggregator.PatientRef, w aggregator.Window) (aggregator.Batch, error) {
	f.calls.Add(1)
	return f.fetch(ctx, p, w)
}

func returning(entries ...aggregator.Entry) func(context.Context, aggregator.PatientRef, aggregator.Window) (aggregator.Batch, error) {
	return func(context.Context, aggregator.PatientRef, aggregator.Window) (aggregator.Batch, error) {
		return aggregator.Batch{Entries: entries}, nil
	}
}

func appt(id string, start time.Time) aggregator.Entry {
	return aggregator.Entry{ID: id, Kind: aggregator.KindAppointment, Status: aggregator.StatusBooked, Start: start, End: start.Add(time.Hour), Title: id}
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var (
	now     = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	patient = aggregator.PatientRef{Handle: "h1", Identifier: aggregator.Identifier{System: "urn:oid:1.2.208.176.1.2", Value: "3002991234"}}
)

// backend is the memory back end with the test's timelines and schedule
// where given.
func backend(c aggregator.Cache, s aggregator.Schedule) aggregator.Backend {
	b := memcache.NewBackend(0)
	if c != nil {
		b.Timelines = c
	}
	if s != nil {
		b.Schedule = s
	}
	return b
}

func newService(t *testing.T, clk *clock, cache aggregator.Cache, srcs ...*fakeSource) *aggregator.Service {
	t.Helper()
	var regs []aggregator.Registration
	for _, s := range srcs {
		regs = append(regs, aggregator.Registration{Source: s, Display: "Display " + s.name, Timeout: 2 * time.Second})
	}
	svc, err := aggregator.New(regs, backend(cache, nil), aggregator.Options{FreshFor: 2 * time.Minute, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return svc
}

func TestTimelineMergesAllSources(t *testing.T) {
	clk := &clock{now: now}
	h := &fakeSource{name: "hospital", sector: aggregator.SectorHospital, fetch: returning(appt("hospital/Appointment/1", now.Add(48*time.Hour)))}
	m := &fakeSource{name: "kommune", sector: aggregator.SectorMunicipality, fetch: returning(appt("kommune/Appointment/1", now.Add(24*time.Hour)), appt("kommune/Appointment/2", now.Add(72*time.Hour)))}
	g := &fakeSource{name: "gp", sector: aggregator.SectorGP, fetch: returning()}
	svc := newService(t, clk, nil, h, m, g)

	tl, err := svc.Timeline(context.Background(), patient)
	if err != nil {
		t.Fatal(err)
	}
	wantIDs := []string{"kommune/Appointment/1", "hospital/Appointment/1", "kommune/Appointment/2"}
	if len(tl.Entries) != len(wantIDs) {
		t.Fatalf("got %d entries, want %d", len(tl.Entries), len(wantIDs))
	}
	for i, e := range tl.Entries {
		if e.ID != wantIDs[i] {
			t.Errorf("entry %d = %s, want %s", i, e.ID, wantIDs[i])
		}
	}
	if e := tl.Entries[0]; e.Source != "kommune" || e.Sector != aggregator.SectorMunicipality || !e.FetchedAt.Equal(now) || e.Stale {
		t.Errorf("entry stamped as %s/%s fetched %v stale %v", e.Source, e.Sector, e.FetchedAt, e.Stale)
	}
	wantCounts := map[string]int{"hospital": 1, "kommune": 2, "gp": 0}
	for _, s := range tl.Sources {
		if !s.OK || s.Entries != wantCounts[s.Name] || !s.LastSuccess.Equal(now) || s.Display != "Display "+s.Name {
			t.Errorf("source status %+v, want ok with %d entries", s, wantCounts[s.Name])
		}
	}
	if tl.Stale() {
		t.Error("timeline stale with every source ok")
	}
	if tl.Patient != "h1" {
		t.Errorf("patient = %q, want the handle", tl.Patient)
	}
}

func TestOneFailingSourceDoesNotCancelOthers(t *testing.T) {
	clk := &clock{now: now}
	failed := make(chan struct{})
	bad := &fakeSource{name: "bad", sector: aggregator.SectorGP, fetch: func(context.Context, aggregator.PatientRef, aggregator.Window) (aggregator.Batch, error) {
		defer close(failed)
		return aggregator.Batch{}, &aggregator.SourceError{Source: "bad", Kind: aggregator.Unauthorized, Msg: "401 from GET Patient"}
	}}
	slow := &fakeSource{name: "slow", sector: aggregator.SectorHospital, fetch: func(ctx context.Context, _ aggregator.PatientRef, _ aggregator.Window) (aggregator.Batch, error) {
		<-failed // answer only after the other source has failed
		if err := ctx.Err(); err != nil {
			return aggregator.Batch{}, err
		}
		return aggregator.Batch{Entries: []aggregator.Entry{appt("slow/Appointment/1", now)}}, nil
	}}
	svc := newService(t, clk, nil, bad, slow)
	tl, err := svc.Timeline(context.Background(), patient)
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.Entries) != 1 || tl.Entries[0].Source != "slow" {
		t.Fatalf("entries = %+v, want the slow source's one", tl.Entries)
	}
	st := tl.Sources[0]
	if st.OK || st.ErrorKind != aggregator.Unauthorized || st.Error == "" || !st.LastSuccess.IsZero() {
		t.Errorf("failed source status = %+v", st)
	}
	if !tl.Stale() {
		t.Error("timeline with a failed source is not stale")
	}
}

func TestSourceTimeoutAndPanic(t *testing.T) {
	clk := &clock{now: now}
	hang := &fakeSource{name: "hang", sector: aggregator.SectorGP, fetch: func(ctx context.Context, _ aggregator.PatientRef, _ aggregator.Window) (aggregator.Batch, error) {
		<-ctx.Done()
		return aggregator.Batch{}, ctx.Err()
	}}
	boom := &fakeSource{name: "boom", sector: aggregator.SectorGP, fetch: func(context.Context, aggregator.PatientRef, aggregator.Window) (aggregator.Batch, error) {
		panic("connector bug")
	}}
	ok := &fakeSource{name: "ok", sector: aggregator.SectorHospital, fetch: returning(appt("ok/Appointment/1", now))}
	regs := []aggregator.Registration{{Source: hang, Timeout: 20 * time.Millisecond}, {Source: boom}, {Source: ok}}
	svc, err := aggregator.New(regs, memcache.NewBackend(0), aggregator.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	tl, err := svc.Timeline(context.Background(), patient)
	if err != nil {
		t.Fatal(err)
	}
	if got := tl.Sources[0].ErrorKind; got != aggregator.Timeout {
		t.Errorf("hanging source kind = %q, want timeout", got)
	}
	if got := tl.Sources[1].ErrorKind; got != aggregator.Invalid {
		t.Errorf("panicking source kind = %q, want invalid", got)
	}
	if len(tl.Entries) != 1 {
		t.Errorf("got %d entries, want the healthy source's 1", len(tl.Entries))
	}
}

func TestFailedSourceKeepsLastGoodEntriesMarkedStale(t *testing.T) {
	clk := &clock{now: now}
	var down atomic.Bool
	gp := &fakeSource{name: "gp", sector: aggregator.SectorGP, fetch: func(context.Context, aggregator.PatientRef, aggregator.Window) (aggregator.Batch, error) {
		if down.Load() {
			return aggregator.Batch{}, &aggregator.SourceError{Source: "gp", Kind: aggregator.Unavailable, Msg: "503"}
		}
		return aggregator.Batch{Entries: []aggregator.Entry{appt("gp/Appointment/1", now.Add(time.Hour))}}, nil
	}}
	h := &fakeSource{name: "h", sector: aggregator.SectorHospital, fetch: returning(appt("h/Appointment/1", now))}
	svc := newService(t, clk, nil, gp, h)
	ctx := context.Background()
	if _, err := svc.Refresh(ctx, patient); err != nil {
		t.Fatal(err)
	}
	firstSuccess := clk.Now()
	down.Store(true)
	clk.Add(5 * time.Minute)
	tl, err := svc.Refresh(ctx, patient)
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.Entries) != 2 {
		t.Fatalf("got %d entries, want both sources' entries", len(tl.Entries))
	}
	for _, e := range tl.Entries {
		wantStale := e.Source == "gp"
		if e.Stale != wantStale {
			t.Errorf("%s stale = %v, want %v", e.ID, e.Stale, wantStale)
		}
		if wantStale && !e.FetchedAt.Equal(firstSuccess) {
			t.Errorf("stale entry fetched at %v, want the last success %v", e.FetchedAt, firstSuccess)
		}
	}
	st := tl.Sources[0]
	if st.OK || !st.LastSuccess.Equal(firstSuccess) || st.Entries != 1 {
		t.Errorf("gp status = %+v, want failed, last success %v, 1 stale entry", st, firstSuccess)
	}
	// The source comes back: the next refresh picks it up and nothing is stale.
	down.Store(false)
	tl, _ = svc.Refresh(ctx, patient)
	if tl.Stale() || tl.Entries[1].Stale {
		t.Errorf("after recovery timeline stale=%v, entry stale=%v", tl.Stale(), tl.Entries[1].Stale)
	}
}

func TestFreshnessPolicy(t *testing.T) {
	clk := &clock{now: now}
	src := &fakeSource{name: "h", sector: aggregator.SectorHospital, fetch: returning(appt("h/Appointment/1", now))}
	svc := newService(t, clk, nil, src)
	ctx := context.Background()

	first, _ := svc.Timeline(ctx, patient)
	clk.Add(time.Minute)
	again, _ := svc.Timeline(ctx, patient)
	if src.calls.Load() != 1 || again != first {
		t.Fatalf("fresh timeline: %d fetches, same=%v; want 1 fetch and the cached timeline", src.calls.Load(), again == first)
	}
	clk.Add(2 * time.Minute) // now older than fresh_for
	old, _ := svc.Timeline(ctx, patient)
	if old != first {
		t.Error("an old timeline must be served at once, not waited for")
	}
	svc.Close() // waits for the background refresh
	if got := src.calls.Load(); got != 2 {
		t.Errorf("fetches after a stale read = %d, want 2 (one background refresh)", got)
	}
	newer, _ := svc.Timeline(ctx, patient)
	if !newer.GeneratedAt.After(first.GeneratedAt) {
		t.Errorf("cache not updated by the background refresh: generated %v", newer.GeneratedAt)
	}
}

// countingCache counts cache reads.
type countingCache struct {
	aggregator.Cache
	gets atomic.Int64
}

func (c *countingCache) Get(ctx context.Context, h string) (*aggregator.Timeline, bool, error) {
	c.gets.Add(1)
	return c.Cache.Get(ctx, h)
}

func TestConcurrentRequestsShareOneRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := &clock{now: now}
		release := make(chan struct{})
		src := &fakeSource{name: "h", sector: aggregator.SectorHospital, fetch: func(context.Context, aggregator.PatientRef, aggregator.Window) (aggregator.Batch, error) {
			<-release
			return aggregator.Batch{Entries: []aggregator.Entry{appt("h/Appointment/1", now)}}, nil
		}}
		cache := &countingCache{Cache: memcache.New(0)}
		svc := newService(t, clk, cache, src)
		const callers = 10
		var wg sync.WaitGroup
		results := make([]*aggregator.Timeline, callers)
		for i := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tl, err := svc.Timeline(context.Background(), patient)
				if err != nil {
					t.Error(err)
				}
				results[i] = tl
			}()
		}
		// Every caller waits in the shared flight, and its one build waits for
		// the source.
		synctest.Wait()
		// The build reads twice: before taking the lease, and once it holds
		// it, in case another replica stored a refresh meanwhile.
		if got := cache.gets.Load(); got != callers+2 {
			t.Errorf("%d cache reads before the source answered, want %d: one per caller and the build's two", got, callers+2)
		}
		close(release)
		wg.Wait()
		if got := src.calls.Load(); got != 1 {
			t.Errorf("source fetched %d times for %d concurrent requests, want 1", got, callers)
		}
		for i, r := range results {
			if r != results[0] {
				t.Errorf("caller %d got a different timeline", i)
			}
		}
	})
}

func TestCallerCancellationDoesNotAbortSharedBuild(t *testing.T) {
	clk := &clock{now: now}
	release := make(chan struct{})
	src := &fakeSource{name: "h", sector: aggregator.SectorHospital, fetch: func(ctx context.Context, _ aggregator.PatientRef, _ aggregator.Window) (aggregator.Batch, error) {
		<-release
		if ctx.Err() != nil {
			return aggregator.Batch{}, ctx.Err()
		}
		return aggregator.Batch{Entries: []aggregator.Entry{appt("h/Appointment/1", now)}}, nil
	}}
	svc := newService(t, clk, nil, src)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { _, err := svc.Timeline(ctx, patient); done <- err }()
	for src.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller got %v, want context.Canceled", err)
	}
	close(release)
	svc.Close()
	tl, err := svc.Timeline(context.Background(), patient)
	if err != nil || len(tl.Entries) != 1 || !tl.Sources[0].OK {
		t.Fatalf("the build a cancelled caller started should still complete and be cached: %+v, %v", tl, err)
	}
	if got := src.calls.Load(); got != 1 {
		t.Errorf("fetches = %d, want 1", got)
	}
}

func TestWindowCoversWholeDays(t *testing.T) {
	cph, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		t.Fatal(err)
	}
	src := &fakeSource{name: "h", sector: aggregator.SectorHospital, fetch: returning()}
	svc, _ := aggregator.New([]aggregator.Registration{{Source: src}}, memcache.NewBackend(0),
		aggregator.Options{Past: 90 * 24 * time.Hour, Future: 180 * 24 * time.Hour, Location: cph})
	w := svc.Window(time.Date(2026, 11, 26, 23, 30, 0, 0, time.UTC)) // already 27 Nov in Copenhagen
	wantFrom := time.Date(2026, 8, 29, 0, 0, 0, 0, cph)
	wantTo := time.Date(2027, 5, 27, 0, 0, 0, 0, cph)
	if !w.From.Equal(wantFrom) || !w.To.Equal(wantTo) {
		t.Errorf("window = %v .. %v, want %v .. %v", w.From, w.To, wantFrom, wantTo)
	}
}

func TestNewRejectsDuplicateNames(t *testing.T) {
	a := &fakeSource{name: "x", fetch: returning()}
	b := &fakeSource{name: "x", fetch: returning()}
	if _, err := aggregator.New([]aggregator.Registration{{Source: a}, {Source: b}}, memcache.NewBackend(0), aggregator.Options{}); err == nil {
		t.Error("New accepted two sources named x")
	}
}

func TestSourceStatusCountsSkippedAndWarnings(t *testing.T) {
	clk := &clock{now: now}
	src := &fakeSource{name: "h", sector: aggregator.SectorHospital, fetch: func(context.Context, aggregator.PatientRef, aggregator.Window) (aggregator.Batch, error) {
		return aggregator.Batch{Entries: []aggregator.Entry{appt("h/Appointment/1", now)}, Skipped: 2, Warnings: 3, Notes: []string{"x"}}, nil
	}}
	tl, err := newService(t, clk, nil, src).Timeline(context.Background(), patient)
	if err != nil {
		t.Fatal(err)
	}
	if st := tl.Sources[0]; st.Skipped != 2 || st.Warnings != 3 {
		t.Errorf("status skipped %d warnings %d, want 2 and 3", st.Skipped, st.Warnings)
	}
}

func TestBatchNotesAreBounded(t *testing.T) {
	var b aggregator.Batch
	for i := range aggregator.MaxNotes + 5 {
		b.Note(fmt.Sprint("note ", i))
	}
	if len(b.Notes) != aggregator.MaxNotes+1 || b.Notes[aggregator.MaxNotes] != "further notes left out" {
		t.Errorf("%d notes, last %q; want %d and a word that more were left out", len(b.Notes), b.Notes[len(b.Notes)-1], aggregator.MaxNotes+1)
	}
}

// Whatever link a connector lets through, only https reaches a timeline.
func TestBuildKeepsOnlyHTTPSLinks(t *testing.T) {
	clk := &clock{now: now}
	hostile, fine := appt("h/Appointment/1", now.Add(time.Hour)), appt("h/Appointment/2", now.Add(3*time.Hour))
	hostile.Medium, hostile.VideoURL = aggregator.MediumVideo, "javascript:alert(document.domain)"
	fine.Medium, fine.VideoURL = aggregator.MediumVideo, "https://video.example.test/room/1"
	h := &fakeSource{name: "h", sector: aggregator.SectorHospital, fetch: returning(hostile, fine)}
	tl, err := newService(t, clk, nil, h).Timeline(context.Background(), patient)
	if err != nil {
		t.Fatal(err)
	}
	if got := tl.Entries[0].VideoURL; got != "" {
		t.Errorf("a javascript: link became %q, want none", got)
	}
	if got := tl.Entries[1].VideoURL; got != fine.VideoURL {
		t.Errorf("an https link became %q", got)
	}
}

// TestStaleReadsRefreshBounded: a burst of stale reads of many patients
// (as after a restart) refreshes at most StaleRefreshes at a time, queues at
// most StaleQueue patients, and starts no goroutine per read.
func TestStaleReadsRefreshBounded(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: now}
	release := make(chan struct{})
	var inFlight, most atomic.Int64
	blocking := false
	var mu sync.Mutex
	src := &fakeSource{name: "h", sector: aggregator.SectorHospital, fetch: func(ctx context.Context, p aggregator.PatientRef, w aggregator.Window) (aggregator.Batch, error) {
		mu.Lock()
		b := blocking
		mu.Unlock()
		if b {
			n := inFlight.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			<-release
			inFlight.Add(-1)
		}
		return aggregator.Batch{Entries: []aggregator.Entry{appt("h/Appointment/1", now.Add(time.Hour))}}, nil
	}}
	svc, err := aggregator.New([]aggregator.Registration{{Source: src}}, backend(nil, nil),
		aggregator.Options{FreshFor: time.Minute, Now: clk.Now, StaleRefreshes: 2, StaleQueue: 5})
	if err != nil {
		t.Fatal(err)
	}
	_, ps := patients(40)
	for _, p := range ps {
		if _, err := svc.Timeline(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(2 * time.Minute) // every one is stale now
	mu.Lock()
	blocking = true
	mu.Unlock()
	before := runtime.NumGoroutine()
	for range 3 { // each patient read three times
		for _, p := range ps {
			if _, err := svc.Timeline(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	for inFlight.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine() - before; n > 10 {
		t.Errorf("120 stale reads started %d goroutines, want a few (2 refreshes and their fetches)", n)
	}
	calls := src.calls.Load()
	close(release)
	svc.Close()
	if got := src.calls.Load() - calls + 2; got != 5 || most.Load() != 2 {
		t.Errorf("the stale reads refreshed %d patients, at most %d at once; want 5 (the queue) and 2", got, most.Load())
	}
}
