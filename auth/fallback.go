package auth

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// FallbackStore keeps sessions in a shared store (Redis) and, while that
// fails, in this process's memory: a Redis outage then costs at worst a new
// login on another replica, never a failed request. Every session it reads
// or writes is also kept in memory, so a failover or a blip of Redis does not
// sign out the people this replica serves. (Auth checks a session's
// timeouts on every load, so the copy never lets a session live longer.)
type FallbackStore struct {
	primary Store
	local   Store
	log     *slog.Logger
	down    atomic.Bool  // for logging the switch once, not per request
	retryAt atomic.Int64 // Unix nanoseconds: until then the shared store is not asked
}

const (
	// fallbackOpTimeout bounds one call to the shared store, so a hung Redis
	// slows a request by this much at most, once per fallbackPause.
	fallbackOpTimeout = 300 * time.Millisecond
	fallbackPause     = 5 * time.Second
	// fallbackKeep is how long the in-memory copy of a session read from
	// the shared store is kept.
	fallbackKeep = 15 * time.Minute
)

// usePrimary tells whether to ask the shared store now, and gives the
// context to ask it with.
func (f *FallbackStore) usePrimary(ctx context.Context) (context.Context, context.CancelFunc, bool) {
	if time.Now().UnixNano() < f.retryAt.Load() {
		return nil, nil, false
	}
	ctx, cancel := context.WithTimeout(ctx, fallbackOpTimeout)
	return ctx, cancel, true
}

// NewFallbackStore serves from primary and falls back to local.
func NewFallbackStore(primary, local Store, log *slog.Logger) *FallbackStore {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &FallbackStore{primary: primary, local: local, log: log}
}

func (f *FallbackStore) failed(err error) {
	f.retryAt.Store(time.Now().Add(fallbackPause).UnixNano())
	if f.down.CompareAndSwap(false, true) {
		f.log.Warn("session store unavailable; keeping sessions in memory", "err", err)
	}
}

func (f *FallbackStore) ok() {
	if f.down.CompareAndSwap(true, false) {
		f.log.Info("session store back")
	}
}

// Get looks in the shared store, and in memory when that fails or has
// nothing (a session made during an outage lives there).
func (f *FallbackStore) Get(ctx context.Context, key string) ([]byte, bool, error) {
	pctx, cancel, ask := f.usePrimary(ctx)
	if !ask {
		return f.local.Get(ctx, key)
	}
	defer cancel()
	v, ok, err := f.primary.Get(pctx, key)
	if err != nil {
		f.failed(err)
		return f.local.Get(ctx, key)
	}
	f.ok()
	if !ok {
		return f.local.Get(ctx, key)
	}
	_ = f.local.Set(ctx, key, v, fallbackKeep) // memory: never fails
	return v, true, nil
}

// Set writes to the shared store, or to memory while it fails.
func (f *FallbackStore) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	pctx, cancel, ask := f.usePrimary(ctx)
	if !ask {
		return f.local.Set(ctx, key, val, ttl)
	}
	defer cancel()
	if err := f.local.Set(ctx, key, val, min(ttl, fallbackKeep)); err != nil {
		return err
	}
	if err := f.primary.Set(pctx, key, val, ttl); err != nil {
		f.failed(err)
		return f.local.Set(ctx, key, val, ttl)
	}
	f.ok()
	return nil
}

// Delete removes key from both. It asks the shared store even while paused
// (logouts are rare), but a session it could not delete there outlives the
// outage: the error says so, for the caller to refuse the session.
func (f *FallbackStore) Delete(ctx context.Context, key string) error {
	pctx, cancel := context.WithTimeout(ctx, fallbackOpTimeout)
	defer cancel()
	perr := f.primary.Delete(pctx, key)
	if perr != nil {
		f.failed(perr)
	}
	if err := f.local.Delete(ctx, key); err != nil {
		return err
	}
	return perr
}
