package rediscache

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// SavePatient shares which (sealed) identifier a handle stands for with the
// other replicas, for as long as timelines are kept.
func (c *Cache) SavePatient(ctx context.Context, handle string, sealed []byte) error {
	if err := c.rdb.Set(ctx, c.patientKey(handle), sealed, c.ttl).Err(); err != nil {
		return fmt.Errorf("rediscache: save patient %s: %w", handle, err)
	}
	return nil
}

// LoadPatient returns the sealed identifier saved for handle.
func (c *Cache) LoadPatient(ctx context.Context, handle string) ([]byte, bool, error) {
	b, err := c.rdb.Get(ctx, c.patientKey(handle)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("rediscache: load patient %s: %w", handle, err)
	}
	return b, true, nil
}

func (c *Cache) patientKey(handle string) string { return c.prefix + "{" + handle + "}:patient" }
