package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestTwoReplicasShareRedis runs two app replicas on the real Redis: a
// patient looked up on one is served by the other, which reuses the
// timeline the first built instead of asking the sources again.
func TestTwoReplicasShareRedis(t *testing.T) {
	d, err := startDemo(time.Now(), slogDiscard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	var b [6]byte
	rand.Read(b[:])
	prefix := "overblik-test-replicas-" + hex.EncodeToString(b[:]) + ":"
	d.cfg.Cache.RedisURL, d.cfg.Cache.RedisPrefix = "redis://127.0.0.1:6379/0", prefix
	d.cfg.Refresh.Enabled = false
	t.Cleanup(func() {
		rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
		defer rdb.Close()
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
	var urls []string
	for range 2 {
		a, err := newApp(t.Context(), d.cfg, demoExtras{}, slogDiscard(), nil)
		if err != nil {
			t.Fatalf("replica (is Redis running at 127.0.0.1:6379?): %v", err)
		}
		t.Cleanup(a.Close)
		srv := httptest.NewServer(a.handler)
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	_, cpr, _ := strings.Cut(d.patients[0].Handle, "|")
	resp, err := http.Post(urls[0]+"/api/v1/patients/lookup", "application/json", strings.NewReader(`{"identifier":"`+cpr+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Handle string }
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()

	timeline := func(base string) (int, int64) {
		t.Helper()
		resp, err := http.Get(base + "/api/v1/patients/" + h.Handle + "/timeline")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tl struct {
			Version int64            `json:"version"`
			Entries []map[string]any `json:"entries"`
		}
		json.NewDecoder(resp.Body).Decode(&tl)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET timeline on %s: %d", base, resp.StatusCode)
		}
		return len(tl.Entries), tl.Version
	}
	n0, v0 := timeline(urls[0])
	before := d.sims["aarhus-uh"].Requests()
	n1, v1 := timeline(urls[1]) // a replica that never saw the handle
	if n1 == 0 || n1 != n0 || v1 != v0 {
		t.Errorf("second replica: %d entries (version %d), first: %d (version %d)", n1, v1, n0, v0)
	}
	if got := d.sims["aarhus-uh"].Requests() - before; got != 0 {
		t.Errorf("the second replica asked the hospital %d times instead of using the shared timeline", got)
	}
}
