package rediscache

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/overblik/overblik/aggregator"
)

// A cached read through Redis is mostly the cost of moving and decoding the
// stored timeline. So Put stores, next to the timeline, a stamp of its bytes,
// and the cache keeps the timelines it decoded lately with their stamps:
// a read sends the stamp it has and gets back only "same" while the
// timeline is unchanged, in one round trip.

func (c *Cache) stampKey(handle string) string { return c.prefix + "{" + handle + "}:stamp" }

// stampOf names encoded timeline bytes.
func stampOf(b []byte) string {
	h := fnv.New64a()
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// getScript: KEYS timeline, stamp; ARGV the stamp the reader has ("" for
// none). It returns 1 when the stored stamp is that one, else {stamp or "",
// timeline} or nil when there is no timeline; both from one moment.
var getScript = redis.NewScript(`
local s = redis.call("GET", KEYS[2])
if s and ARGV[1] ~= "" and s == ARGV[1] then
	return 1
end
local t = redis.call("GET", KEYS[1])
if not t then
	return false
end
return {s or "", t}`)

// near holds decoded timelines with the stamp of the bytes they came from.
type near struct {
	mu  sync.Mutex
	max int
	m   map[string]nearItem
}

type nearItem struct {
	stamp string
	t     *aggregator.Timeline
	b     []byte // the stored bytes t was read from or written as
	// confirmed: until then, the next read may take t without asking
	// Redis (see confirm); zero otherwise.
	confirmed time.Time
}

// confirm notes that Redis held the timeline of stamp when this replica
// took handle's refresh lease, which it holds until until. Another
// replica stores a timeline only under the lease, so the holder's read
// that follows (the service's check after taking it) may use its copy of
// that stamp without a round trip of its own: one read, not every read
// during the lease, and none after release (unconfirm) or until.
func (n *near) confirm(handle, stamp string, until time.Time) {
	if n.max <= 0 || stamp == "" {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if it, ok := n.m[handle]; ok && it.stamp == stamp {
		it.confirmed = until
		n.m[handle] = it
	}
}

// unconfirm ends what confirm allowed, at the lease's release.
func (n *near) unconfirm(handle string) {
	if n.max <= 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if it, ok := n.m[handle]; ok && !it.confirmed.IsZero() {
		it.confirmed = time.Time{}
		n.m[handle] = it
	}
}

// takeConfirmed returns handle's copy when confirm allows a read of it
// now, and uses that allowance up.
func (n *near) takeConfirmed(handle string, now time.Time) (nearItem, bool) {
	if n.max <= 0 {
		return nearItem{}, false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	it, ok := n.m[handle]
	if !ok || it.confirmed.IsZero() {
		return nearItem{}, false
	}
	allowed := now.Before(it.confirmed)
	it.confirmed = time.Time{}
	n.m[handle] = it
	return it, allowed
}

func (n *near) get(handle string) (nearItem, bool) {
	if n.max <= 0 {
		return nearItem{}, false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	it, ok := n.m[handle]
	return it, ok
}

func (n *near) put(handle string, it nearItem) {
	if n.max <= 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m == nil {
		n.m = make(map[string]nearItem)
	}
	if _, ok := n.m[handle]; !ok && len(n.m) >= n.max {
		for h := range n.m { // any one: map order is random enough
			delete(n.m, h)
			break
		}
	}
	n.m[handle] = it
}

// getNear is get with the near cache: one round trip either way, or none
// for the read a lease confirmed (near.confirm).
func (c *Cache) getNear(ctx context.Context, handle string) (*aggregator.Timeline, []byte, bool, error) {
	if it, ok := c.near.takeConfirmed(handle, time.Now()); ok {
		return it.t, it.b, true, nil
	}
	have, cached := c.near.get(handle)
	res, err := getScript.Run(ctx, c.rdb, []string{c.timelineKey(handle), c.stampKey(handle)}, have.stamp).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("rediscache: get timeline of %s: %w", handle, err)
	}
	switch v := res.(type) {
	case int64:
		if cached && v == 1 {
			return have.t, have.b, true, nil
		}
	case []any:
		if len(v) == 2 {
			stamp, _ := v[0].(string)
			s, _ := v[1].(string)
			b := []byte(s)
			t, ok, err := c.decode(ctx, handle, b)
			if ok && stamp != "" {
				c.near.put(handle, nearItem{stamp: stamp, t: t, b: b})
			}
			return t, b, ok, err
		}
	}
	return nil, nil, false, fmt.Errorf("rediscache: get timeline of %s: unexpected reply %T", handle, res)
}
