package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/aggregator"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// stores are both session stores; the Redis one on the real Redis
// (127.0.0.1:6379, or OVERBLIK_TEST_REDIS_URL) under a prefix of the test's own.
func stores(t *testing.T, now func() time.Time) map[string]Store {
	t.Helper()
	u := os.Getenv("OVERBLIK_TEST_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("these tests need the real Redis at %s: %v", u, err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	prefix := "overblik-test:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		keys, _ := rdb.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	})
	return map[string]Store{"memory": NewMemoryStore(now), "redis": NewRedisStore(rdb, prefix)}
}

func TestStores(t *testing.T) {
	c := &clock{t: time.Now()}
	for name, s := range stores(t, c.now) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if _, ok, err := s.Get(ctx, "k"); ok || err != nil {
				t.Fatalf("Get of a missing key = %v, %v", ok, err)
			}
			if err := s.Set(ctx, "k", []byte("v1"), time.Hour); err != nil {
				t.Fatal(err)
			}
			if err := s.Set(ctx, "k", []byte("v2"), time.Hour); err != nil {
				t.Fatal(err)
			}
			got, ok, err := s.Get(ctx, "k")
			if err != nil || !ok || string(got) != "v2" {
				t.Fatalf("Get = %q, %v, %v; want v2", got, ok, err)
			}
			if err := s.Delete(ctx, "k"); err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := s.Get(ctx, "k"); ok {
				t.Fatal("Get after Delete found the key")
			}
			if err := s.Delete(ctx, "k"); err != nil {
				t.Fatalf("Delete of a missing key: %v", err)
			}
		})
	}
}

func TestMemoryStoreExpires(t *testing.T) {
	c := &clock{t: time.Now()}
	s := NewMemoryStore(c.now)
	ctx := context.Background()
	if err := s.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	c.add(time.Minute)
	if _, ok, _ := s.Get(ctx, "k"); ok {
		t.Fatal("value outlived its ttl")
	}
}

func TestSessionTimeouts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []time.Duration // pauses between requests
		want  []bool          // whether each request still has the session
	}{
		{"used within the idle timeout", []time.Duration{14 * time.Minute, 14 * time.Minute, 14 * time.Minute}, []bool{true, true, true}},
		{"idle too long", []time.Duration{5 * time.Minute, 15 * time.Minute, 0}, []bool{true, false, false}},
		{"absolute timeout although busy", []time.Duration{14 * time.Minute, 14 * time.Minute, 14 * time.Minute, 14 * time.Minute, 14 * time.Minute}, []bool{true, true, true, true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
			for name, st := range stores(t, c.now) {
				t.Run(name, func(t *testing.T) {
					a, err := New(context.Background(), Config{
						APIKeys:  []APIKey{{Name: "k", SHA256: sha256.Sum256([]byte("k")), Role: access.RoleAdmin}},
						Patients: &aggregator.Patients{}, Sessions: st, Now: c.now,
						IdleTimeout: 15 * time.Minute, AbsoluteTimeout: time.Hour,
					})
					if err != nil {
						t.Fatal(err)
					}
					p := access.Principal{Subject: "sub", Roles: []access.Role{access.RolePatient}, Handle: "h"}
					id, err := a.newSession(context.Background(), p, aggregator.Identifier{})
					if err != nil {
						t.Fatal(err)
					}
					start := c.now()
					defer func() { c.mu.Lock(); c.t = start; c.mu.Unlock() }()
					for i, d := range tc.steps {
						c.add(d)
						req := httptest.NewRequest(http.MethodGet, "/", nil)
						req.AddCookie(&http.Cookie{Name: sessionCookie, Value: id})
						got, ok, err := a.Identify(context.Background(), req)
						if err != nil {
							t.Fatal(err)
						}
						if ok != tc.want[i] {
							t.Fatalf("request %d after %v: session = %v, want %v", i, d, ok, tc.want[i])
						}
						if ok && (got.Principal.Subject != "sub" || got.CSRF == "" || !got.Session) {
							t.Errorf("identity = %+v", got)
						}
					}
				})
			}
		})
	}
}

