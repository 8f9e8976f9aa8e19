package memcache

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// ErrAbandoned is returned by Wait when the holder released its lease, or
// let it expire, without storing a newer timeline.
var ErrAbandoned = errors.New("memcache: the refresh was abandoned without a new timeline")

// Lease is the refresh lease of one process. The service's single-flight
// already collapses a process's callers, so it rarely waits; it is here so
// that every back end has the same parts and passes the same suite.
type Lease struct {
	timelines aggregator.Cache
	now       func() time.Time

	mu   sync.Mutex
	held map[string]*hold
}

type hold struct {
	until time.Time
	done  chan struct{} // closed at release or expiry
}

// NewLease returns a lease whose Wait reads timelines from c.
func NewLease(c aggregator.Cache) *Lease {
	return &Lease{timelines: c, now: time.Now, held: map[string]*hold{}}
}

var _ aggregator.Lease = (*Lease)(nil)

// Acquire takes handle's lease for ttl unless it is held.
func (l *Lease) Acquire(_ context.Context, handle string, ttl time.Duration) (func(context.Context) error, bool, error) {
	if ttl <= 0 {
		return nil, false, errors.New("memcache: lease ttl must be positive")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if h, ok := l.held[handle]; ok && l.now().Before(h.until) {
		return nil, false, nil
	}
	h := &hold{until: l.now().Add(ttl), done: make(chan struct{})}
	l.held[handle] = h
	timer := time.AfterFunc(ttl, func() { l.drop(handle, h) })
	release := func(context.Context) error {
		timer.Stop()
		l.drop(handle, h)
		return nil
	}
	return release, true, nil
}

func (l *Lease) drop(handle string, h *hold) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[handle] == h {
		delete(l.held, handle)
		close(h.done)
	}
}

// Wait returns the first timeline stored with GeneratedAt after since, or
// ErrAbandoned when the lease ends without one.
func (l *Lease) Wait(ctx context.Context, handle string, since time.Time) (*aggregator.Timeline, error) {
	for {
		if t, ok, err := l.timelines.Get(ctx, handle); err == nil && ok && t.GeneratedAt.After(since) {
			return t, nil
		}
		l.mu.Lock()
		h, ok := l.held[handle]
		l.mu.Unlock()
		if !ok {
			return nil, ErrAbandoned
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-h.done:
			if t, ok, err := l.timelines.Get(ctx, handle); err == nil && ok && t.GeneratedAt.After(since) {
				return t, nil
			}
			return nil, ErrAbandoned
		}
	}
}
