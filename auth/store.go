package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Store keeps sessions and logins in progress, each under a key, for a
// time. The memory store serves one process; the Redis store lets replicas
// share sessions. Keys are hashed before they reach a store, so a copy of
// Redis holds no usable cookie.
type Store interface {
	// Get returns the value under key; ok=false when there is none or it expired.
	Get(ctx context.Context, key string) (val []byte, ok bool, err error)
	// Set stores val under key for ttl.
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// Delete removes key; a missing key is no error.
	Delete(ctx context.Context, key string) error
}

// storeKey is what a store sees of a session ID or login state.
func storeKey(kind, secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return kind + ":" + hex.EncodeToString(sum[:])
}

// MemoryStore is a Store in this process; sessions end with it.
type MemoryStore struct {
	mu   sync.Mutex
	now  func() time.Time
	vals map[string]memoryValue
}

type memoryValue struct {
	val     []byte
	expires time.Time
}

// NewMemoryStore returns an empty MemoryStore on the clock now (nil: the
// real one).
func NewMemoryStore(now func() time.Time) *MemoryStore {
	if now == nil {
		now = time.Now
	}
	return &MemoryStore{now: now, vals: map[string]memoryValue{}}
}

func (m *MemoryStore) Get(_ context.Context, key string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.vals[key]
	if !ok || !m.now().Before(v.expires) {
		delete(m.vals, key)
		return nil, false, nil
	}
	return v.val, true, nil
}

func (m *MemoryStore) Set(_ context.Context, key string, val []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if len(m.vals) > 1000 && len(m.vals)%1000 == 0 { // drop the expired now and then
		for k, v := range m.vals {
			if !now.Before(v.expires) {
				delete(m.vals, k)
			}
		}
	}
	m.vals[key] = memoryValue{val: append([]byte(nil), val...), expires: now.Add(ttl)}
	return nil
}

func (m *MemoryStore) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.vals, key)
	return nil
}

// RedisStore is a Store in Redis, under a prefix of its own.
type RedisStore struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewRedisStore keeps values in rdb under prefix (e.g. "overblik:session:").
func NewRedisStore(rdb redis.UniversalClient, prefix string) *RedisStore {
	return &RedisStore{rdb: rdb, prefix: prefix}
}

func (r *RedisStore) Get(ctx context.Context, key string) ([]byte, bool, error) {
	b, err := r.rdb.Get(ctx, r.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("sessions: redis get: %w", err)
	}
	return b, true, nil
}

func (r *RedisStore) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if err := r.rdb.Set(ctx, r.prefix+key, val, ttl).Err(); err != nil {
		return fmt.Errorf("sessions: redis set: %w", err)
	}
	return nil
}

func (r *RedisStore) Delete(ctx context.Context, key string) error {
	if err := r.rdb.Del(ctx, r.prefix+key).Err(); err != nil {
		return fmt.Errorf("sessions: redis delete: %w", err)
	}
	return nil
}
