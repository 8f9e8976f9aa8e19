package rediscache

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/overblik/overblik/aggregator"
)

// A patient's changes are a sorted set scored by the millisecond they were
// noticed. Each member starts with the zero-padded version and the index
// within its AddChanges, so members with the same score sort in the order
// the contract promises, and two equal changes of one refresh stay two.

func (c *Cache) changesKey(handle string) string { return c.prefix + "{" + handle + "}:changes" }

// changeV1 is the stored form of a change, apart from the domain type for
// the same reason as timelineV1.
type changeV1 struct {
	Version  int64     `json:"v"`
	Noticed  time.Time `json:"noticed"`
	EntryID  string    `json:"entry"`
	Kind     string    `json:"kind"`
	Title    string    `json:"title,omitempty"`
	Sens     string    `json:"sens,omitempty"` // absent in records written before it was kept
	OldStart time.Time `json:"old_start,omitzero"`
	OldEnd   time.Time `json:"old_end,omitzero"`
	OldPlace placeV1   `json:"old_place,omitzero"`
}

// AddChanges records changes and, in the same transaction, forgets those
// noticed before keepAfter and renews the set's expiry, so a patient nobody
// looks at any more leaves Redis by itself.
func (c *Cache) AddChanges(ctx context.Context, handle string, changes []aggregator.Change, keepAfter time.Time) error {
	if len(changes) == 0 {
		return nil
	}
	add, err := c.addChanges(ctx, handle, changes, keepAfter)
	if err != nil {
		return err
	}
	if _, err := c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error { add(ctx, p); return nil }); err != nil {
		return fmt.Errorf("rediscache: add changes of %s: %w", handle, err)
	}
	return nil
}

// addChanges returns what AddChanges queues in its transaction, so Put can
// queue it in its own (PutWithChanges).
func (c *Cache) addChanges(ctx context.Context, handle string, changes []aggregator.Change, keepAfter time.Time) (func(context.Context, redis.Pipeliner), error) {
	key := c.changesKey(handle)
	members := make([]redis.Z, len(changes))
	for i, ch := range changes {
		b, err := c.codec.encodeChange(changeV1{Version: ch.Version, Noticed: ch.Noticed, EntryID: ch.EntryID, Kind: string(ch.Kind), Title: ch.Title, Sens: string(ch.Sensitivity),
			OldStart: ch.OldStart, OldEnd: ch.OldEnd,
			OldPlace: placeV1{Name: ch.OldPlace.Name, Address: ch.OldPlace.Address, Lat: ch.OldPlace.Lat, Lon: ch.OldPlace.Lon}}, key)
		if err != nil {
			return nil, fmt.Errorf("rediscache: add changes of %s: %w", handle, err)
		}
		members[i] = redis.Z{Score: float64(ch.Noticed.UnixMilli()), Member: fmt.Sprintf("%019d:%06d:%s", ch.Version, i, b)}
	}
	return func(ctx context.Context, p redis.Pipeliner) {
		p.ZAdd(ctx, key, members...)
		if !keepAfter.IsZero() {
			p.ZRemRangeByScore(ctx, key, "-inf", "("+strconv.FormatInt(keepAfter.UnixMilli(), 10))
		}
		p.PExpire(ctx, key, c.changesTTL)
	}, nil
}

// Changes returns the patient's changes noticed after since, oldest first.
func (c *Cache) Changes(ctx context.Context, handle string, since time.Time) ([]aggregator.Change, error) {
	lo := "-inf"
	if !since.IsZero() {
		// Scores are milliseconds: read from since's, then drop to the nanosecond.
		lo = strconv.FormatInt(since.UnixMilli(), 10)
	}
	key := c.changesKey(handle)
	raw, err := c.rdb.ZRangeByScore(ctx, key, &redis.ZRangeBy{Min: lo, Max: "+inf"}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("rediscache: changes of %s: %w", handle, err)
	}
	out := make([]aggregator.Change, 0, len(raw))
	for _, m := range raw {
		parts := strings.SplitN(m, ":", 3)
		if len(parts) != 3 {
			continue
		}
		d, err := c.codec.decodeChange([]byte(parts[2]), key)
		if err != nil {
			// One unreadable change (a newer release's, or one that does
			// not open under the seal key) must not hide the others.
			c.log.DebugContext(ctx, "stored change unreadable; skipped", "patient", handle, "err", err)
			continue
		}
		if !d.Noticed.After(since) {
			continue
		}
		out = append(out, aggregator.Change{Version: d.Version, Noticed: d.Noticed, EntryID: d.EntryID, Kind: aggregator.ChangeKind(d.Kind), Title: d.Title, Sensitivity: aggregator.Sensitivity(d.Sens),
			OldStart: d.OldStart, OldEnd: d.OldEnd,
			OldPlace: aggregator.Place{Name: d.OldPlace.Name, Address: d.OldPlace.Address, Lat: d.OldPlace.Lat, Lon: d.OldPlace.Lon}})
	}
	// Members of one millisecond sort by version already; this orders the nanoseconds within it.
	slices.SortStableFunc(out, func(a, b aggregator.Change) int {
		return cmp.Or(a.Noticed.Compare(b.Noticed), cmp.Compare(a.Version, b.Version))
	})
	return out, nil
}
