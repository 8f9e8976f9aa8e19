package rediscache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/overblik/overblik/aggregator"
)

// rangeBatch is how many keys one SCAN step asks for and one pipeline reads.
const rangeBatch = 200

// Range calls fn for each timeline under the cache's prefix until fn returns
// false, in no particular order. It walks the whole keyspace with SCAN (every
// master of a Cluster) and reads in pipelined batches, so its cost grows with
// the number of cached patients: fit for a worklist over a modest cache, not
// for every request. Unreadable timelines are skipped, as Get would miss them.
func (c *Cache) Range(ctx context.Context, fn func(handle string, t *aggregator.Timeline) bool) error {
	match := globEscape(c.prefix) + "{*}:timeline"
	// SCAN may return a key twice; fn sees each patient once.
	seen := make(map[string]bool)
	stop := errors.New("stop")
	walk := func(ctx context.Context, node redis.Cmdable) error {
		iter := node.Scan(ctx, 0, match, rangeBatch).Iterator()
		var keys []string
		flush := func() error {
			if len(keys) == 0 {
				return nil
			}
			cmds, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, k := range keys {
					p.Get(ctx, k)
				}
				return nil
			})
			if err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			for i, cmd := range cmds {
				b, err := cmd.(*redis.StringCmd).Bytes()
				if err != nil { // expired since SCAN saw it
					continue
				}
				h := c.handleOf(keys[i])
				t, ok, _ := c.decode(ctx, h, b)
				if !ok {
					continue
				}
				if !fn(h, t) {
					return stop
				}
			}
			keys = keys[:0]
			return nil
		}
		for iter.Next(ctx) {
			k := iter.Val()
			if seen[k] {
				continue
			}
			seen[k] = true
			keys = append(keys, k)
			if len(keys) == rangeBatch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := iter.Err(); err != nil {
			return err
		}
		return flush()
	}
	var err error
	if cc, ok := c.rdb.(*redis.ClusterClient); ok {
		// fn is not safe for concurrent calls: one master at a time.
		var mu sync.Mutex // ForEachMaster calls in parallel
		var masters []*redis.Client
		err = cc.ForEachMaster(ctx, func(_ context.Context, m *redis.Client) error {
			mu.Lock()
			masters = append(masters, m)
			mu.Unlock()
			return nil
		})
		for _, m := range masters {
			if err != nil {
				break
			}
			err = walk(ctx, m)
		}
	} else {
		err = walk(ctx, c.rdb)
	}
	if err != nil && !errors.Is(err, stop) {
		return fmt.Errorf("rediscache: range: %w", err)
	}
	return nil
}

// handleOf is the inverse of timelineKey.
func (c *Cache) handleOf(key string) string {
	h := strings.TrimPrefix(key, c.prefix+"{")
	return strings.TrimSuffix(h, "}:timeline")
}

// globEscape quotes the characters SCAN MATCH treats as a pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
