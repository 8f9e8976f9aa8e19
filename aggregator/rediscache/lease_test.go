package rediscache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/overblik/overblik/aggregator"
)

func TestOneReplicaRefreshesTheOthersWait(t *testing.T) {
	const replicas = 4
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	prefix := testPrefix(t)
	caches := make([]*Cache, replicas) // one client each, as separate replicas have
	for i := range caches {
		caches[i] = newTestCache(t, prefix, Options{PollInterval: 20 * time.Millisecond})
	}
	old := &aggregator.Timeline{Patient: "p1", GeneratedAt: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	if err := caches[0].Put(ctx, "p1", old); err != nil {
		t.Fatal(err)
	}
	newer := old.GeneratedAt.Add(time.Minute)

	var builds, lost atomic.Int64
	allLost := make(chan struct{})
	var wg sync.WaitGroup
	results := make([]*aggregator.Timeline, replicas)
	for i, c := range caches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, ok, err := c.Acquire(ctx, "p1", 30*time.Second)
			if err != nil {
				t.Errorf("replica %d: acquire: %v", i, err)
				return
			}
			if !ok {
				if lost.Add(1) == replicas-1 {
					close(allLost)
				}
				results[i], err = c.Wait(ctx, "p1", old.GeneratedAt)
				if err != nil {
					t.Errorf("replica %d: wait: %v", i, err)
				}
				return
			}
			builds.Add(1)
			// Hold the lease until every other replica has lost the race, so
			// they really wait for this build.
			select {
			case <-allLost:
			case <-ctx.Done():
				t.Errorf("replica %d: the others never lost the race", i)
			}
			tl := &aggregator.Timeline{Patient: "p1", GeneratedAt: newer}
			if err := c.Put(ctx, "p1", tl); err != nil {
				t.Error(err)
			}
			if err := release(ctx); err != nil {
				t.Error(err)
			}
			results[i] = tl
		}()
	}
	wg.Wait()
	if n := builds.Load(); n != 1 {
		t.Fatalf("%d replicas built the timeline, want 1", n)
	}
	for i, r := range results {
		if r == nil || !r.GeneratedAt.Equal(newer) {
			t.Errorf("replica %d got %+v, want the timeline generated at %v", i, r, newer)
		}
	}
	if n, _ := caches[0].rdb.Exists(ctx, caches[0].leaseKey("p1")).Result(); n != 0 {
		t.Error("the lease outlived its release")
	}
}

func TestWait(t *testing.T) {
	gen := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		// holder does what the lease holder does once the waiter waits.
		holder  func(ctx context.Context, c *Cache, release func(context.Context) error) error
		ttl     time.Duration
		wantErr error
	}{
		{
			name: "holder stores then releases",
			holder: func(ctx context.Context, c *Cache, release func(context.Context) error) error {
				if err := c.Put(ctx, "p1", &aggregator.Timeline{Patient: "p1", GeneratedAt: gen.Add(time.Minute)}); err != nil {
					return err
				}
				return release(ctx)
			},
		},
		{
			name: "holder stores and dies holding the lease",
			holder: func(ctx context.Context, c *Cache, _ func(context.Context) error) error {
				return c.Put(ctx, "p1", &aggregator.Timeline{Patient: "p1", GeneratedAt: gen.Add(time.Minute)})
			},
		},
		{
			name:    "holder gives up",
			holder:  func(ctx context.Context, _ *Cache, release func(context.Context) error) error { return release(ctx) },
			wantErr: ErrAbandoned,
		},
		{
			name: "holder stores nothing newer",
			holder: func(ctx context.Context, c *Cache, release func(context.Context) error) error {
				if err := c.Put(ctx, "p1", &aggregator.Timeline{Patient: "p1", GeneratedAt: gen}); err != nil {
					return err
				}
				return release(ctx)
			},
			wantErr: ErrAbandoned,
		},
		{
			name:    "holder dies and the lease expires",
			holder:  func(context.Context, *Cache, func(context.Context) error) error { return nil },
			ttl:     50 * time.Millisecond,
			wantErr: ErrAbandoned,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			prefix := testPrefix(t)
			holder := newTestCache(t, prefix, Options{})
			waiter := newTestCache(t, prefix, Options{PollInterval: 10 * time.Millisecond})
			if err := holder.Put(ctx, "p1", &aggregator.Timeline{Patient: "p1", GeneratedAt: gen}); err != nil {
				t.Fatal(err)
			}
			ttl := tc.ttl
			if ttl == 0 {
				ttl = time.Minute
			}
			release, ok, err := holder.Acquire(ctx, "p1", ttl)
			if err != nil || !ok {
				t.Fatalf("Acquire = %v, %v", ok, err)
			}
			defer func() { _ = release(ctx) }()
			if _, ok, _ := waiter.Acquire(ctx, "p1", ttl); ok {
				t.Fatal("a second Acquire got the lease while it was held")
			}
			done := make(chan error, 1)
			go func() { done <- tc.holder(ctx, holder, release) }()
			got, err := waiter.Wait(ctx, "p1", gen)
			if herr := <-done; herr != nil {
				t.Fatal(herr)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Wait = %v, %v; want error %v", got, err, tc.wantErr)
			}
			if tc.wantErr == nil && (got == nil || !got.GeneratedAt.After(gen)) {
				t.Errorf("Wait returned %+v, want the newer timeline", got)
			}
		})
	}
}

