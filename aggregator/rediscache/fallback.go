package rediscache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
)

// ErrDegraded is what Ready reports while Redis is unreachable and timelines
// are served from the in-process cache. The replica still serves: /readyz
// should say "degraded", not take the replica out of rotation.
var ErrDegraded = errors.New("rediscache: degraded: Redis unreachable, serving from the in-process cache")

// FallbackOptions tune a Fallback; zero values take the defaults.
type FallbackOptions struct {
	// OpTimeout bounds one Redis call, so a Redis that hangs costs a request
	// that much once, not every request its full client timeouts. Default 1s.
	OpTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between pings while Redis is
	// down: it doubles from Min up to Max, with jitter. Defaults 250ms and 15s.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	Logger     *slog.Logger
}

// Fallback serves timelines from Redis and, while Redis fails, from an
// in-process cache, then goes back to Redis by itself when a ping succeeds.
// Every timeline it stores or reads is also kept in the local cache, so a
// replica that loses Redis still has the patients it served recently.
// It implements aggregator.Cache and the lease methods; with Redis down a
// lease is always granted (each replica refreshes on its own).
type Fallback struct {
	redis *Cache
	local Local
	opts  FallbackOptions
	log   *slog.Logger

	healthy atomic.Bool

	mu        sync.Mutex // guards downSince, lastErr and closed
	downSince time.Time
	lastErr   error
	closed    bool
	stop      chan struct{}
	probing   sync.WaitGroup
}

// Local is what a Fallback serves from while Redis is away: timelines,
// their changes and their conflict index in this process (a memcache.Cache).
// It keeps each timeline as the bytes Redis holds of it (PutPacked): a
// replica of a region keeps thousands it reads again only in an outage,
// and decoded they were most of its heap.
type Local interface {
	aggregator.Cache
	aggregator.ChangeLog
	aggregator.ConflictIndex
	PutPacked(ctx context.Context, handle string, t *aggregator.Timeline, p memcache.Packed) error
}

var (
	_ aggregator.Cache           = (*Fallback)(nil)
	_ aggregator.ConflictsReader = (*Fallback)(nil)
	_ aggregator.ConflictsReader = (*Cache)(nil)
	_ aggregator.ChangeLog       = (*Fallback)(nil)
	_ aggregator.Lease           = (*Fallback)(nil)
)

// NewFallback returns a Fallback over primary that serves from local while
// primary fails. It starts healthy: the first failed call switches over.
func NewFallback(primary *Cache, local Local, opts FallbackOptions) *Fallback {
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = time.Second
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 250 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(15*time.Second, opts.MinBackoff)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Fallback{redis: primary, local: local, opts: opts, log: log, stop: make(chan struct{})}
	f.healthy.Store(true)
	return f
}

// Healthy reports whether timelines are served from Redis.
func (f *Fallback) Healthy() bool { return f.healthy.Load() }

