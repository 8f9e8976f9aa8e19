package rediscache

import (
	"bytes"
	"context"
	"crypto/tls"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/cachetest"
	"github.com/overblik/overblik/aggregator/memcache"
)

// TestConformance runs the whole suite on the back end as serve builds it
// (behind the fallback) and on the bare Redis one.
func TestConformance(t *testing.T) {
	t.Run("product", func(t *testing.T) {
		cachetest.RunBackend(t, func(t *testing.T) aggregator.Backend {
			b, err := NewBackend(newTestClient(t), Options{Prefix: testPrefix(t)}, fastFallback)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(b.Close)
			return b.Backend
		})
	})
	t.Run("bare", func(t *testing.T) {
		cachetest.RunBackend(t, func(t *testing.T) aggregator.Backend { return newTestCache(t, "", Options{}).Backend() })
	})
}

// testSealKey is a seal key for tests; the second is another deployment's.
var (
	testSealKey  = []byte("0123456789abcdef0123456789abcdef")
	otherSealKey = []byte("fedcba9876543210fedcba9876543210")
)

func TestConformanceSealed(t *testing.T) {
	cachetest.RunBackend(t, func(t *testing.T) aggregator.Backend {
		return newTestCache(t, "", Options{SealKey: testSealKey}).Backend()
	})
}

func TestParseURL(t *testing.T) {
	type want struct {
		mode     string // single, sentinel, cluster
		addrs    []string
		db       int
		master   string
		tls      bool
		username string
	}
	tests := []struct {
		url  string
		want want
	}{
		{"redis://127.0.0.1:6379/0", want{mode: "single", addrs: []string{"127.0.0.1:6379"}}},
		{"redis://redis.internal/3?dial_timeout=2s", want{mode: "single", addrs: []string{"redis.internal:6379"}, db: 3}},
		{"rediss://app:secret@cache.example:6380/1", want{mode: "single", addrs: []string{"cache.example:6380"}, db: 1, tls: true, username: "app"}},
		{"redis-sentinel://s1:26379/2?master_name=mymaster&addr=s2:26379&addr=s3:26379",
			want{mode: "sentinel", addrs: []string{"s1:26379", "s2:26379", "s3:26379"}, db: 2, master: "mymaster"}},
		{"rediss-sentinel://s1:26379?master_name=m", want{mode: "sentinel", addrs: []string{"s1:26379"}, master: "m", tls: true}},
		{"redis-cluster://n1:7000?addr=n2:7001&addr=n3:7002", want{mode: "cluster", addrs: []string{"n1:7000", "n2:7001", "n3:7002"}}},
		{"rediss-cluster://app:pw@n1:7000", want{mode: "cluster", addrs: []string{"n1:7000"}, tls: true, username: "app"}},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			cfg, err := parseURL(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			var got want
			var tlsCfg *tls.Config
			switch {
			case cfg.single != nil:
				got = want{mode: "single", addrs: []string{cfg.single.Addr}, db: cfg.single.DB, username: cfg.single.Username}
				tlsCfg = cfg.single.TLSConfig
			case cfg.failover != nil:
				got = want{mode: "sentinel", addrs: cfg.failover.SentinelAddrs, db: cfg.failover.DB, master: cfg.failover.MasterName}
				tlsCfg = cfg.failover.TLSConfig
			case cfg.cluster != nil:
				got = want{mode: "cluster", addrs: cfg.cluster.Addrs, username: cfg.cluster.Username}
				tlsCfg = cfg.cluster.TLSConfig
			}
			got.tls = tlsCfg != nil
			if got.mode != tc.want.mode || strings.Join(got.addrs, ",") != strings.Join(tc.want.addrs, ",") ||
				got.db != tc.want.db || got.master != tc.want.master || got.tls != tc.want.tls || got.username != tc.want.username {
				t.Errorf("parseURL(%s) = %+v, want %+v", tc.url, got, tc.want)
			}
		})
	}
}

func TestParseURLBoundsCallsByContext(t *testing.T) {
	for _, u := range []string{"redis://h:6379/0", "redis-sentinel://s:26379?master_name=m&context_timeout_enabled=false", "redis-cluster://n:7000"} {
		t.Run(u, func(t *testing.T) {
			cfg, err := parseURL(u)
			if err != nil {
				t.Fatal(err)
			}
			var got bool
			switch {
			case cfg.single != nil:
				got = cfg.single.ContextTimeoutEnabled
			case cfg.failover != nil:
				got = cfg.failover.ContextTimeoutEnabled
			case cfg.cluster != nil:
				got = cfg.cluster.ContextTimeoutEnabled
			}
			if !got {
				t.Error("ContextTimeoutEnabled = false: a hung Redis would ignore every deadline")
			}
		})
	}
}