func TestWaitHonoursContext(t *testing.T) {
	c := newTestCache(t, "", Options{})
	ctx, cancel := context.WithCancel(context.Background())
	if _, ok, err := c.Acquire(ctx, "p1", time.Minute); err != nil || !ok {
		t.Fatalf("Acquire = %v, %v", ok, err)
	}
	done := make(chan error)
	go func() {
		_, err := c.Wait(ctx, "p1", time.Time{})
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Wait after cancel = %v, want context.Canceled", err)
	}
}

func TestReleaseLeavesTheNextHoldersLeaseAlone(t *testing.T) {
	ctx := context.Background()
	prefix := testPrefix(t)
	a := newTestCache(t, prefix, Options{})
	b := newTestCache(t, prefix, Options{})
	releaseA, ok, err := a.Acquire(ctx, "p1", time.Minute)
	if err != nil || !ok {
		t.Fatalf("A: Acquire = %v, %v", ok, err)
	}
	// A's lease runs out (deleted here rather than waited for) and B takes it.
	if err := a.rdb.Del(ctx, a.leaseKey("p1")).Err(); err != nil {
		t.Fatal(err)
	}
	releaseB, ok, err := b.Acquire(ctx, "p1", time.Minute)
	if err != nil || !ok {
		t.Fatalf("B: Acquire after A's lease ran out = %v, %v", ok, err)
	}
	if err := releaseA(ctx); err != nil {
		t.Fatalf("A: late release: %v", err)
	}
	if _, ok, _ := a.Acquire(ctx, "p1", time.Minute); ok {
		t.Fatal("A's late release deleted B's lease")
	}
	if err := releaseB(ctx); err != nil {
		t.Fatal(err)
	}
	if err := releaseB(ctx); err != nil {
		t.Fatalf("a second release: %v", err)
	}
	if _, ok, _ := a.Acquire(ctx, "p1", time.Minute); !ok {
		t.Error("the lease is still held after B released it")
	}
}

func TestReleaseWithADoneContext(t *testing.T) {
	c := newTestCache(t, "", Options{})
	ctx, cancel := context.WithCancel(context.Background())
	release, ok, err := c.Acquire(ctx, "p1", time.Minute)
	if err != nil || !ok {
		t.Fatalf("Acquire = %v, %v", ok, err)
	}
	cancel() // the refresh ran out of time before it released
	if err := release(ctx); err != nil {
		t.Fatalf("release with a done ctx = %v", err)
	}
	if _, ok, _ := c.Acquire(context.Background(), "p1", time.Minute); !ok {
		t.Error("the lease outlived a release with a done ctx; it would block the cluster for its ttl")
	}
}

func TestAcquireRejectsNonPositiveTTL(t *testing.T) {
	c := newTestCache(t, "", Options{})
	if _, _, err := c.Acquire(context.Background(), "p1", 0); err == nil {
		t.Error("Acquire with ttl 0 succeeded: a lease that never expires would block the cluster after a crash")
	}
}