func TestCookiesAreSecureBehindTLS(t *testing.T) {
	for _, secure := range []bool{false, true} {
		a, err := New(context.Background(), Config{
			APIKeys:  []APIKey{{Name: "k", SHA256: sha256.Sum256([]byte("k")), Role: access.RoleAdmin}},
			Patients: &aggregator.Patients{}, Secure: secure,
		})
		if err != nil {
			t.Fatal(err)
		}
		c := a.cookie(sessionCookie, "v", 0)
		if c.Secure != secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
			t.Errorf("Secure=%v: cookie %+v", secure, c)
		}
	}
}

// TestSessionOutlivesTheProcess: a session kept in Redis is used by a new
// process whose handle map is empty; the person's own handle must resolve.
func TestSessionOutlivesTheProcess(t *testing.T) {
	st := stores(t, nil)["redis"]
	secret := []byte("0123456789abcdef0123456789abcdef")
	id := aggregator.Identifier{System: "urn:oid:1.2.208.176.1.2", Value: "3002410148"}
	newAuth := func() (*Auth, *aggregator.Patients) {
		pats, err := aggregator.NewPatients(secret)
		if err != nil {
			t.Fatal(err)
		}
		a, err := New(context.Background(), Config{
			APIKeys:  []APIKey{{Name: "k", SHA256: sha256.Sum256([]byte("k")), Role: access.RoleAdmin}},
			Patients: pats, Sessions: st, SealKey: secret, // replicas share the key
		})
		if err != nil {
			t.Fatal(err)
		}
		return a, pats
	}
	first, pats := newAuth()
	handle := pats.Handle(id)
	sid, err := first.newSession(context.Background(), access.Principal{Subject: "s", Roles: []access.Role{access.RolePatient}, Handle: handle}, id)
	if err != nil {
		t.Fatal(err)
	}
	second, fresh := newAuth()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: sid})
	got, ok, err := second.Identify(context.Background(), req)
	if err != nil || !ok || got.Principal.Handle != handle {
		t.Fatalf("Identify = %+v, %v, %v", got.Principal.LogValue(), ok, err)
	}
	if _, ok, _ := fresh.Resolve(context.Background(), handle); !ok {
		t.Error("the person's handle does not resolve in the new process")
	}
}

// TestSessionSealsThePerson: what the store holds of a session names
// neither the person's identifier nor their name, and opens in that
// session only; the session still gives both back.
func TestSessionSealsThePerson(t *testing.T) {
	st := NewMemoryStore(nil)
	pats, err := aggregator.NewPatients([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(context.Background(), Config{
		APIKeys:  []APIKey{{Name: "k", SHA256: sha256.Sum256([]byte("k")), Role: access.RoleAdmin}},
		Patients: pats, Sessions: st,
	})
	if err != nil {
		t.Fatal(err)
	}
	id := aggregator.Identifier{System: "urn:oid:1.2.208.176.1.2", Value: "3002410148"}
	p := access.Principal{Subject: "s", Roles: []access.Role{access.RolePatient}, Handle: pats.Handle(id), Name: "Birthe Østergaard Madsen"}
	sid, err := a.newSession(context.Background(), p, id)
	if err != nil {
		t.Fatal(err)
	}
	other, err := a.newSession(context.Background(), p, id)
	if err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	for k, v := range st.vals {
		for _, secret := range []string{id.Value, "Birthe", sid} {
			if strings.Contains(k, secret) || strings.Contains(string(v.val), secret) {
				t.Errorf("store key %s holds %q: %s", k, secret, v.val)
			}
		}
	}
	// Another session's sealed person does not open in this one.
	a1, a2 := storeKey("session", sid), storeKey("session", other)
	st.vals[a1], st.vals[a2] = st.vals[a2], st.vals[a1]
	st.mu.Unlock()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: sid})
	if _, ok, err := a.Identify(context.Background(), req); err != nil || ok {
		t.Errorf("a session with another's sealed person: ok %v, err %v; want ended", ok, err)
	}
	third, err := a.newSession(context.Background(), p, id)
	if err != nil {
		t.Fatal(err)
	}
	req = httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: third})
	got, ok, err := a.Identify(context.Background(), req)
	if err != nil || !ok || got.Principal.Name != p.Name || got.Principal.Handle != p.Handle {
		t.Fatalf("Identify = %+v, %v, %v", got.Principal.LogValue(), ok, err)
	}
}
