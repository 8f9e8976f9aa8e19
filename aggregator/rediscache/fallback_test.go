package rediscache

import (
	"bytes"
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/cachetest"
	"github.com/overblik/overblik/aggregator/memcache"
)

// fastFallback re-probes quickly so the tests do not wait for backoff.
var fastFallback = FallbackOptions{OpTimeout: 2 * time.Second, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}

// deadCache is a Cache on a port where nothing listens, failing fast (the
// single-server URL cannot turn go-redis's dial retries down).
func deadCache(t *testing.T) *Cache {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: closedPort(t), MaxRetries: -1, DialerRetries: 1, DialerRetryTimeout: time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	c, err := New(rdb, Options{Prefix: "overblik-test:dead:"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newFallback(t *testing.T, primary *Cache) *Fallback {
	t.Helper()
	f := NewFallback(primary, memcache.New(0), fastFallback)
	t.Cleanup(f.Close)
	return f
}

func TestFallbackConformance(t *testing.T) {
	t.Run("Redis up", func(t *testing.T) {
		cachetest.Run(t, func(t *testing.T) aggregator.Cache { return newFallback(t, newTestCache(t, "", Options{})) })
	})
	t.Run("Redis down", func(t *testing.T) {
		cachetest.Run(t, func(t *testing.T) aggregator.Cache { return newFallback(t, deadCache(t)) })
	})
	t.Run("conflicts, Redis up", func(t *testing.T) {
		cachetest.RunConflicts(t, func(t *testing.T) aggregator.Cache { return newFallback(t, newTestCache(t, "", Options{})) })
	})
	t.Run("conflicts, Redis down", func(t *testing.T) {
		cachetest.RunConflicts(t, func(t *testing.T) aggregator.Cache { return newFallback(t, deadCache(t)) })
	})
	t.Run("changes, Redis up", func(t *testing.T) {
		cachetest.RunChangeLog(t, func(t *testing.T) aggregator.ChangeLog { return newFallback(t, newTestCache(t, "", Options{})) })
	})
	t.Run("changes, Redis down", func(t *testing.T) {
		cachetest.RunChangeLog(t, func(t *testing.T) aggregator.ChangeLog { return newFallback(t, deadCache(t)) })
	})
	t.Run("index, Redis down", func(t *testing.T) {
		cachetest.RunIndex(t, func(t *testing.T) (aggregator.Cache, aggregator.ConflictIndex) {
			f := newFallback(t, deadCache(t))
			return f, f
		})
	})
}

func TestFallbackWithoutRedis(t *testing.T) {
	ctx := context.Background()
	f := newFallback(t, deadCache(t))
	if !f.Healthy() {
		t.Fatal("a new Fallback should start healthy and learn otherwise")
	}
	tl := &aggregator.Timeline{Patient: "p1", GeneratedAt: time.Now()}
	if err := f.Put(ctx, "p1", tl); err != nil {
		t.Fatalf("Put with Redis down = %v, want it stored locally without error", err)
	}
	if f.Healthy() {
		t.Error("Healthy after a failed Redis write")
	}
	got, ok, err := f.Get(ctx, "p1")
	if err != nil || !ok || got.Patient != "p1" {
		t.Errorf("Get with Redis down = %v, %v, %v; want the local copy", got, ok, err)
	}
	err = f.Ready(ctx)
	if !errors.Is(err, ErrDegraded) || !strings.Contains(err.Error(), "refused") {
		t.Errorf("Ready = %v, want ErrDegraded with the cause", err)
	}
	release, ok, err := f.Acquire(ctx, "p1", time.Minute)
	if err != nil || !ok {
		t.Fatalf("Acquire with Redis down = %v, %v; want the lease granted locally", ok, err)
	}
	if err := release(ctx); err != nil {
		t.Error(err)
	}
	if _, err := f.Wait(ctx, "p1", time.Time{}); !errors.Is(err, ErrAbandoned) {
		t.Errorf("Wait with Redis down = %v, want ErrAbandoned so the caller builds", err)
	}
	release, cur, ok, err := f.AcquireRead(ctx, "p1", time.Minute)
	if err != nil || !ok || cur == nil || cur.Patient != "p1" {
		t.Fatalf("AcquireRead with Redis down = %v, %v, %v; want the lease granted locally with the local copy", cur, ok, err)
	}
	if err := release(ctx); err != nil {
		t.Error(err)
	}
}

func TestFallbackFindsOutOnReady(t *testing.T) {
	f := newFallback(t, deadCache(t))
	if err := f.Ready(context.Background()); !errors.Is(err, ErrDegraded) {
		t.Errorf("Ready = %v, want ErrDegraded: Ready must look, not only remember", err)
	}
}

func TestFallbackRecoversWhenRedisReturns(t *testing.T) {
	ctx := context.Background()
	opt, err := redis.ParseURL(testRedisURL())
	if err != nil {
		t.Fatal(err)
	}
	requireRedis(t, newTestClient(t))
	px := startProxy(t, opt.Addr)
	prefix := testPrefix(t)
	rdb := redis.NewClient(&redis.Options{Addr: px.addr, DB: opt.DB, Username: opt.Username, Password: opt.Password,
		DialerRetries: 1, DialerRetryTimeout: time.Millisecond})
	defer rdb.Close()
	viaProxy, err := New(rdb, Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	direct := newTestCache(t, prefix, Options{}) // another replica, never cut off
	f := newFallback(t, viaProxy)
	gen := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	at := func(m int) *aggregator.Timeline {
		return &aggregator.Timeline{Patient: "p1", GeneratedAt: gen.Add(time.Duration(m) * time.Minute)}
	}
	get := func(step string) time.Time {
		t.Helper()
		got, ok, err := f.Get(ctx, "p1")
		if err != nil || !ok {
			t.Fatalf("%s: Get = %v, %v", step, ok, err)
		}
		return got.GeneratedAt
	}

	if err := f.Put(ctx, "p1", at(1)); err != nil {
		t.Fatal(err)
	}
	if tl, ok, _ := direct.Get(ctx, "p1"); !ok || !tl.GeneratedAt.Equal(at(1).GeneratedAt) {
		t.Fatal("a healthy Fallback did not write to Redis")
	}
	// The lease read brings another replica's timeline; the local cache
	// keeps what this replica used and stored.
	if err := direct.Put(ctx, "p1", at(4)); err != nil {
		t.Fatal(err)
	}
	release, cur, ok, err := f.AcquireRead(ctx, "p1", time.Minute)
	if err != nil || !ok || cur == nil || !cur.GeneratedAt.Equal(at(4).GeneratedAt) {
		t.Fatalf("AcquireRead = %v, %v, %v; want the lease and the other replica's timeline", cur, ok, err)
	}
	if _, held, err := direct.Acquire(ctx, "p1", time.Minute); err != nil || held {
		t.Errorf("another replica's Acquire while this one holds the lease = %v, %v; want it refused", held, err)
	}
	if err := release(ctx); err != nil {
		t.Error(err)
	}

	px.down()
	if got := get("Redis down"); !got.Equal(at(1).GeneratedAt) {
		t.Errorf("with Redis down got the timeline of %v, want the local copy of %v", got, at(1).GeneratedAt)
	}
	if f.Healthy() || !errors.Is(f.Ready(ctx), ErrDegraded) {
		t.Error("not degraded with Redis unreachable")
	}
	if err := f.Put(ctx, "p1", at(2)); err != nil {
		t.Errorf("Put with Redis down = %v", err)
	}
	if got := get("Redis down after Put"); !got.Equal(at(2).GeneratedAt) {
		t.Errorf("got %v, want the local write %v", got, at(2).GeneratedAt)
	}

	// Meanwhile another replica writes to Redis; once back, this one reads it.
	if err := direct.Put(ctx, "p1", at(3)); err != nil {
		t.Fatal(err)
	}
	px.up()
	eventually(t, "the Fallback to go back to Redis", f.Healthy)
	if err := f.Ready(ctx); err != nil {
		t.Errorf("Ready after recovery = %v", err)
	}
	if got := get("Redis back"); !got.Equal(at(3).GeneratedAt) {
		t.Errorf("after recovery got %v, want Redis's %v", got, at(3).GeneratedAt)
	}
}

func TestFallbackSurvivesKilledConnections(t *testing.T) {
	ctx := context.Background()
	prefix := testPrefix(t)
	name := strings.TrimSuffix(strings.ReplaceAll(prefix, ":", "-"), "-")
	own := openURL(t, testRedisURL()+"?client_name="+name, Options{Prefix: prefix})
	admin := newTestClient(t)
	f := newFallback(t, own)
	gen := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	if err := f.Put(ctx, "p1", &aggregator.Timeline{Patient: "p1", GeneratedAt: gen}); err != nil {
		t.Fatal(err)
	}

	// The server drops every connection of this client, as on a Redis restart
	// or a failover.
	list, err := admin.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for line := range strings.Lines(list) {
		if !strings.Contains(line, " name="+name+" ") {
			continue
		}
		id := strings.TrimPrefix(strings.Fields(line)[0], "id=")
		if err := admin.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err != nil {
			t.Fatal(err)
		}
		killed++
	}
	if killed == 0 {
		t.Fatalf("no connection named %s in CLIENT LIST", name)
	}

	if err := newTestCache(t, prefix, Options{}).Put(ctx, "p1", &aggregator.Timeline{Patient: "p1", GeneratedAt: gen.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	// The client reconnects; at worst one call is served locally meanwhile.
	eventually(t, "Redis's timeline through the Fallback", func() bool {
		got, ok, err := f.Get(ctx, "p1")
		return err == nil && ok && got.GeneratedAt.Equal(gen.Add(time.Minute)) && f.Healthy()
	})
}

func TestFallbackWhenRedisHangs(t *testing.T) {
	// Accepts connections and never answers: the worst kind of outage.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			_ = c.Close()
		}
	})
	hung := openURL(t, "redis://"+ln.Addr().String()+"/0", Options{Prefix: "overblik-test:hung:"})
	opts := fastFallback
	opts.OpTimeout = 100 * time.Millisecond
	f := NewFallback(hung, memcache.New(0), opts)
	defer f.Close()

	ctx := context.Background()
	if err := f.Put(ctx, "p1", &aggregator.Timeline{Patient: "p1"}); err != nil {
		t.Fatalf("Put with Redis hanging = %v", err)
	}
	if got, ok, err := f.Get(ctx, "p1"); err != nil || !ok || got.Patient != "p1" {
		t.Errorf("Get with Redis hanging = %v, %v, %v; want the local copy", got, ok, err)
	}
	if !errors.Is(f.Ready(ctx), ErrDegraded) {
		t.Error("not degraded with Redis hanging")
	}
}

// recordingLocal is the fallback's local cache, recording how each
// timeline was handed to it.
type recordingLocal struct {
	*memcache.Cache
	mu     sync.Mutex
	puts   int
	packed []memcache.Packed
}

func (l *recordingLocal) Put(ctx context.Context, handle string, t *aggregator.Timeline) error {
	l.mu.Lock()
	l.puts++
	l.mu.Unlock()
	return l.Cache.Put(ctx, handle, t)
}

func (l *recordingLocal) PutPacked(ctx context.Context, handle string, t *aggregator.Timeline, p memcache.Packed) error {
	l.mu.Lock()
	l.packed = append(l.packed, p)
	l.mu.Unlock()
	return l.Cache.PutPacked(ctx, handle, t, p)
}

// The fallback keeps each timeline it writes or reads as the bytes Redis
// holds of it, not decoded: a region replica keeps thousands, decoded they
// were most of its heap. And what it keeps still reads, sealed too, once
// the timeline it came from is gone from memory.
func TestFallbackKeepsTimelinesAsRedisHoldsThem(t *testing.T) {
	ctx := context.Background()
	// No near cache: nothing but the test holds a decoded timeline.
	c := newTestCache(t, "", Options{SealKey: testSealKey, NearCache: -1})
	local := &recordingLocal{Cache: memcache.New(0)}
	f := NewFallback(c, local, fastFallback)
	t.Cleanup(f.Close)
	tl, _ := demoTimeline(t)
	want := appendPacked(nil, tl)
	held := func(step string, n int) stored {
		t.Helper()
		if local.puts != 0 || len(local.packed) != n {
			t.Fatalf("%s: the local cache got %d decoded timelines and %d packed ones, want 0 and %d", step, local.puts, len(local.packed), n)
		}
		s, ok := local.packed[n-1].(stored)
		if !ok {
			t.Fatalf("%s: the local cache holds a %T, want the stored bytes", step, local.packed[n-1])
		}
		inRedis, err := c.rdb.Get(ctx, c.timelineKey("p1")).Bytes()
		if err != nil || !bytes.Equal(s.b, inRedis) {
			t.Fatalf("%s: the local cache holds %d bytes, Redis %d (%v): want the same", step, len(s.b), len(inRedis), err)
		}
		return s
	}

	if err := f.Put(ctx, "p1", tl); err != nil {
		t.Fatal(err)
	}
	held("Put", 1)
	other := newTestCache(t, c.prefix, Options{SealKey: testSealKey}) // another replica's write, read here from Redis
	if err := other.Put(ctx, "p1", tl); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := f.Get(ctx, "p1"); !ok || err != nil {
		t.Fatalf("Get = %v, %v", ok, err)
	}
	s := held("Get", 2)
	got, err := s.Unpack()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(appendPacked(nil, got), want) {
		t.Error("the kept bytes do not read as the timeline stored")
	}

	tl, got = nil, nil
	runtime.GC() // the local cache has only the sealed bytes to read now
	got, ok, err := local.Get(ctx, "p1")
	if err != nil || !ok {
		t.Fatalf("local Get = %v, %v", ok, err)
	}
	if !bytes.Equal(appendPacked(nil, got), want) {
		t.Error("the local cache's timeline is not the one stored")
	}
}
