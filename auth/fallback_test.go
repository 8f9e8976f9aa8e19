package auth

import (
	"context"
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
	if _, ok, _ := local.Get(ctx, "k"); ok {
		t.Error("with Redis up the session went to memory instead")
	}
	if v, ok, err := up.Get(ctx, "k"); err != nil || !ok || string(v) != "shared" {
		t.Errorf("Redis holds %q, %v, %v", v, ok, err)
	}
}
