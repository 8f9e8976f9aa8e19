package accessbus_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/access/accessbus"
	"github.com/overblik/overblik/access/sqlstore"
	"github.com/overblik/overblik/access/storetest"
)

// Two replicas: each its own access.Service with its own cache, one
// PostgreSQL, one Redis for the change feed.

var (
	anna  = access.Principal{Subject: "sub-anna", Roles: []access.Role{access.RolePatient}, Handle: "h-anna", Name: "Anna"}
	bo    = access.Principal{Subject: "sub-bo", Roles: []access.Role{access.RolePatient, access.RoleRelative}, Handle: "h-bo"}
	klara = access.Principal{Subject: "sub-klara", Roles: []access.Role{access.RoleClinician}, Name: "Klara"}
)

func redisClient(t *testing.T) redis.UniversalClient {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("Redis is needed at 127.0.0.1:6379: %v", err)
	}
	return rdb
}

func channel() string {
	var b [6]byte
	rand.Read(b[:])
	return "overblik-test-access-" + hex.EncodeToString(b[:])
}

type replica struct {
	svc *access.Service
	bus *accessbus.Bus
}

// replicas start n replicas on one store and one channel, each listening.
func replicas(t *testing.T, n int, rdb redis.UniversalClient, store access.Store) []replica {
	t.Helper()
	ch := channel()
	var out []replica
	for range n {
		bus, err := accessbus.New(rdb, accessbus.Options{Channel: ch})
		if err != nil {
			t.Fatal(err)
		}
		svc := access.NewService(store, access.Options{Broadcast: bus, CacheFor: time.Hour})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); bus.Run(ctx, svc) }()
		t.Cleanup(func() { cancel(); <-done })
		out = append(out, replica{svc: svc, bus: bus})
	}
	// Wait until every replica listens: a Broadcast is then acknowledged by all.
	deadline := time.Now().Add(5 * time.Second)
	for {
		subs, err := rdb.PubSubNumSub(context.Background(), ch).Result()
		if err == nil && subs[ch] == int64(n) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replicas do not listen: %v %v", subs, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return out
}

// countingStore counts the block and delegation reads that reach the database.
type countingStore struct {
	access.Store
	reads chan struct{}
}

func (c *countingStore) Block(ctx context.Context, p string) (access.Block, error) {
	c.reads <- struct{}{}
	return c.Store.Block(ctx, p)
}

func (c *countingStore) Delegations(ctx context.Context, p, g string) ([]access.Delegation, error) {
	c.reads <- struct{}{}
	return c.Store.Delegations(ctx, p, g)
}

func (c *countingStore) count() int {
	n := 0
	for {
		select {
		case <-c.reads:
			n++
		default:
			return n
		}
	}
}

func TestABlockOnOneReplicaRefusesTheClinicianOnTheOther(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.OpenPostgres(ctx, storetest.PostgresURL(t, "bus_test_"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	store := &countingStore{Store: st, reads: make(chan struct{}, 1000)}
	rs := replicas(t, 2, redisClient(t), store)
	one, two := rs[0].svc, rs[1].svc

	// Replica two has decided for Klara before, so it caches Anna's block.
	for range 3 {
		if _, err := two.Decide(ctx, klara, anna.Handle, access.ActionView, "ward round"); err != nil {
			t.Fatal(err)
		}
	}
	if n := store.count(); n != 1 {
		t.Fatalf("%d database reads for three decisions, want 1: the replica does not cache", n)
	}
	for round := range 20 {
		if err := one.SetBlock(ctx, anna, true); err != nil {
			t.Fatal(err)
		}
		if _, err := two.Decide(ctx, klara, anna.Handle, access.ActionView, "ward round"); !errors.Is(err, access.ErrNotVisible) {
			t.Fatalf("round %d: the other replica's next decision after the block: %v, want ErrNotVisible", round, err)
		}
		if err := one.SetBlock(ctx, anna, false); err != nil {
			t.Fatal(err)
		}
		if _, err := two.Decide(ctx, klara, anna.Handle, access.ActionView, "ward round"); err != nil {
			t.Fatalf("round %d: after lifting the block: %v", round, err)
		}
	}

	// A revoked grant likewise.
	g, err := one.Grant(ctx, anna, access.GrantRequest{Grantee: bo.Handle})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := two.Decide(ctx, bo, anna.Handle, access.ActionView, ""); err != nil {
		t.Fatalf("the relative after the grant: %v", err)
	}
	if err := one.Revoke(ctx, anna, g.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := two.Decide(ctx, bo, anna.Handle, access.ActionView, ""); !errors.Is(err, access.ErrNotVisible) {
		t.Fatalf("the relative's next decision on the other replica after the revocation: %v, want ErrNotVisible", err)
	}
}

// A replica whose feed is down decides from the database every time: it
// may have missed an invalidation.
func TestWithoutTheFeedTheCacheIsNotTrusted(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, t.TempDir()+"/access.db", sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	store := &countingStore{Store: st, reads: make(chan struct{}, 1000)}
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 50 * time.Millisecond})
	t.Cleanup(func() { dead.Close() })
	bus, err := accessbus.New(dead, accessbus.Options{Channel: channel(), Ping: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	svc := access.NewService(store, access.Options{Broadcast: bus, CacheFor: time.Hour})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); bus.Run(rctx, svc) }()
	defer func() { cancel(); <-done }()
	for range 3 {
		if _, err := svc.Decide(ctx, klara, anna.Handle, access.ActionView, "ward round"); err != nil {
			t.Fatal(err)
		}
	}
	if n := store.count(); n != 3 {
		t.Errorf("%d database reads for three decisions without a feed, want 3", n)
	}
	// A change made behind its back (another replica, whose broadcast it
	// cannot hear) is obeyed at once.
	if err := st.SetBlock(ctx, anna.Handle, true, time.Now(), access.Event{At: time.Now(), Actor: "x", Patient: anna.Handle, Action: access.ActionBlock, Outcome: access.OutcomeAllowed}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Decide(ctx, klara, anna.Handle, access.ActionView, "ward round"); !errors.Is(err, access.ErrNotVisible) {
		t.Errorf("after a block it could not hear of: %v, want ErrNotVisible", err)
	}
	if err := svc.SetBlock(ctx, anna, false); err != nil {
		t.Fatalf("a change while the feed is down must still be made: %v", err)
	}
}
