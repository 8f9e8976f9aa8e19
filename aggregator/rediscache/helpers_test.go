package rediscache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// testRedisURL is the real Redis the tests use: the one every dev and CI
// machine runs, unless OVERBLIK_TEST_REDIS_URL names another.
func testRedisURL() string {
	if u := os.Getenv("OVERBLIK_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// redisCheck remembers the first ping, so with Redis down every test fails
// at once with the same message instead of each paying go-redis's retries.
var redisCheck struct {
	once sync.Once
	err  error
}

// requireRedis fails the test, never skips it, when Redis does not answer.
func requireRedis(t testing.TB, rdb redis.UniversalClient) {
	t.Helper()
	redisCheck.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		redisCheck.err = rdb.Ping(ctx).Err()
	})
	if redisCheck.err != nil {
		t.Fatalf("these tests need the real Redis at %s, which does not answer: %v\n"+
			"(dev and CI machines run one on 127.0.0.1:6379: check with `redis-cli ping`, "+
			"or point OVERBLIK_TEST_REDIS_URL at another)", testRedisURL(), redisCheck.err)
	}
}

// testPrefix is a key prefix of the test's own; every key under it is
// deleted when the test ends.
func testPrefix(t testing.TB) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "overblik-test:" + hex.EncodeToString(b[:]) + ":"
	rdb := newTestClient(t)
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 100).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("cleanup of %s*: %v", prefix, err)
			return
		}
		if len(keys) > 0 {
			if err := rdb.Del(ctx, keys...).Err(); err != nil {
				t.Errorf("cleanup of %s*: %v", prefix, err)
			}
		}
	})
	return prefix
}

// newTestClient is a client on the test Redis, closed when the test ends.
func newTestClient(t testing.TB) redis.UniversalClient {
	t.Helper()
	rdb, err := NewClient(testRedisURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	requireRedis(t, rdb)
	return rdb
}

// openURL is a cache on a client of its own for url, closed when the test
// ends.
func openURL(t testing.TB, url string, opts Options) *Cache {
	t.Helper()
	rdb, err := NewClient(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	c, err := New(rdb, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newTestCache is a cache on its own client (as a replica would have) under
// prefix, or under a fresh prefix when prefix is empty.
func newTestCache(t testing.TB, prefix string, opts Options) *Cache {
	t.Helper()
	if prefix == "" {
		prefix = testPrefix(t)
	}
	opts.Prefix = prefix
	c, err := New(newTestClient(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// proxy forwards TCP connections to the test Redis and can be taken down
// (listener and every connection closed) and brought back on the same port,
// which stands in for a Redis outage without touching the shared server.
type proxy struct {
	t      testing.TB
	addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	p := &proxy{t: t, addr: "127.0.0.1:0", target: target, conns: map[net.Conn]bool{}}
	p.up()
	t.Cleanup(func() {
		p.down()
		p.wg.Wait()
	})
	return p
}

// up listens (again) on the proxy's address.
func (p *proxy) up() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy: %v", err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.serve(c)
			}()
		}
	}()
}

// down closes the listener and every open connection.
func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

func (p *proxy) serve(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = client.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // taken down while dialling
		p.mu.Unlock()
		_ = client.Close()
		_ = server.Close()
		return
	}
	p.conns[client], p.conns[server] = true, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		_ = dst.Close()
		_ = src.Close()
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done
	<-done
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}

// closedPort returns an address on which nothing listens.
func closedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// eventually polls cond until it holds or a generous deadline passes; for
// state that changes in the background, never for measuring time.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}
