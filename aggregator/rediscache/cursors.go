package rediscache

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Cursors keep the change feeds' positions in Redis, shared by the replicas
// (see aggregator.Cursors). A cursor has no expiry: losing it only means
// the feed starts again from now.
type Cursors struct {
	rdb    redis.UniversalClient
	prefix string
}

// Cursors returns the change-feed cursors under the cache's prefix.
func (c *Cache) Cursors() *Cursors { return &Cursors{rdb: c.rdb, prefix: c.prefix} }

func (c *Cursors) key(source string) string { return c.prefix + "feed:{" + source + "}:cursor" }

func (c *Cursors) Cursor(ctx context.Context, source string) (string, error) {
	v, err := c.rdb.Get(ctx, c.key(source)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("rediscache: cursor of %s: %w", source, err)
	}
	return v, nil
}

// advanceScript sets KEYS[1] to ARGV[2] if it holds ARGV[1] ("" = absent).
var advanceScript = redis.NewScript(`
local cur = redis.call("GET", KEYS[1]) or ""
if cur ~= ARGV[1] then
	return 0
end
redis.call("SET", KEYS[1], ARGV[2])
return 1`)

func (c *Cursors) AdvanceCursor(ctx context.Context, source, from, next string) (bool, error) {
	n, err := advanceScript.Run(ctx, c.rdb, []string{c.key(source)}, from, next).Int()
	if err != nil {
		return false, fmt.Errorf("rediscache: advance cursor of %s: %w", source, err)
	}
	return n == 1, nil
}
