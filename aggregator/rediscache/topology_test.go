package rediscache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/cachetest"
	"github.com/overblik/overblik/internal/redistest"
)

// The cache on a Redis Sentinel set and on a Redis Cluster of three masters,
// each started by the test from redis-server (internal/redistest) and
// reached by the URL a configuration would give. The servers are the
// test's own, so nothing needs cleaning up; each cache still gets a prefix
// of its own, as the suites expect an empty one.

func TestOnSentinel(t *testing.T) {
	s := redistest.NewSentinel(t)
	runOnTopology(t, s.URL())
}

func TestOnCluster(t *testing.T) {
	c := redistest.NewCluster(t)
	runOnTopology(t, c.URL())
	t.Run("ReplicasRefreshOncePerInterval", func(t *testing.T) {
		prefix := openAt(t, c.URL()).prefix
		replicasOncePerInterval(t, func(t *testing.T) *Cache {
			return openURL(t, c.URL(), Options{Prefix: prefix, PollInterval: 20 * time.Millisecond})
		})
	})
	t.Run("RangeReadsEveryMaster", func(t *testing.T) {
		ctx := context.Background()
		cache := openAt(t, c.URL())
		const n = 40
		for i := range n {
			h := fmt.Sprintf("p%02d", i)
			if err := cache.Put(ctx, h, &aggregator.Timeline{Patient: h, GeneratedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		// The handles' hash tags spread the timelines over the masters, so
		// a SCAN of one node would miss some.
		holding := 0
		for _, addr := range c.Addrs() {
			node := redis.NewClient(&redis.Options{Addr: addr})
			keys, _, err := node.Scan(ctx, 0, cache.prefix+"*:timeline", 1000).Result()
			_ = node.Close()
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) > 0 {
				holding++
			}
		}
		if holding < 2 {
			t.Fatalf("the timelines are on %d master(s); the test needs them spread", holding)
		}
		seen := map[string]bool{}
		err := cache.Range(ctx, func(h string, tl *aggregator.Timeline) bool {
			if seen[h] || tl.Patient != h {
				t.Errorf("Range gave %s (patient %s) again or under the wrong handle", h, tl.Patient)
			}
			seen[h] = true
			return true
		})
		if err != nil || len(seen) != n {
			t.Errorf("Range found %d timelines, %v; want %d", len(seen), err, n)
		}
	})
}

// runOnTopology runs every conformance suite of the cache, and the lease,
// on the Redis at url.
func runOnTopology(t *testing.T, url string) {
	t.Helper()
	t.Run("Conformance", func(t *testing.T) {
		cachetest.RunBackend(t, func(t *testing.T) aggregator.Backend { return openAt(t, url).Backend() })
	})
	t.Run("WaitIsWokenByTheHolder", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		holder := openAt(t, url)
		// Only the holder's notification can wake this waiter in time.
		waiter := openURL(t, url, Options{Prefix: holder.prefix, PollInterval: time.Hour})
		gen := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
		if err := holder.Put(ctx, "p1", &aggregator.Timeline{Patient: "p1", GeneratedAt: gen}); err != nil {
			t.Fatal(err)
		}
		release, ok, err := holder.Acquire(ctx, "p1", time.Minute)
		if err != nil || !ok {
			t.Fatalf("Acquire = %v, %v", ok, err)
		}
		if _, ok, err := waiter.Acquire(ctx, "p1", time.Minute); err != nil || ok {
			t.Fatalf("a second Acquire = %v, %v while the lease was held", ok, err)
		}
		type result struct {
			t   *aggregator.Timeline
			err error
		}
		waited := make(chan result, 1)
		go func() {
			tl, err := waiter.Wait(ctx, "p1", gen)
			waited <- result{tl, err}
		}()
		for subscribers(ctx, t, holder.rdb, holder.channel("p1")) == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		newer := gen.Add(time.Minute)
		if err := holder.Put(ctx, "p1", &aggregator.Timeline{Patient: "p1", GeneratedAt: newer}); err != nil {
			t.Fatal(err)
		}
		if err := release(ctx); err != nil {
			t.Fatal(err)
		}
		r := <-waited
		if r.err != nil || r.t == nil || !r.t.GeneratedAt.Equal(newer) {
			t.Fatalf("Wait = %+v, %v; want the holder's new timeline", r.t, r.err)
		}
	})
}

// subscribers counts the subscriptions to channel on every master.
func subscribers(ctx context.Context, t *testing.T, rdb redis.UniversalClient, channel string) int64 {
	t.Helper()
	count := func(ctx context.Context, c *redis.Client) (int64, error) {
		m, err := c.PubSubNumSub(ctx, channel).Result()
		return m[channel], err
	}
	var n atomic.Int64
	var err error
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			k, err := count(ctx, c)
			n.Add(k)
			return err
		})
	} else {
		var k int64
		k, err = count(ctx, rdb.(*redis.Client))
		n.Add(k)
	}
	if err != nil {
		t.Fatal(err)
	}
	return n.Load()
}