// Ready pings Redis when it is thought healthy and returns an error wrapping
// ErrDegraded, with the time Redis went away and its last error, when not.
func (f *Fallback) Ready(ctx context.Context) error {
	if f.healthy.Load() {
		octx, cancel := context.WithTimeout(ctx, f.opts.OpTimeout)
		err := f.redis.Ping(octx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		f.markDown(ctx, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.downSince.IsZero() { // came back between the two looks
		return nil
	}
	return fmt.Errorf("%w since %s: %w", ErrDegraded, f.downSince.UTC().Format(time.RFC3339), f.lastErr)
}

// Get reads from Redis, or from the local cache while Redis is down.
func (f *Fallback) Get(ctx context.Context, handle string) (*aggregator.Timeline, bool, error) {
	if f.healthy.Load() {
		octx, cancel := context.WithTimeout(ctx, f.opts.OpTimeout)
		t, b, ok, err := f.redis.get(octx, handle)
		cancel()
		if err == nil {
			if ok {
				_ = f.local.PutPacked(ctx, handle, t, f.redis.packed(handle, b))
			}
			return t, ok, nil
		}
		if ctx.Err() != nil { // the caller gave up: says nothing about Redis
			return nil, false, err
		}
		f.markDown(ctx, err)
	}
	return f.local.Get(ctx, handle)
}

// GetConflicts reads the patients' conflicts from Redis (see
// Cache.GetConflicts), or their timelines from the local cache while Redis
// is down. What Redis returns is not copied to the local cache: it may be
// a part of a timeline, and the local cache holds whole ones.
func (f *Fallback) GetConflicts(ctx context.Context, handles []string) ([]*aggregator.Timeline, error) {
	if f.healthy.Load() {
		octx, cancel := context.WithTimeout(ctx, f.opts.OpTimeout)
		ts, err := f.redis.GetConflicts(octx, handles)
		cancel()
		if err == nil {
			return ts, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		f.markDown(ctx, err)
	}
	out := make([]*aggregator.Timeline, len(handles))
	for i, h := range handles {
		t, ok, err := f.local.Get(ctx, h)
		if err != nil {
			return nil, fmt.Errorf("rediscache: fallback: %w", err)
		}
		if ok {
			out[i] = t
		}
	}
	return out, nil
}

// Put stores t locally and, while Redis is up, in Redis. Losing Redis is not
// an error here: the timeline is stored, and Ready reports the degradation.
func (f *Fallback) Put(ctx context.Context, handle string, t *aggregator.Timeline) error {
	b := f.redis.encode(handle, t)
	if err := f.local.PutPacked(ctx, handle, t, f.redis.packed(handle, b)); err != nil {
		return fmt.Errorf("rediscache: fallback: local put: %w", err)
	}
	return f.writeThrough(ctx, func(ctx context.Context) error { return f.redis.put(ctx, handle, t, b, nil) })
}

// PutWithChanges is Put and AddChanges, in one transaction while Redis is
// up (Cache.PutWithChanges).
func (f *Fallback) PutWithChanges(ctx context.Context, handle string, t *aggregator.Timeline, changes []aggregator.Change, keepAfter time.Time) error {
	b := f.redis.encode(handle, t)
	if err := f.local.PutPacked(ctx, handle, t, f.redis.packed(handle, b)); err != nil {
		return fmt.Errorf("rediscache: fallback: local put: %w", err)
	}
	if err := f.local.AddChanges(ctx, handle, changes, keepAfter); err != nil {
		return fmt.Errorf("rediscache: fallback: local changes: %w", err)
	}
	add, err := f.redis.addChanges(ctx, handle, changes, keepAfter)
	if err != nil {
		return err
	}
	return f.writeThrough(ctx, func(ctx context.Context) error { return f.redis.put(ctx, handle, t, b, add) })
}

// writeThrough writes to Redis while it is up. Losing Redis is no error:
// the caller has stored locally, and Ready reports the degradation. Only
// what Redis could never store (an encoding error) or the caller's own
// cancellation is returned.
func (f *Fallback) writeThrough(ctx context.Context, write func(context.Context) error) error {
	if !f.healthy.Load() {
		return nil
	}
	octx, cancel := context.WithTimeout(ctx, f.opts.OpTimeout)
	err := write(octx)
	cancel()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errEncode), ctx.Err() != nil:
		return err
	}
	f.markDown(ctx, err)
	return nil
}

// Acquire takes the patient's lease in Redis; while Redis is down it grants
// it at once, since a replica refreshing alone beats one that cannot.
func (f *Fallback) Acquire(ctx context.Context, handle string, ttl time.Duration) (func(context.Context) error, bool, error) {
	if f.healthy.Load() {
		octx, cancel := context.WithTimeout(ctx, f.opts.OpTimeout)
		release, ok, err := f.redis.Acquire(octx, handle, ttl)
		cancel()
		if err == nil {
			if !ok {
				return nil, false, nil
			}
			return f.releasing(release), true, nil
		}
		if ctx.Err() != nil {
			return nil, false, err
		}
		f.markDown(ctx, err)
	}
	return func(context.Context) error { return nil }, true, nil
}

// AcquireRead takes the lease and reads the timeline in one round trip
// (Cache.AcquireRead). Unlike Get's, what it read is not copied to the
// local cache: the holder builds and stores a newer one right after (or
// found it fresh, stored by whoever used it lately), and the copy (an LRU
// slot, an index record and a weak pointer, for a patient the LRU rarely
// holds) cost a changed build some 30 us in the region rows. With Redis
// down the lease is this replica's alone, as Acquire's is, and the
// timeline the local cache's.
func (f *Fallback) AcquireRead(ctx context.Context, handle string, ttl time.Duration) (func(context.Context) error, *aggregator.Timeline, bool, error) {
	if f.healthy.Load() {
		octx, cancel := context.WithTimeout(ctx, f.opts.OpTimeout)
		release, t, ok, err := f.redis.AcquireRead(octx, handle, ttl)
		cancel()
		if err == nil {
			if !ok {
				return nil, nil, false, nil
			}
			return f.releasing(release), t, true, nil
		}
		if ctx.Err() != nil {
			return nil, nil, false, err
		}
		f.markDown(ctx, err)
	}
	t, ok, err := f.local.Get(ctx, handle)
	if err != nil || !ok {
		t = nil
	}
	return func(context.Context) error { return nil }, t, true, nil
}

// releasing is a Redis lease's release that marks Redis down when it fails.
func (f *Fallback) releasing(release func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		// Cache's release runs even with ctx done, so an error is Redis's.
		if err := release(ctx); err != nil {
			f.markDown(ctx, err) // the lease expires by itself
		}
		return nil
	}
}

// Wait waits for another replica's refresh (see Cache.Wait). With Redis down
// it returns ErrAbandoned at once, so the caller builds the timeline itself.
func (f *Fallback) Wait(ctx context.Context, handle string, since time.Time) (*aggregator.Timeline, error) {
	if !f.healthy.Load() {
		return nil, ErrAbandoned
	}
	t, err := f.redis.Wait(ctx, handle, since)
	switch {
	case err == nil:
		// Encoded anew: a wait is one read in many.
		_ = f.local.PutPacked(ctx, handle, t, f.redis.packed(handle, f.redis.encode(handle, t)))
		return t, nil
	case errors.Is(err, ErrAbandoned), ctx.Err() != nil:
		return nil, err
	}
	f.markDown(ctx, err)
	return nil, fmt.Errorf("%w: %w", ErrAbandoned, err)
}

// AddChanges records changes in Redis and in the local cache, so a replica
// that loses Redis still marks what it saw change. Losing Redis is not an
// error here, as for Put.
func (f *Fallback) AddChanges(ctx context.Context, handle string, changes []aggregator.Change, keepAfter time.Time) error {
	if err := f.local.AddChanges(ctx, handle, changes, keepAfter); err != nil {
		return fmt.Errorf("rediscache: fallback: local changes: %w", err)
	}
	return f.writeThrough(ctx, func(ctx context.Context) error {
		return f.redis.AddChanges(ctx, handle, changes, keepAfter)
	})
}

// Changes reads from Redis, or while Redis is down from the local cache:
// then only what this replica noticed.
func (f *Fallback) Changes(ctx context.Context, handle string, since time.Time) ([]aggregator.Change, error) {
	if f.healthy.Load() {
		octx, cancel := context.WithTimeout(ctx, f.opts.OpTimeout)
		cs, err := f.redis.Changes(octx, handle, since)
		cancel()
		if err == nil || ctx.Err() != nil {
			return cs, err
		}
		f.markDown(ctx, err)
	}
	return f.local.Changes(ctx, handle, since)
}

// Range walks Redis (see Cache.Range), or the local cache while Redis is
// down: then only the timelines this replica holds, which is what it can do.
func (f *Fallback) Range(ctx context.Context, fn func(handle string, t *aggregator.Timeline) bool) error {
	if f.healthy.Load() {
		err := f.redis.Range(ctx, fn)
		if err == nil || ctx.Err() != nil {
			return err
		}
		// fn may have seen part of Redis: walking the local cache now would
		// show some patients twice, so this call fails and the next one is local.
		f.markDown(ctx, err)
		return err
	}
	return f.local.Range(ctx, fn)
}

// Conflicted asks Redis's index, or while Redis is down the local cache's:
// then only the timelines this replica holds.
func (f *Fallback) Conflicted(ctx context.Context, from, to, organization string, limit int) ([]string, error) {
	if f.healthy.Load() {
		octx, cancel := context.WithTimeout(ctx, f.opts.OpTimeout)
		hs, err := f.redis.Conflicted(octx, from, to, organization, limit)
		cancel()
		if err == nil || ctx.Err() != nil {
			return hs, err
		}
		f.markDown(ctx, err)
	}
	return f.local.Conflicted(ctx, from, to, organization, limit)
}

// ConflictedAmong is Conflicted's counterpart for a list of patients.
func (f *Fallback) ConflictedAmong(ctx context.Context, from, to string, handles []string) ([]string, error) {
	if f.healthy.Load() {
		octx, cancel := context.WithTimeout(ctx, f.opts.OpTimeout)
		hs, err := f.redis.ConflictedAmong(octx, from, to, handles)
		cancel()
		if err == nil || ctx.Err() != nil {
			return hs, err
		}
		f.markDown(ctx, err)
	}
	return f.local.ConflictedAmong(ctx, from, to, handles)
}

// Close stops the background pings. It does not close the Redis cache.
func (f *Fallback) Close() {
	f.mu.Lock()
	if !f.closed {
		f.closed = true
		close(f.stop)
	}
	f.mu.Unlock()
	f.probing.Wait()
}

// markDown switches to the local cache and starts pinging Redis, once per outage.
func (f *Fallback) markDown(ctx context.Context, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastErr = err
	if !f.healthy.CompareAndSwap(true, false) {
		return
	}
	f.downSince = time.Now()
	f.log.WarnContext(ctx, "Redis unavailable; serving timelines from the in-process cache", "err", err)
	if f.closed {
		return
	}
	f.probing.Add(1)
	go f.probe()
}

// probe pings Redis with growing pauses until it answers or Close is called.
func (f *Fallback) probe() {
	defer f.probing.Done()
	delay := f.opts.MinBackoff
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-timer.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), f.opts.OpTimeout)
		err := f.redis.Ping(ctx)
		cancel()
		f.mu.Lock()
		if err == nil {
			down := time.Since(f.downSince)
			f.downSince, f.lastErr = time.Time{}, nil
			f.healthy.Store(true)
			f.mu.Unlock()
			f.log.Info("Redis is back; serving timelines from Redis again", "down_for", down.Round(time.Millisecond))
			return
		}
		f.lastErr = err
		f.mu.Unlock()
		delay = min(2*delay, f.opts.MaxBackoff)
		// Jitter keeps the replicas from pinging a recovering Redis in step.
		timer.Reset(delay/2 + rand.N(delay/2+1))
	}
}