// commandCounter counts the round trips a client makes: each command or
// pipeline, but not the handshake of a new connection (HELLO, CLIENT).
type commandCounter struct{ n atomic.Int64 }

func handshake(cmd redis.Cmder) bool { return cmd.Name() == "hello" || cmd.Name() == "client" }

func (h *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !handshake(cmd) {
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (h *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && !handshake(cmds[0]) {
			h.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

// The holder's read right after taking the lease (the service's check that
// no other replica stored meanwhile) is answered by the lease: the stamp
// came back with it. Only that one read, only while the stamp is the one
// its copy has, and not after the release.
func TestLeaseConfirmsTheHoldersNextRead(t *testing.T) {
	ctx := context.Background()
	prefix := testPrefix(t)
	c := newTestCache(t, prefix, Options{})
	other := newTestCache(t, prefix, Options{}) // another replica
	var cmds commandCounter
	c.rdb.AddHook(&cmds)
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	if err := c.Put(ctx, "p1", &aggregator.Timeline{Patient: "p1", GeneratedAt: at}); err != nil {
		t.Fatal(err)
	}
	read := func(what string, want time.Time, trips int64) {
		t.Helper()
		before := cmds.n.Load()
		got, ok, err := c.Get(ctx, "p1")
		if err != nil || !ok || !got.GeneratedAt.Equal(want) {
			t.Fatalf("%s: Get = %v, %v, %v; want the timeline of %v", what, got, ok, err, want)
		}
		if n := cmds.n.Load() - before; n != trips {
			t.Errorf("%s: Get sent %d commands, want %d", what, n, trips)
		}
	}
	release, ok, err := c.Acquire(ctx, "p1", time.Minute)
	if err != nil || !ok {
		t.Fatalf("Acquire = %v, %v", ok, err)
	}
	read("the read after the lease", at, 0)
	read("the read after that", at, 1)
	if err := release(ctx); err != nil {
		t.Fatal(err)
	}

	// Another replica stored a newer build before this one took the lease:
	// the stamp the lease brings is not the copy's, so the read asks.
	release, ok, err = c.Acquire(ctx, "p1", time.Minute)
	if err != nil || !ok {
		t.Fatalf("Acquire = %v, %v", ok, err)
	}
	if err := release(ctx); err != nil {
		t.Fatal(err)
	}
	read("a read after the release", at, 1)
	newer := at.Add(time.Minute)
	if err := other.Put(ctx, "p1", &aggregator.Timeline{Patient: "p1", GeneratedAt: newer}); err != nil {
		t.Fatal(err)
	}
	release, ok, err = c.Acquire(ctx, "p1", time.Minute)
	if err != nil || !ok {
		t.Fatalf("Acquire = %v, %v", ok, err)
	}
	defer release(ctx)
	read("the read after a lease that found another replica's build", newer, 1)
}

// The holder's Put releases the lease in its own transaction, so the
// release after it sends nothing; a lease that ran out and went to
// another replica before the Put stays that replica's.
func TestPutReleasesTheHoldersLease(t *testing.T) {
	ctx := context.Background()
	prefix := testPrefix(t)
	c := newTestCache(t, prefix, Options{})
	other := newTestCache(t, prefix, Options{})
	var cmds commandCounter
	c.rdb.AddHook(&cmds)
	tl := &aggregator.Timeline{Patient: "p1", GeneratedAt: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}

	release, ok, err := c.Acquire(ctx, "p1", time.Minute)
	if err != nil || !ok {
		t.Fatalf("Acquire = %v, %v", ok, err)
	}
	if err := c.Put(ctx, "p1", tl); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := other.Acquire(ctx, "p1", time.Minute); err != nil || !ok {
		t.Fatalf("another replica's Acquire after the holder's Put = %v, %v; want the lease", ok, err)
	}
	before := cmds.n.Load()
	if err := release(ctx); err != nil {
		t.Fatal(err)
	}
	if n := cmds.n.Load() - before; n != 0 {
		t.Errorf("the release after a Put sent %d commands, want 0", n)
	}
	// The other replica's lease (taken above) is still there.
	if _, ok, err := c.Acquire(ctx, "p1", time.Minute); err != nil || ok {
		t.Errorf("Acquire while another replica holds the lease = %v, %v; want not ok", ok, err)
	}

	// A lease that ran out before the Put: the next holder's survives both
	// the Put and the late release.
	c2 := newTestCache(t, testPrefix(t), Options{})
	other2 := newTestCache(t, c2.prefix, Options{})
	release, ok, err = c2.Acquire(ctx, "p1", 50*time.Millisecond)
	if err != nil || !ok {
		t.Fatalf("Acquire = %v, %v", ok, err)
	}
	time.Sleep(100 * time.Millisecond)
	releaseOther, ok, err := other2.Acquire(ctx, "p1", time.Minute)
	if err != nil || !ok {
		t.Fatalf("Acquire after the first lease ran out = %v, %v", ok, err)
	}
	defer releaseOther(ctx)
	if err := c2.Put(ctx, "p1", tl); err != nil {
		t.Fatal(err)
	}
	if err := release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c2.Acquire(ctx, "p1", time.Minute); err != nil || ok {
		t.Errorf("Acquire while the next holder holds the lease = %v, %v; want not ok", ok, err)
	}
}

// AcquireRead takes the lease and reads the timeline in one round trip: the
// stored one, the near copy when its stamp is the stored one, none when
// nothing (or nothing readable) is stored; and never while another holds
// the lease.
func TestAcquireReadReadsWithTheLease(t *testing.T) {
	ctx := context.Background()
	prefix := testPrefix(t)
	c := newTestCache(t, prefix, Options{})
	other := newTestCache(t, prefix, Options{}) // another replica
	var cmds commandCounter
	c.rdb.AddHook(&cmds)
	acquire := func(what string) (func(context.Context) error, *aggregator.Timeline) {
		t.Helper()
		before := cmds.n.Load()
		release, cur, ok, err := c.AcquireRead(ctx, "p1", time.Minute)
		if err != nil || !ok {
			t.Fatalf("%s: AcquireRead = %v, %v", what, ok, err)
		}
		if n := cmds.n.Load() - before; n != 1 {
			t.Errorf("%s: AcquireRead sent %d commands, want 1", what, n)
		}
		if _, ok, err := other.Acquire(ctx, "p1", time.Minute); err != nil || ok {
			t.Errorf("%s: another replica's Acquire while held = %v, %v; want it refused", what, ok, err)
		}
		return release, cur
	}

	release, cur := acquire("nothing stored")
	if cur != nil {
		t.Errorf("nothing stored: the timeline = %+v, want none", cur)
	}
	if err := release(ctx); err != nil {
		t.Fatal(err)
	}

	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	if err := other.Put(ctx, "p1", &aggregator.Timeline{Patient: "p1", GeneratedAt: at}); err != nil {
		t.Fatal(err)
	}
	release, cur = acquire("another replica's timeline")
	if cur == nil || !cur.GeneratedAt.Equal(at) {
		t.Fatalf("another replica's timeline: got %+v, want the one of %v", cur, at)
	}
	_ = release(ctx)
	release, again := acquire("the same again")
	if again != cur {
		t.Errorf("the same again: a timeline decoded anew, want the near copy")
	}
	// The holder's Put releases the lease in its own transaction.
	if err := c.Put(ctx, "p1", &aggregator.Timeline{Patient: "p1", GeneratedAt: at.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := other.Acquire(ctx, "p1", time.Minute); err != nil || !ok {
		t.Errorf("after the holder's Put: another replica's Acquire = %v, %v; want the lease", ok, err)
	}
	_ = release(ctx)
	if _, _, ok, err := c.AcquireRead(ctx, "p1", time.Minute); err != nil || ok {
		t.Errorf("AcquireRead while another replica holds the lease = %v, %v; want it refused", ok, err)
	}
	if err := c.rdb.Del(ctx, c.leaseKey("p1")).Err(); err != nil {
		t.Fatal(err)
	}

	if err := c.rdb.MSet(ctx, c.timelineKey("p1"), []byte{0x7f, 1, 2}, c.stampKey("p1"), "written by a release to come").Err(); err != nil {
		t.Fatal(err)
	}
	release, cur = acquire("an unreadable value")
	if cur != nil {
		t.Errorf("an unreadable value: got %+v, want none", cur)
	}
	_ = release(ctx)
}
