package rediscache

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// countingSource counts fetches and holds each until released.
type countingSource struct {
	calls   atomic.Int64
	release chan struct{}
}

func (s *countingSource) Name() string              { return "h" }
func (s *countingSource) Sector() aggregator.Sector { return aggregator.SectorHospital }
func (s *countingSource) Fetch(ctx context.Context, _ aggregator.PatientRef, w aggregator.Window) (aggregator.Batch, error) {
	s.calls.Add(1)
	select {
	case <-s.release:
	case <-ctx.Done():
		return aggregator.Batch{}, ctx.Err()
	}
	return aggregator.Batch{Entries: []aggregator.Entry{{ID: "h/Appointment/1", Kind: aggregator.KindAppointment,
		Status: aggregator.StatusBooked, Start: w.From.Add(time.Hour), End: w.From.Add(2 * time.Hour)}}}, nil
}

// waitCounting tells the test when a replica has started to wait.
type waitCounting struct {
	*Cache
	waits *atomic.Int64
}

func (c waitCounting) Wait(ctx context.Context, h string, since time.Time) (*aggregator.Timeline, error) {
	c.waits.Add(1)
	return c.Cache.Wait(ctx, h, since)
}

func TestReplicasAskTheSourcesOnce(t *testing.T) {
	const replicas = 3
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	prefix := testPrefix(t)
	src := &countingSource{release: make(chan struct{})}
	var waits atomic.Int64
	services := make([]*aggregator.Service, replicas)
	for i := range services {
		c := waitCounting{Cache: newTestCache(t, prefix, Options{PollInterval: 20 * time.Millisecond}), waits: &waits}
		b := c.Cache.Backend()
		b.Lease = c
		svc, err := aggregator.New([]aggregator.Registration{{Source: src}}, b, aggregator.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(svc.Close)
		services[i] = svc
	}
	p := aggregator.PatientRef{Handle: "p1", Identifier: aggregator.Identifier{System: "urn:test", Value: "1"}}
	var wg sync.WaitGroup
	results := make([]*aggregator.Timeline, replicas)
	for i, svc := range services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tl, err := svc.Timeline(ctx, p)
			if err != nil {
				t.Errorf("replica %d: %v", i, err)
			}
			results[i] = tl
		}()
	}
	// One replica fetches; the source answers once the others wait for it.
	eventually(t, "the other replicas to wait", func() bool { return waits.Load() >= replicas-1 && src.calls.Load() >= 1 })
	close(src.release)
	wg.Wait()
	if n := src.calls.Load(); n != 1 {
		t.Errorf("the source was asked %d times by %d replicas, want once", n, replicas)
	}
	for i, r := range results {
		if r == nil || !r.GeneratedAt.Equal(results[0].GeneratedAt) || len(r.Entries) != 1 {
			t.Errorf("replica %d got %+v, want the one shared timeline", i, r)
		}
	}
}

func TestReplicasRefreshAnOldTimelineOnce(t *testing.T) {
	const replicas = 3
	ctx := context.Background()
	prefix := testPrefix(t)
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	src := &countingSource{release: make(chan struct{})}
	close(src.release) // answers at once: the replicas race freely
	p := aggregator.PatientRef{Handle: "p1", Identifier: aggregator.Identifier{System: "urn:test", Value: "1"}}
	services := make([]*aggregator.Service, replicas)
	for i := range services {
		c := newTestCache(t, prefix, Options{PollInterval: 20 * time.Millisecond})
		if i == 0 {
			if err := c.Put(ctx, "p1", &aggregator.Timeline{Patient: "p1", GeneratedAt: now.Add(-10 * time.Minute)}); err != nil {
				t.Fatal(err)
			}
		}
		svc, err := aggregator.New([]aggregator.Registration{{Source: src}}, c.Backend(),
			aggregator.Options{Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		services[i] = svc
	}
	var wg sync.WaitGroup
	for _, svc := range services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 { // every read sees the old timeline or the new one
				if _, err := svc.Timeline(ctx, p); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for _, svc := range services {
		svc.Close() // waits for the background refreshes
	}
	if n := src.calls.Load(); n != 1 {
		t.Errorf("%d replicas reading an old timeline asked the source %d times, want once", replicas, n)
	}
}
