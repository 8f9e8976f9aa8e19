package auth

import (
	"context"
	"errors"
	"github.com/redis/go-redis/v9"
	"net"
	"testing"
	"time"
)

func TestFallbackStoreSurvivesADeadRedis(t *testing.T) {
	// A port where nothing listens stands for Redis going away.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	f := NewFallbackStore(NewRedisStore(rdb, "test:"), NewMemoryStore(time.Now), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.Set(ctx, "k", []byte("session"), time.Minute); err != nil {
		t.Fatalf("Set with Redis down: %v", err)
	}
	v, ok, err := f.Get(ctx, "k")
	if err != nil || !ok || string(v) != "session" {
		t.Fatalf("Get with Redis down = %q, %v, %v", v, ok, err)
	}
	if err := f.Delete(ctx, "k"); err == nil {
		t.Fatal("Delete with Redis down says the session is gone everywhere")
	}
	if _, ok, _ := f.Get(ctx, "k"); ok {
		t.Error("a deleted session came back")
	}
}

func TestFallbackStoreUsesRedisWhenUp(t *testing.T) {
	up := stores(t, time.Now)["redis"]
	local := NewMemoryStore(time.Now)
	f := NewFallbackStore(up, local, nil)
	ctx := context.Background()
	if err := f.Set(ctx, "k", []byte("shared"), time.Minute); err != nil {
		t.Fatal(err)
	}
	defer f.Delete(ctx, "k")
	if v, ok, err := up.Get(ctx, "k"); err != nil || !ok || string(v) != "shared" {
		t.Errorf("Redis holds %q, %v, %v; want the session", v, ok, err)
	}
	// The copy in memory is what keeps the person signed in if Redis goes
	// away or fails over.
	if v, ok, _ := local.Get(ctx, "k"); !ok || string(v) != "shared" {
		t.Errorf("memory holds %q, %v; want a copy of the session", v, ok)
	}
	if err := f.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := local.Get(ctx, "k"); ok {
		t.Error("a deleted session lives on in memory")
	}
}

// TestFallbackStoreKeepsSessionsItReadThroughAnOutage: a session this
// replica read from Redis is still there when Redis stops answering.
func TestFallbackStoreKeepsSessionsItReadThroughAnOutage(t *testing.T) {
	up := stores(t, time.Now)["redis"]
	ctx := context.Background()
	if err := up.Set(ctx, "k", []byte("from another replica"), time.Minute); err != nil {
		t.Fatal(err)
	}
	defer up.Delete(ctx, "k")
	flaky := &failingStore{Store: up}
	f := NewFallbackStore(flaky, NewMemoryStore(time.Now), nil)
	if v, ok, err := f.Get(ctx, "k"); err != nil || !ok || string(v) != "from another replica" {
		t.Fatalf("Get with Redis up = %q, %v, %v", v, ok, err)
	}
	flaky.fail = true
	if v, ok, err := f.Get(ctx, "k"); err != nil || !ok || string(v) != "from another replica" {
		t.Errorf("Get with Redis failing = %q, %v, %v; want the session it read before", v, ok, err)
	}
}

// failingStore fails every call when fail is set.
type failingStore struct {
	Store
	fail bool
}

func (f *failingStore) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if f.fail {
		return nil, false, errors.New("connection refused")
	}
	return f.Store.Get(ctx, key)
}
