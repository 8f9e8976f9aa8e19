package rediscache

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/overblik/overblik/aggregator"
)

// Schedule is the background-refresh schedule shared by the replicas (see
// aggregator.Schedule): two sorted sets of handles, scored in milliseconds
// by when each patient was last viewed and when it is next due, and a hash
// of each patient's change-feed marks ("source=count,..."). Claim is one
// script, so a due patient goes to exactly one replica. The keys carry one
// hash tag: a Cluster keeps them on one slot.
type Schedule struct {
	rdb    redis.UniversalClient
	due    string
	viewed string
	marks  string
	// changed is the sorted set of change times releases before marks
	// kept; the mark script deletes it.
	changed string
}

// Schedule returns the refresh schedule under the cache's prefix.
func (c *Cache) Schedule() *Schedule {
	return &Schedule{rdb: c.rdb, due: c.prefix + "{refresh}:due", viewed: c.prefix + "{refresh}:viewed",
		marks: c.prefix + "{refresh}:marks", changed: c.prefix + "{refresh}:changed"}
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

// claimScript: KEYS due, viewed, marks; ARGV now, n, until, viewedBefore
// (ms). It returns handle, due-ms, marks triples (marks "" for none).
// Forgetting is bounded per call so one call never blocks Redis for long;
// the next calls forget the rest.
var claimScript = redis.NewScript(`
local gone = redis.call("ZRANGEBYSCORE", KEYS[2], "-inf", "(" .. ARGV[4], "LIMIT", 0, 1000)
if #gone > 0 then
	redis.call("ZREM", KEYS[2], unpack(gone))
	redis.call("ZREM", KEYS[1], unpack(gone))
	redis.call("HDEL", KEYS[3], unpack(gone))
end
local hs = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "WITHSCORES", "LIMIT", 0, tonumber(ARGV[2]))
local out = {}
for i = 1, #hs, 2 do
	local h = hs[i]
	redis.call("ZADD", KEYS[1], ARGV[3], h)
	out[#out + 1] = h
	out[#out + 1] = hs[i + 1]
	out[#out + 1] = redis.call("HGET", KEYS[3], h) or ""
end
return out`)

func (s *Schedule) Claim(ctx context.Context, now time.Time, n int, until, viewedBefore time.Time) ([]aggregator.Claim, error) {
	if n <= 0 {
		return nil, nil
	}
	raw, err := claimScript.Run(ctx, s.rdb, []string{s.due, s.viewed, s.marks}, ms(now), n, ms(until), ms(viewedBefore)).StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("rediscache: claim due patients: %w", err)
	}
	out := make([]aggregator.Claim, 0, len(raw)/3)
	for i := 0; i+2 < len(raw); i += 3 {
		c := aggregator.Claim{Handle: raw[i]}
		if v, err := strconv.ParseFloat(raw[i+1], 64); err == nil { // a score, as Redis writes doubles
			c.Due = time.UnixMilli(int64(v))
		}
		for m := range strings.SplitSeq(raw[i+2], ",") {
			src, count, ok := strings.Cut(m, "=")
			if n, err := strconv.ParseInt(count, 10, 64); ok && err == nil {
				if c.Marks == nil {
					c.Marks = map[string]int64{}
				}
				c.Marks[src] = n
			}
		}
		out = append(out, c)
	}
	return out, nil
}

func (s *Schedule) Reschedule(ctx context.Context, next ...aggregator.Next) error {
	if len(next) == 0 {
		return nil
	}
	zs := make([]redis.Z, len(next))
	for i, n := range next {
		zs[i] = redis.Z{Score: float64(n.Due.UnixMilli()), Member: n.Handle}
	}
	if err := s.rdb.ZAddXX(ctx, s.due, zs...).Err(); err != nil {
		return fmt.Errorf("rediscache: reschedule %d patients: %w", len(next), err)
	}
	return nil
}

// markScript: KEYS due, marks, the old changed set; ARGV at (ms), source,
// handles...
var markScript = redis.NewScript(`
redis.call("DEL", KEYS[3])
local key = ARGV[2] .. "="
for i = 3, #ARGV do
	local h = ARGV[i]
	if redis.call("ZSCORE", KEYS[1], h) then
		redis.call("ZADD", KEYS[1], "LT", ARGV[1], h)
		local marks, found, out = redis.call("HGET", KEYS[2], h) or "", false, {}
		for m in string.gmatch(marks, "[^,]+") do
			if string.sub(m, 1, #key) == key then
				m = key .. (tonumber(string.sub(m, #key + 1)) + 1)
				found = true
			end
			out[#out + 1] = m
		end
		if not found then out[#out + 1] = key .. "1" end
		redis.call("HSET", KEYS[2], h, table.concat(out, ","))
	end
end
return 0`)

// markBatch bounds the handles one script call takes, so a feed that names
// many patients does not block Redis for long.
const markBatch = 500

func (s *Schedule) MarkChanged(ctx context.Context, source string, handles []string, at time.Time) error {
	if strings.ContainsAny(source, "=,") {
		return fmt.Errorf("rediscache: mark changes of source %q: a name with '=' or ','", source)
	}
	for len(handles) > 0 {
		n := min(len(handles), markBatch)
		args := make([]any, 0, n+2)
		args = append(args, ms(at), source)
		for _, h := range handles[:n] {
			args = append(args, h)
		}
		if err := markScript.Run(ctx, s.rdb, []string{s.due, s.marks, s.changed}, args...).Err(); err != nil && !errors.Is(err, redis.Nil) {
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
