package rediscache

import (
	"github.com/redis/go-redis/v9"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
)

// Backend is the aggregator's back end shared by the replicas, on one Redis
// client the process owns: timelines, their changes and the refresh lease
// through a Fallback (this process's memory while Redis is away), the
// refresh schedule, the change-feed cursors and the patient directory in
// Redis.
type Backend struct {
	aggregator.Backend
	Cache    *Cache
	Fallback *Fallback
}

// NewBackend builds the back end on rdb, which the caller opens (NewClient)
// and closes after Close.
func NewBackend(rdb redis.UniversalClient, opts Options, fopts FallbackOptions) (*Backend, error) {
	c, err := New(rdb, opts)
	if err != nil {
		return nil, err
	}
	fb := NewFallback(c, memcache.New(0), fopts)
	return &Backend{
		Backend: aggregator.Backend{Timelines: fb, Changes: fb, Lease: fb, Schedule: c.Schedule(),
			Cursors: c.Cursors(), Directory: c, Index: fb},
		Cache: c, Fallback: fb,
	}, nil
}

// Backend is the aggregator's back end on this cache alone, without the
// fallback to memory: for tools and tests that want Redis or nothing.
func (c *Cache) Backend() aggregator.Backend {
	return aggregator.Backend{Timelines: c, Changes: c, Lease: c, Schedule: c.Schedule(), Cursors: c.Cursors(), Directory: c, Index: c}
}

// Close stops the fallback's pings; the client stays the caller's.
func (b *Backend) Close() { b.Fallback.Close() }

var (
	_ aggregator.Cache         = (*Cache)(nil)
	_ aggregator.ChangeLog     = (*Cache)(nil)
	_ aggregator.ChangesPutter = (*Cache)(nil)
	_ aggregator.ChangesPutter = (*Fallback)(nil)
	_ aggregator.Lease         = (*Cache)(nil)
	_ aggregator.LeaseReader   = (*Cache)(nil)
	_ aggregator.LeaseReader   = (*Fallback)(nil)
	_ aggregator.Directory     = (*Cache)(nil)
	_ aggregator.ConflictIndex = (*Cache)(nil)
	_ aggregator.ConflictIndex = (*Fallback)(nil)
	_ aggregator.Schedule      = (*Schedule)(nil)
	_ aggregator.Cursors       = (*Cursors)(nil)
)