func TestParseURLErrorsKeepThePasswordOut(t *testing.T) {
	tests := []struct {
		url  string
		want string // in the error
	}{
		{"http://user:hunter2@host:6379", "unknown scheme"},
		{"redis://user:hunter2@host:notaport", "invalid port"},
		{"redis-sentinel://user:hunter2@s1:26379", "master_name"},
		{"redis-cluster://user:hunter2@n1:7000/3", "no database"},
		{"redis://user:hunter2@host:6379/0?no_such_option=1", "no_such_option"},
		{"redis://user:hunter2@host:6379/x", "database"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			_, err := NewClient(tc.url)
			if err == nil {
				t.Fatalf("NewClient(%s) accepted it", tc.url)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q repeats the password", err)
			}
		})
	}
}

func TestNewRejectsBadPrefix(t *testing.T) {
	if _, err := New(newTestClient(t), Options{Prefix: "a{b}:"}); err == nil {
		t.Error("New accepted a prefix with a hash tag")
	}
}

func TestPutSetsTTL(t *testing.T) {
	tests := []struct {
		name string
		ttl  time.Duration
		want time.Duration
	}{
		{"default is 30 days", 0, 30 * 24 * time.Hour},
		{"configured", time.Hour, time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := newTestCache(t, "", Options{TTL: tc.ttl})
			if err := c.Put(ctx, "p1", &aggregator.Timeline{Patient: "p1", GeneratedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
			got, err := c.rdb.PTTL(ctx, c.timelineKey("p1")).Result()
			if err != nil {
				t.Fatal(err)
			}
			// Some milliseconds pass between SET and PTTL, never the whole TTL.
			if got <= 0 || got > tc.want || got < tc.want-time.Minute {
				t.Errorf("TTL = %v, want about %v", got, tc.want)
			}
		})
	}
}

func TestKeysCarryOnlyTheHandle(t *testing.T) {
	ctx := context.Background()
	c := newTestCache(t, "", Options{})
	if err := c.Put(ctx, "abc234", &aggregator.Timeline{Patient: "abc234"}); err != nil {
		t.Fatal(err)
	}
	keys, err := c.rdb.Keys(ctx, c.prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	if want := []string{c.prefix + "{abc234}:conflicts", c.prefix + "{abc234}:stamp", c.prefix + "{abc234}:timeline"}; !slices.Equal(keys, want) {
		t.Errorf("keys = %v, want %v", keys, want)
	}
}

func TestUnreadableTimelineIsAMiss(t *testing.T) {
	tests := []struct {
		name  string
		value string
	}{
		{"newer schema", `{"v":3,"patient":"p1","generated_at":"2026-11-26T10:00:00Z"}`},
		{"newer schema with other field types", `{"v":4,"patient":{"handle":"p1"},"entries":"elsewhere"}`},
		{"no version", `{"patient":"p1"}`},
		{"not JSON", "\x00\x01gob?"},
		{"empty", ""},
		{"a newer format", "\x04whatever a later release writes"},
		{"compressed but damaged", "\x02(\xb5/\xfd not zstd"},
		{"packed and compressed with S2, but damaged", "\x05\x40 not S2"},
		// An S2 block says its decoded length first (a varint): this one says
		// 1 GiB, which is not allocated.
		{"S2 that says it decodes to more than a timeline can be", "\x05\x80\x80\x80\x80\x04"},
		{"compressed JSON of a newer schema", string(compressed(t, `{"v":3,"patient":"p1"}`))},
		{"sealed, and this cache has no key", string(sealedValue(t, testSealKey, "whatever"))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := newTestCache(t, "", Options{})
			if err := c.rdb.Set(ctx, c.timelineKey("p1"), tc.value, time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
			got, ok, err := c.Get(ctx, "p1")
			if err != nil || ok || got != nil {
				t.Errorf("Get = %v, %v, %v; want a miss without error", got, ok, err)
			}
			// And the rebuilt timeline replaces it.
			if err := c.Put(ctx, "p1", &aggregator.Timeline{Patient: "p1"}); err != nil {
				t.Fatal(err)
			}
			if _, ok, err := c.Get(ctx, "p1"); !ok || err != nil {
				t.Errorf("Get after Put = %v, %v", ok, err)
			}
		})
	}
}

func TestEncodingIsVersioned(t *testing.T) {
	c, err := newCodec(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := c.encodeTimeline(&aggregator.Timeline{Patient: "p1"}, "k")
	if len(b) == 0 || b[0] != formatS2 {
		t.Fatalf("stored value %q does not start with its format byte %#x", b, formatS2)
	}
	p, err := s2.Decode(nil, b[1:])
	if err != nil {
		t.Fatal(err)
	}
	if len(p) == 0 || p[0] != packedVersion {
		t.Errorf("packed form %x does not start with its version %d", p, packedVersion)
	}
}

func TestNearCache(t *testing.T) {
	ctx := context.Background()
	gen := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		near     int
		wantSame bool // an unchanged timeline read twice is the same decoded one
		seal     []byte
	}{
		{"on by default", 0, true, nil},
		{"off", -1, false, nil},
		{"on, sealed", 0, true, testSealKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prefix := testPrefix(t)
			reader := newTestCache(t, prefix, Options{NearCache: tc.near, SealKey: tc.seal})
			writer := newTestCache(t, prefix, Options{SealKey: tc.seal}) // another replica
			if err := writer.Put(ctx, "p1", &aggregator.Timeline{Patient: "p1", GeneratedAt: gen, Version: 1}); err != nil {
				t.Fatal(err)
			}
			first, ok, err := reader.Get(ctx, "p1")
			if err != nil || !ok {
				t.Fatalf("Get = %v, %v", ok, err)
			}
			second, _, _ := reader.Get(ctx, "p1")
			if (first == second) != tc.wantSame {
				t.Errorf("the second read of an unchanged timeline was the first's decoded copy: %v, want %v", first == second, tc.wantSame)
			}
			// Another replica's Put is seen at the next read, as is a write
			// without a stamp (an older release's, in its JSON when not sealed).
			if err := writer.Put(ctx, "p1", &aggregator.Timeline{Patient: "p1", GeneratedAt: gen, Version: 2}); err != nil {
				t.Fatal(err)
			}
			if got, _, _ := reader.Get(ctx, "p1"); got == nil || got.Version != 2 {
				t.Errorf("after another replica's Put, Get = %+v, want version 2", got)
			}
			v3 := &aggregator.Timeline{Patient: "p1", GeneratedAt: gen, Version: 3}
			b, err := encode(v3)
			if tc.seal != nil {
				b = writer.codec.encodeTimeline(v3, writer.timelineKey("p1"))
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := writer.rdb.Del(ctx, writer.stampKey("p1")).Err(); err != nil {
				t.Fatal(err)
			}
			if err := writer.rdb.Set(ctx, writer.timelineKey("p1"), b, time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
			if got, _, _ := reader.Get(ctx, "p1"); got == nil || got.Version != 3 {
				t.Errorf("after a write without a stamp, Get = %+v, want version 3", got)
			}
		})
	}
}

// TestPatientDirectory shares a handle between two replicas' directories
// through the real Redis, and stores only the sealed identifier.
func TestPatientDirectory(t *testing.T) {
	c := newTestCache(t, "", Options{})
	ctx := context.Background()
	secret := []byte("0123456789abcdef0123456789abcdef")
	a, _ := aggregator.NewPatients(secret, c)
	b, _ := aggregator.NewPatients(secret, c)
	id := aggregator.Identifier{System: "urn:oid:1.2.208.176.1.2", Value: "3002991234"}
	p, err := a.Register(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	raw, ok, err := c.LoadPatient(ctx, p.Handle)
	if err != nil || !ok || bytes.Contains(raw, []byte(id.Value)) {
		t.Fatalf("stored %q, %v, %v: want a sealed identifier", raw, ok, err)
	}
	got, ok, err := b.Resolve(ctx, p.Handle)
	if err != nil || !ok || got.Identifier != id {
		t.Errorf("the other replica resolves %+v, %v, %v", got, ok, err)
	}
}

// PutWithChanges stores the build and its changes in Put's transaction:
// after the index, one round trip, not Put's and AddChanges' two; through
// the fallback too, which keeps both locally as well.
func TestPutWithChangesIsOneTransaction(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	cs := []aggregator.Change{{Version: 2, Noticed: at, EntryID: "h/Appointment/a", Kind: aggregator.ChangeAdded, Title: "Kontrol"}}
	for _, name := range []string{"cache", "fallback"} {
		t.Run(name, func(t *testing.T) {
			c := newTestCache(t, "", Options{})
			var store aggregator.ChangesPutter = c
			var log aggregator.ChangeLog = c
			var local *memcache.Cache
			if name == "fallback" {
				local = memcache.New(0)
				f := NewFallback(c, local, fastFallback)
				t.Cleanup(f.Close)
				store, log = f, f
			}
			var cmds commandCounter
			c.rdb.AddHook(&cmds)
			if err := store.PutWithChanges(ctx, "p1", &aggregator.Timeline{Patient: "p1", GeneratedAt: at, Version: 2}, cs, time.Time{}); err != nil {
				t.Fatal(err)
			}
			if n := cmds.n.Load(); n != 2 {
				t.Errorf("PutWithChanges sent %d commands or pipelines, want 2 (the index script, the transaction)", n)
			}
			got, err := log.Changes(ctx, "p1", time.Time{})
			if err != nil || len(got) != 1 || got[0].EntryID != "h/Appointment/a" {
				t.Errorf("Changes = %+v, %v; want the one change", got, err)
			}
			if got, ok, err := c.Get(ctx, "p1"); err != nil || !ok || got.Version != 2 {
				t.Errorf("Get = %v, %v, %v; want version 2", got, ok, err)
			}
			if local != nil {
				if got, err := local.Changes(ctx, "p1", time.Time{}); err != nil || len(got) != 1 {
					t.Errorf("the fallback's own changes = %+v, %v; want the one change", got, err)
				}
			}
		})
	}
}