// openAt opens a cache at url under a prefix of its own, closed when the
// test ends.
func openAt(t *testing.T, url string) *Cache {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	return openURL(t, url, Options{Prefix: "overblik-test:" + hex.EncodeToString(b[:]) + ":"})
}

// countingErrors counts the cache calls that fail.
type countingErrors struct {
	*Cache
	errs atomic.Int64
}

func (c *countingErrors) Get(ctx context.Context, h string) (*aggregator.Timeline, bool, error) {
	t, ok, err := c.Cache.Get(ctx, h)
	if err != nil {
		c.errs.Add(1)
	}
	return t, ok, err
}

func (c *countingErrors) Put(ctx context.Context, h string, t *aggregator.Timeline) error {
	err := c.Cache.Put(ctx, h, t)
	if err != nil {
		c.errs.Add(1)
	}
	return err
}

func TestTimelinesServedThroughASentinelFailover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	set := redistest.NewSentinel(t)
	cache := &countingErrors{Cache: openAt(t, set.URL())}
	src := &countingSource{release: make(chan struct{})}
	close(src.release) // answer at once
	backend := cache.Cache.Backend()
	backend.Timelines = cache
	svc, err := aggregator.New([]aggregator.Registration{{Source: src, Timeout: 5 * time.Second}}, backend,
		aggregator.Options{FreshFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	patients := make([]aggregator.PatientRef, 8)
	for i := range patients {
		patients[i] = aggregator.PatientRef{Handle: fmt.Sprintf("p%d", i), Identifier: aggregator.Identifier{System: "urn:test", Value: fmt.Sprint(i)}}
		if _, err := svc.Timeline(ctx, patients[i]); err != nil {
			t.Fatal(err)
		}
	}
	// Replicated before the failover, so the new master has them.
	if err := cache.rdb.Do(ctx, "WAIT", 1, 5000).Err(); err != nil {
		t.Fatal(err)
	}

	// Readers ask for timelines all through the failover; none may fail.
	var served, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := r; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p := patients[i%len(patients)]
				tl, err := svc.Timeline(ctx, p)
				if err != nil || tl == nil || tl.Patient != p.Handle || len(tl.Entries) != 1 {
					failed.Add(1)
					continue
				}
				served.Add(1)
			}
		}()
	}
	readers := func() {
		close(stop)
		wg.Wait()
	}
	oldMaster := set.Master()
	newMaster, err := set.Failover(ctx)
	if err != nil {
		readers()
		t.Fatal(err)
	}
	duringServed, duringErrs := served.Load(), cache.errs.Load()
	// The client follows the sentinel: a rebuild stores on the new master.
	if _, err := svc.Refresh(ctx, patients[0]); err != nil {
		readers()
		t.Fatal(err)
	}
	settled := cache.errs.Load()
	fetches := src.calls.Load()
	for served.Load() < duringServed+200 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	readers()
	if ctx.Err() != nil {
		t.Fatalf("readers served %d timelines after the failover before the test ran out of time", served.Load()-duringServed)
	}
	t.Logf("failover %s -> %s: %d timelines served during it (%d cache calls failed meanwhile), %d after",
		oldMaster, newMaster, duringServed, duringErrs, served.Load()-duringServed)
	if n := failed.Load(); n != 0 {
		t.Errorf("%d requests for a timeline failed through the failover", n)
	}
	if n := cache.errs.Load() - settled; n != 0 {
		t.Errorf("%d cache calls failed after the failover had settled", n)
	}
	if n := src.calls.Load() - fetches; n != 0 {
		t.Errorf("after the failover the sources were asked %d times: the timelines should come from Redis", n)
	}
	direct := redis.NewClient(&redis.Options{Addr: newMaster})
	defer direct.Close()
	key := cache.timelineKey(patients[0].Handle)
	b, err := direct.Get(ctx, key).Bytes()
	if err != nil {
		t.Fatalf("the new master %s has no timeline of %s: %v", newMaster, patients[0].Handle, err)
	}
	got, err := cache.codec.decodeTimeline(b, key)
	if err != nil {
		t.Fatalf("the new master's timeline does not decode: %v", err)
	}
	if got.Version < 2 {
		t.Errorf("the new master holds version %d (%v) of the rebuilt timeline, want 2 or more", got.Version, err)
	}
}
