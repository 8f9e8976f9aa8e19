package rediscache

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/overblik/overblik/aggregator"
)

// Schedule is the background-refresh schedule shared by the replicas (see
// aggregator.Schedule): three sorted sets of handles, scored in milliseconds
// by when each patient was last viewed, when it is next due, and when a
// change feed last named it.
// Claim is one script, so a due patient goes to exactly one replica.
// The sets carry one hash tag: a Cluster keeps them on one slot.
type Schedule struct {
	rdb     redis.UniversalClient
	due     string
	viewed  string
	changed string
}

// Schedule returns the refresh schedule under the cache's prefix.
func (c *Cache) Schedule() *Schedule {
	return &Schedule{rdb: c.rdb, due: c.prefix + "{refresh}:due", viewed: c.prefix + "{refresh}:viewed", changed: c.prefix + "{refresh}:changed"}
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func (s *Schedule) Viewed(ctx context.Context, handle string, at, due time.Time) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAddGT(ctx, s.viewed, redis.Z{Score: float64(at.UnixMilli()), Member: handle})
		p.ZAddNX(ctx, s.due, redis.Z{Score: float64(due.UnixMilli()), Member: handle})
		return nil
	})
	if err != nil {
		return fmt.Errorf("rediscache: schedule %s: %w", handle, err)
	}
	return nil
}

// claimScript: KEYS due, viewed, changed; ARGV now, n, until,
// viewedBefore (ms). It returns handle, due-ms, changed-ms triples
// (changed "" for none).
// Forgetting is bounded per call so one call never blocks Redis for long;
// the next calls forget the rest.
var claimScript = redis.NewScript(`
local gone = redis.call("ZRANGEBYSCORE", KEYS[2], "-inf", "(" .. ARGV[4], "LIMIT", 0, 1000)
if #gone > 0 then
	redis.call("ZREM", KEYS[2], unpack(gone))
	redis.call("ZREM", KEYS[1], unpack(gone))
	redis.call("ZREM", KEYS[3], unpack(gone))
end
local hs = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "WITHSCORES", "LIMIT", 0, tonumber(ARGV[2]))
local out = {}
for i = 1, #hs, 2 do
	local h = hs[i]
	redis.call("ZADD", KEYS[1], ARGV[3], h)
	out[#out + 1] = h
	out[#out + 1] = hs[i + 1]
	out[#out + 1] = redis.call("ZSCORE", KEYS[3], h) or ""
end
return out`)

func (s *Schedule) Claim(ctx context.Context, now time.Time, n int, until, viewedBefore time.Time) ([]aggregator.Claim, error) {
	if n <= 0 {
		return nil, nil
	}
	raw, err := claimScript.Run(ctx, s.rdb, []string{s.due, s.viewed, s.changed}, ms(now), n, ms(until), ms(viewedBefore)).StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("rediscache: claim due patients: %w", err)
	}
	out := make([]aggregator.Claim, 0, len(raw)/3)
	for i := 0; i+2 < len(raw); i += 3 {
		c := aggregator.Claim{Handle: raw[i]}
		if v, err := strconv.ParseFloat(raw[i+1], 64); err == nil { // a score, as Redis writes doubles
			c.Due = time.UnixMilli(int64(v))
		}
		if v, err := strconv.ParseInt(raw[i+2], 10, 64); err == nil {
			c.Changed = time.UnixMilli(v)
		}
		out = append(out, c)
	}
	return out, nil
}

func (s *Schedule) Reschedule(ctx context.Context, handle string, due time.Time) error {
	if err := s.rdb.ZAddXX(ctx, s.due, redis.Z{Score: float64(due.UnixMilli()), Member: handle}).Err(); err != nil {
		return fmt.Errorf("rediscache: reschedule %s: %w", handle, err)
	}
	return nil
}

// markScript: KEYS due, changed; ARGV at (ms), handles...
var markScript = redis.NewScript(`
for i = 2, #ARGV do
	if redis.call("ZSCORE", KEYS[1], ARGV[i]) then
		redis.call("ZADD", KEYS[1], "LT", ARGV[1], ARGV[i])
		redis.call("ZADD", KEYS[2], "GT", ARGV[1], ARGV[i])
	end
end
return 0`)

// markBatch bounds the handles one script call takes, so a feed that names
// many patients does not block Redis for long.
const markBatch = 500

func (s *Schedule) MarkChanged(ctx context.Context, handles []string, at time.Time) error {
	for len(handles) > 0 {
		n := min(len(handles), markBatch)
		args := make([]any, 0, n+1)
		args = append(args, ms(at))
		for _, h := range handles[:n] {
			args = append(args, h)
		}
		if err := markScript.Run(ctx, s.rdb, []string{s.due, s.changed}, args...).Err(); err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("rediscache: mark %d patients changed: %w", len(handles), err)
		}
		handles = handles[n:]
	}
	return nil
}

func (s *Schedule) Due(ctx context.Context, now time.Time) (int64, time.Time, error) {
	var count *redis.IntCmd
	var first *redis.ZSliceCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		count = p.ZCount(ctx, s.due, "-inf", ms(now))
		first = p.ZRangeWithScores(ctx, s.due, 0, 0)
		return nil
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("rediscache: due patients: %w", err)
	}
	var earliest time.Time
	if zs := first.Val(); len(zs) > 0 {
		earliest = time.UnixMilli(int64(zs[0].Score))
	}
	return count.Val(), earliest, nil
}
