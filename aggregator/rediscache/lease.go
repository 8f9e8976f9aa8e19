package rediscache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/overblik/overblik/aggregator"
)

// ErrAbandoned is returned by Wait when the lease holder released its lease,
// or vanished and let it expire, without storing a newer timeline: the caller
// should build the timeline itself.
var ErrAbandoned = errors.New("rediscache: the refresh was abandoned without a new timeline")

// releaseTimeout bounds a release, which does not wait for the caller's ctx.
const releaseTimeout = 5 * time.Second

// releaseLua deletes the lease only if it still holds our token, so a
// holder whose lease expired cannot delete the next holder's, and wakes the
// waiters in the same step.
const releaseLua = `
if redis.call("GET", KEYS[1]) == ARGV[1] then
	redis.call("DEL", KEYS[1])
	redis.call("PUBLISH", ARGV[2], "released")
	return 1
end
return 0`

var releaseScript = redis.NewScript(releaseLua)

// heldLease is a lease this cache holds. A Put of the patient while it is
// held releases it in Put's own transaction: the service stores its build
// and then releases, one round trip fewer per refresh.
type heldLease struct {
	key, token string
	stamp      string      // of the timeline stored when it was taken ("" for none)
	done       atomic.Bool // released by a Put
}

// queueRelease queues the release in p, a transaction: as EVAL, not
// EVALSHA, since a script Redis does not know would fail inside it.
func (l *heldLease) queueRelease(ctx context.Context, p redis.Pipeliner, channel string) *redis.Cmd {
	return p.Eval(ctx, releaseLua, []string{l.key}, l.token, channel)
}

// released notes what the queued release answered: 1 when it deleted our
// lease. Otherwise the lease had run out, and the holder's release finds
// that out and says so.
func (l *heldLease) released(cmd *redis.Cmd) {
	if n, err := cmd.Int(); err == nil && n == 1 {
		l.done.Store(true)
	}
}

// acquireScript takes the lease (KEYS[1]) with the token ARGV[1] for
// ARGV[2] ms unless another holds it, and then returns the stamp of the
// stored timeline (KEYS[2]; "" for none): the holder's next read of it
// needs no round trip of its own when its near copy has that stamp
// (near.confirm).
var acquireScript = redis.NewScript(`
if not redis.call("SET", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then
	return false
end
return redis.call("GET", KEYS[2]) or ""`)

// Acquire takes the patient's refresh lease for ttl. With ok the caller is
// the one replica refreshing the patient and must call release when done
// (after Put), even with a ctx that is done; without ok another replica
// holds it and the caller should Wait.
// ttl bounds how long a holder that dies blocks the others.
func (c *Cache) Acquire(ctx context.Context, handle string, ttl time.Duration) (release func(context.Context) error, ok bool, err error) {
	if ttl <= 0 {
		return nil, false, fmt.Errorf("rediscache: lease of %s: ttl %v must be positive", handle, ttl)
	}
	token, key := newToken(), c.leaseKey(handle)
	taken := time.Now()
	stamp, err := acquireScript.Run(ctx, c.rdb, []string{key, c.stampKey(handle)}, token, max(1, ttl.Milliseconds())).Text()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("rediscache: acquire lease of %s: %w", handle, err)
	}
	c.near.confirm(handle, stamp, taken.Add(ttl))
	return c.hold(handle, key, token, stamp, ttl), true, nil
}

// acquireReadScript is acquireScript that returns the stored timeline
// (KEYS[2]) too, as getScript does: 1 when its stamp (KEYS[3]) is ARGV[3],
// the one the caller has, else {stamp or "", timeline}, or 0 for none.
var acquireReadScript = redis.NewScript(`
if not redis.call("SET", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then
	return false
end
local s = redis.call("GET", KEYS[3])
if s and ARGV[3] ~= "" and s == ARGV[3] then
	return 1
end
local t = redis.call("GET", KEYS[2])
if not t then
	return 0
end
return {s or "", t}`)

