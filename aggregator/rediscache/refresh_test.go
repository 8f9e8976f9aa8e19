package rediscache

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
