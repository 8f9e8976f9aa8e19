package rediscache

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/overblik/overblik/aggregator"
)

// directory resolves every patient the test made, as a shared patient
// directory would on each replica.
type directory map[string]aggregator.PatientRef

func (d directory) Resolve(_ context.Context, h string) (aggregator.PatientRef, bool, error) {
	p, ok := d[h]
	return p, ok, nil
}

type perPatientSource struct {
	mu    sync.Mutex
	calls map[string]int
	total atomic.Int64
}

func (s *perPatientSource) Name() string              { return "h" }
func (s *perPatientSource) Sector() aggregator.Sector { return aggregator.SectorHospital }
func (s *perPatientSource) Fetch(_ context.Context, p aggregator.PatientRef, w aggregator.Window) (aggregator.Batch, error) {
	s.mu.Lock()
	s.calls[p.Identifier.Value]++
	s.mu.Unlock()
	s.total.Add(1)
	return aggregator.Batch{Entries: []aggregator.Entry{{ID: "h/Appointment/1", Kind: aggregator.KindAppointment,
		Status: aggregator.StatusBooked, Start: w.From.Add(time.Hour), End: w.From.Add(2 * time.Hour)}}}, nil
}

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Replicas sharing Redis refresh each viewed patient once per interval
// between them, however many run their refresher at the same time.
func TestReplicasRefreshInTheBackgroundOncePerInterval(t *testing.T) {
	prefix := testPrefix(t)
	replicasOncePerInterval(t, func(t *testing.T) *Cache {
		return newTestCache(t, prefix, Options{PollInterval: 20 * time.Millisecond})
	})
}

// replicasOncePerInterval runs three replicas, each on a cache newCache
// opens on one Redis (its own client, a prefix they share), with
// cmd/overblik's intervals (refresh every minute, fresh for two): for a few
// intervals every refresher runs at once while viewers read every patient
// on every replica, and each patient's source is asked once per interval.
func replicasOncePerInterval(t *testing.T, newCache func(t *testing.T) *Cache) {
	t.Helper()
	const replicas, n, rounds = 3, 30, 3
	ctx := context.Background()
	// Redis scores are real milliseconds: the test's clock starts now.
	clk := &testClock{now: time.Now().Truncate(time.Millisecond)}
	src := &perPatientSource{calls: map[string]int{}}
	dir := directory{}
	var ps []aggregator.PatientRef
	for i := range n {
		p := aggregator.PatientRef{Handle: fmt.Sprintf("p%d", i), Identifier: aggregator.Identifier{System: "urn:test", Value: fmt.Sprint(i)}}
		dir[p.Handle] = p
		ps = append(ps, p)
	}
	var svcs []*aggregator.Service
	var refs []*aggregator.Refresher
	for range replicas {
		c := newCache(t)
		svc, err := aggregator.New([]aggregator.Registration{{Source: src}}, c.Backend(),
			aggregator.Options{FreshFor: 2 * time.Minute, RefreshEvery: time.Minute, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(svc.Close)
		ref, err := aggregator.NewRefresher(svc, dir, aggregator.RefresherOptions{PerSource: 4})
		if err != nil {
			t.Fatal(err)
		}
		svcs, refs = append(svcs, svc), append(refs, ref)
	}
	for i, p := range ps { // each patient viewed on one replica or another
		if _, err := svcs[i%replicas].Timeline(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	for round := 1; round <= rounds; round++ {
		clk.Add(time.Minute)
		var wg sync.WaitGroup
		var refreshed atomic.Int64
		for k, r := range refs {
			wg.Add(2)
			go func() {
				defer wg.Done()
				k, err := r.RunOnce(ctx)
				if err != nil {
					t.Error(err)
				}
				refreshed.Add(int64(k))
			}()
			go func() { // viewers, as the refreshers run
				defer wg.Done()
				for _, p := range ps {
					if _, err := svcs[k].Timeline(ctx, p); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if got := refreshed.Load(); got != n {
			t.Errorf("round %d: the replicas refreshed %d patients between them, want %d", round, got, n)
		}
	}
	for _, svc := range svcs {
		svc.Close() // waits for any refresh a view started
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	for _, p := range ps {
		if got := src.calls[p.Identifier.Value]; got != 1+rounds {
			t.Errorf("patient %s: the source was asked %d times in %d intervals, want %d (a view, then once per interval)",
				p.Handle, got, rounds, 1+rounds)
		}
	}
}

// commandLog records the round trips a client makes, as
// commandCounter counts them, by the first command's name.
type commandLog struct {
	mu    sync.Mutex
	names []string
}

func (h *commandLog) add(cmd redis.Cmder) {
	if handshake(cmd) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.names = append(h.names, cmd.Name())
}

func (h *commandLog) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.names
	h.names = nil
	return out
}

func (h *commandLog) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *commandLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.add(cmd); return next(ctx, cmd) }
}
func (h *commandLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 {
			h.add(cmds[0])
		}
		return next(ctx, cmds)
	}
}

// The background refresh of a claimed patient takes the lease and reads
// the timeline in one round trip: the queue's size, the claim, the lease
// with the read, the build's transaction (its index terms unchanged) and
// the batch's reschedule; no read of its own before the lease.
func TestRefresherReadsWithTheLease(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{now: time.Now().Truncate(time.Millisecond)}
	c := newTestCache(t, "", Options{})
	log := &commandLog{}
	c.rdb.AddHook(log)
	src := &perPatientSource{calls: map[string]int{}}
	p := aggregator.PatientRef{Handle: "p1", Identifier: aggregator.Identifier{System: "urn:test", Value: "1"}}
	svc, err := aggregator.New([]aggregator.Registration{{Source: src}}, c.Backend(),
		aggregator.Options{FreshFor: 2 * time.Minute, RefreshEvery: time.Minute, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	ref, err := aggregator.NewRefresher(svc, directory{p.Handle: p}, aggregator.RefresherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Timeline(ctx, p); err != nil {
		t.Fatal(err)
	}
	svc.Close() // the view's own work is done
	clk.Add(time.Minute)
	log.take()
	n, err := ref.RunOnce(ctx)
	if err != nil || n != 1 {
		t.Fatalf("RunOnce = %d, %v; want the patient refreshed", n, err)
	}
	got := log.take()
	want := []string{"zcount", "evalsha", "evalsha", "multi", "zadd"} // queue, claim, lease with the read, put, reschedule
	if !slices.Equal(got, want) {
		t.Errorf("the refresh's round trips: %v, want %v", got, want)
	}
	if src.total.Load() != 2 {
		t.Errorf("the source was asked %d times, want 2 (the view, the refresh)", src.total.Load())
	}
}