// AcquireRead is Acquire that also returns, with ok, the timeline stored
// when the lease was taken (nil for none), in the same round trip
// (aggregator.LeaseReader). A stored timeline that does not decode is none.
func (c *Cache) AcquireRead(ctx context.Context, handle string, ttl time.Duration) (release func(context.Context) error, t *aggregator.Timeline, ok bool, err error) {
	if ttl <= 0 {
		return nil, nil, false, fmt.Errorf("rediscache: lease of %s: ttl %v must be positive", handle, ttl)
	}
	token, key := newToken(), c.leaseKey(handle)
	have, _ := c.near.get(handle)
	res, err := acquireReadScript.Run(ctx, c.rdb, []string{key, c.timelineKey(handle), c.stampKey(handle)},
		token, max(1, ttl.Milliseconds()), have.stamp).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("rediscache: acquire lease of %s: %w", handle, err)
	}
	var stamp string
	switch v := res.(type) {
	case int64:
		if v == 1 { // only when we sent have's stamp
			t, stamp = have.t, have.stamp
		}
	case []any:
		if len(v) == 2 {
			stamp, _ = v[0].(string)
			s, _ := v[1].(string)
			b := []byte(s)
			var found bool
			if t, found, _ = c.decode(ctx, handle, b); !found {
				t = nil // decode logged why: a miss, rebuilt under this lease
			} else if stamp != "" {
				c.near.put(handle, nearItem{stamp: stamp, t: t, b: b})
			}
		}
	}
	return c.hold(handle, key, token, stamp, ttl), t, true, nil
}

func newToken() string {
	var raw [16]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(raw[:])
}

// hold notes the lease key taken with token, found with the timeline of
// stamp stored, and returns its release.
func (c *Cache) hold(handle, key, token, stamp string, ttl time.Duration) func(context.Context) error {
	l := &heldLease{key: key, token: token, stamp: stamp}
	c.held.Store(handle, l)
	var once sync.Once
	var relErr error
	return func(ctx context.Context) error {
		once.Do(func() {
			c.held.CompareAndDelete(handle, l)
			c.near.unconfirm(handle)
			if l.done.Load() {
				return
			}
			// Cleanup runs even when ctx is done (a caller releasing after its
			// deadline): a lease left behind blocks every replica until its ttl.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
			defer cancel()
			n, err := releaseScript.Run(ctx, c.rdb, []string{key}, token, c.channel(handle)).Int()
			switch {
			case err != nil:
				relErr = fmt.Errorf("rediscache: release lease of %s: %w", handle, err)
			case n == 0:
				// Not an error for the caller, whose work is done, but a sign that
				// the lease is shorter than a refresh takes.
				c.log.WarnContext(ctx, "refresh lease expired before release", "patient", handle, "ttl", ttl)
			}
		})
		return relErr
	}
}

// Wait blocks until the cache holds a timeline generated after since and
// returns it, or returns ErrAbandoned when the lease is gone and no such
// timeline came, or ctx's error. since is the GeneratedAt of the timeline the
// caller already has (zero for none): comparing it with another timeline's
// keeps the replicas' clocks out of it.
//
// A notification on the patient's channel wakes Wait at once; it also looks
// every PollInterval, so a lost message costs at most that and a holder that
// died costs the rest of its lease. Each Wait holds a pub/sub connection of
// its own while it waits, which is cheap as long as waits are the exception
// (a refresh racing another replica's), not the rule.
func (c *Cache) Wait(ctx context.Context, handle string, since time.Time) (*aggregator.Timeline, error) {
	sub := c.rdb.Subscribe(ctx, c.channel(handle))
	defer sub.Close()
	// Subscribed before the first look, so a Put between the look and the
	// receive is not missed.
	if _, err := sub.Receive(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("rediscache: wait for %s: subscribe: %w", handle, err)
	}
	msgs := sub.Channel()
	tick := time.NewTicker(c.poll)
	defer tick.Stop()
	for {
		t, err := c.look(ctx, handle, since)
		if t != nil || err != nil {
			if err != nil && ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return t, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-msgs:
		case <-tick.C:
		}
	}
}

// look returns a timeline newer than since, ErrAbandoned when there is none
// and nobody holds the lease, or nil, nil to keep waiting.
func (c *Cache) look(ctx context.Context, handle string, since time.Time) (*aggregator.Timeline, error) {
	var lease *redis.IntCmd
	var tl *redis.StringCmd
	// In this order: a holder stores before it releases, so a lease seen
	// gone means its timeline, if any, is already there for the GET.
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		lease = p.Exists(ctx, c.leaseKey(handle))
		tl = p.Get(ctx, c.timelineKey(handle))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("rediscache: wait for %s: %w", handle, err)
	}
	if b, err := tl.Bytes(); err == nil {
		if t, ok, _ := c.decode(ctx, handle, b); ok && t.GeneratedAt.After(since) {
			return t, nil
		}
	}
	if lease.Val() == 0 {
		return nil, ErrAbandoned
	}
	return nil, nil
}
