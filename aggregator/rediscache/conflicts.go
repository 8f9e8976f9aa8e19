package rediscache

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/overblik/overblik/aggregator"
)

// A worklist needs of each patient only their conflicts, for hundreds of
// patients at once; reading and decoding each whole timeline, one round
// trip each, cost it most of its time. So Put stores, in the same
// transaction as the timeline, aggregator.ConflictsOnly of it under a key
// of the same slot, led by the stamp of the timeline it was cut from, and
// GetConflicts reads it with the current stamp for all patients in one
// pipeline. A projection whose stamp is not the timeline's (a timeline
// written by a release without projections since) is not used: the whole
// timeline is read instead, as it is for a timeline stored without one.

func (c *Cache) conflictsKey(handle string) string { return c.prefix + "{" + handle + "}:conflicts" }

// stampLen is the length of stampOf's hex.
const stampLen = 16

// encodeConflicts is the stored projection of t, whose encoded bytes have
// the stamp stamp.
func (c *Cache) encodeConflicts(t *aggregator.Timeline, handle, stamp string) []byte {
	return append([]byte(stamp), c.codec.encodeTimeline(aggregator.ConflictsOnly(t), c.conflictsKey(handle))...)
}

// GetConflicts returns, in the order of handles, each patient's
// conflicts-only timeline (aggregator.ConflictsOnly), or the whole timeline
// where no usable projection is stored, nil where none is cached.
func (c *Cache) GetConflicts(ctx context.Context, handles []string) ([]*aggregator.Timeline, error) {
	out := make([]*aggregator.Timeline, len(handles))
	if len(handles) == 0 {
		return out, nil
	}
	// One MGET per patient: its two keys share a slot, so each reads one
	// moment of that patient, and a Cluster client splits the pipeline by
	// node.
	cmds := make([]*redis.SliceCmd, len(handles))
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, h := range handles {
			cmds[i] = p.MGet(ctx, c.stampKey(h), c.conflictsKey(h))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("rediscache: get conflicts: %w", err)
	}
	// Decoding is most of the cost: a few at once, on every core. A
	// patient without a usable projection is read whole, a few at once too.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(runtime.GOMAXPROCS(0), conflictReads))
	for i, h := range handles {
		g.Go(func() error {
			if t := c.conflictsFrom(gctx, h, cmds[i].Val()); t != nil {
				out[i] = t
				return nil
			}
			t, ok, err := c.Get(gctx, h)
			if ok {
				out[i] = t
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// conflictReads is how many of GetConflicts' patients are decoded or read
// whole at once.
const conflictReads = 8

// conflictsFrom is the projection in an MGET reply of stamp and
// projection, nil when there is none or it is not that of the stored
// timeline.
func (c *Cache) conflictsFrom(ctx context.Context, handle string, vals []any) *aggregator.Timeline {
	if len(vals) != 2 {
		return nil
	}
	stamp, _ := vals[0].(string)
	b, _ := vals[1].(string)
	if len(stamp) != stampLen || len(b) < stampLen || b[:stampLen] != stamp {
		return nil
	}
	t, err := c.codec.decodeTimeline([]byte(b[stampLen:]), c.conflictsKey(handle))
	if err != nil {
		// The whole timeline's read says why, if it fails too.
		c.log.DebugContext(ctx, "stored conflicts unreadable; reading the timeline", "patient", handle, "err", err)
		return nil
	}
	return t
}
