package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/overblik/overblik/web"
	"github.com/overblik/overblik/web/auth"
)

// timelineAs reads B's timeline with authz as the Authorization header.
func timelineAs(t *testing.T, e *flowEnv, authz string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.base+"/api/v1/patients/"+e.handle[cprB]+"/timeline", nil)
	req.Header.Set("Authorization", authz)
	req.Header.Set(web.ReasonHeader, "referral")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestIDTokenIsNotABearer: an app holds an ID token next to its access
// token, and the ID token names the person; it is refused as a bearer,
// whether it carries a nonce or only at_hash, while the access token of
// the same login works.
func TestIDTokenIsNotABearer(t *testing.T) {
	e := newFlowEnv(t)
	for name, opts := range map[string][]oauth2.AuthCodeOption{
		"without nonce": nil,
		"with nonce":    {oidc.Nonce("n-0S6_WzA2Mj")},
	} {
		t.Run(name, func(t *testing.T) {
			tok := appTokens(t, e, "clara", opts...)
			idToken, _ := tok.Extra("id_token").(string)
			if idToken == "" {
				t.Fatal("the provider gave no ID token")
			}
			if got := lookup(t, e, "Bearer "+tok.AccessToken, cprB, "referral"); got != http.StatusOK {
				t.Fatalf("look-up with the access token: %d", got)
			}
			if got := timelineAs(t, e, "Bearer "+idToken); got != http.StatusUnauthorized {
				t.Errorf("timeline with the ID token as a bearer: %d, want 401", got)
			}
			if got := lookup(t, e, "Bearer "+idToken, cprB, "referral"); got != http.StatusUnauthorized {
				t.Errorf("look-up with the ID token as a bearer: %d, want 401", got)
			}
		})
	}
}

// TestBearerJWTsNeedAnAudience: without a configured audience for access
// tokens, no JWT is a bearer credential.
func TestBearerJWTsNeedAnAudience(t *testing.T) {
	e := newFlowEnv(t, flowOpts{noAudience: true})
	tok := appTokens(t, e, "clara")
	if got := lookup(t, e, "Bearer "+tok.AccessToken, cprB, "referral"); got != http.StatusUnauthorized {
		t.Errorf("access token without a configured audience: %d, want 401", got)
	}
	if got := lookup(t, e, "Bearer "+apiKey, cprB, "referral"); got != http.StatusOK {
		t.Errorf("API key: %d, want 200", got)
	}
}

// TestRequireATJWT: with a provider said to type its access tokens, the
// demo provider's untyped ("JWT") ones are refused.
func TestRequireATJWT(t *testing.T) {
	e := newFlowEnv(t, flowOpts{requireAT: true})
	tok := appTokens(t, e, "clara")
	if got := lookup(t, e, "Bearer "+tok.AccessToken, cprB, "referral"); got != http.StatusUnauthorized {
		t.Errorf("access token typed JWT where at+jwt is required: %d, want 401", got)
	}
}

// countingTransport counts the requests for each URL path.
type countingTransport struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n[r.URL.Path]++
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (c *countingTransport) count(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[path]
}

type testClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// TestForgedTokensDoNotFetchKeys: tokens with the right issuer and
// audience, signed by someone else, used to make every request fetch the
// provider's keys. Now a key ID the cached keys lack costs one fetch a
// minute at most, and a known key ID with a bad signature none.
func TestForgedTokensDoNotFetchKeys(t *testing.T) {
	ct := &countingTransport{n: map[string]int{}}
	clk := &testClock{}
	e := newFlowEnv(t, flowOpts{client: &http.Client{Transport: ct, Timeout: 10 * time.Second}, now: clk.now})
	var disc struct {
		JWKS string `json:"jwks_uri"`
	}
	getJSON(t, e.idp.Issuer+"/.well-known/openid-configuration", &disc)
	var set jose.JSONWebKeySet
	getJSON(t, disc.JWKS, &set)
	if len(set.Keys) == 0 || set.Keys[0].KeyID == "" {
		t.Fatalf("provider's keys: %+v", set)
	}
	jwksPath := mustPath(t, disc.JWKS)
	if got := ct.count(jwksPath); got != 1 {
		t.Fatalf("keys fetched %d times at start, want 1", got)
	}

	forger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	forge := func(kid string) string {
		t.Helper()
		sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: forger},
			(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := jwt.Signed(sig).Claims(map[string]any{
			"iss": e.idp.Issuer, "aud": []string{clientID, apiAudience}, "sub": "clara",
			"exp": clk.now().Add(time.Hour).Unix(), "iat": clk.now().Unix(), "roles": []string{"clinician"},
		}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	identify := func(raw string) error {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/patients", nil)
		req.Header.Set("Authorization", "Bearer "+raw)
		_, _, err := e.auth.Identify(context.Background(), req)
		return err
	}
	randomKID := func() string { var b [8]byte; rand.Read(b[:]); return hex.EncodeToString(b[:]) }

	for i := range 50 {
		if err := identify(forge(randomKID())); err == nil {
			t.Fatalf("forged token %d accepted", i)
		}
	}
	if got := ct.count(jwksPath); got != 1 {
		t.Errorf("50 forged tokens within a minute of the last fetch: keys fetched %d times in all, want 1", got)
	}
	clk.add(61 * time.Second)
	for range 50 {
		if err := identify(forge(randomKID())); err == nil {
			t.Fatal("forged token accepted")
		}
	}
	if got := ct.count(jwksPath); got != 2 {
		t.Errorf("50 forged tokens with unknown key IDs a minute later: keys fetched %d times in all, want 2", got)
	}
	clk.add(61 * time.Second)
	for range 10 {
		if err := identify(forge(set.Keys[0].KeyID)); err == nil {
			t.Fatal("forged token with the provider's key ID accepted")
		}
	}
	if got := ct.count(jwksPath); got != 2 {
		t.Errorf("forged tokens with a known key ID fetched the keys: %d fetches in all, want 2", got)
	}
	// The provider's own tokens still verify with the cached keys.
	tok := appTokens(t, e, "clara")
	if err := identify(tok.AccessToken); err != nil {
		t.Errorf("the provider's access token: %v", err)
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

func mustPath(t *testing.T, u string) string {
	t.Helper()
	i := strings.Index(u, "//")
	j := strings.Index(u[i+2:], "/")
	if i < 0 || j < 0 {
		t.Fatalf("no path in %q", u)
	}
	return u[i+2+j:]
}

// TestNoPersonalDataInTheSessionStore: after logins and a look-up, no CPR
// number and no name is in any key or value the session store (the real
// Redis) holds, yet the session still knows the person.
func TestNoPersonalDataInTheSessionStore(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("this test needs the real Redis at 127.0.0.1:6379: %v", err)
	}
	var b [8]byte
	rand.Read(b[:])
	prefix := "overblik-test-sessions-" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		keys, _ := rdb.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	})
	e := newFlowEnv(t, flowOpts{sessions: auth.NewRedisStore(rdb, prefix)})

	anna := newBrowser(t)
	resp, body := e.login(t, anna, "anna", "/p/"+e.handle[cprA])
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Birthe Østergaard Madsen") {
		t.Fatalf("after login: %d, the page does not name the person: %.300s", resp.StatusCode, body)
	}
	clara := newBrowser(t)
	e.login(t, clara, "clara", "/auth/login?next=/")
	req, _ := http.NewRequest(http.MethodPost, e.base+"/api/v1/patients/lookup", strings.NewReader(`{"identifier":"`+cprB+`","reason":"referral"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := clara.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("clinician's look-up: %d", resp.StatusCode)
	}

	keys, err := rdb.Keys(context.Background(), prefix+"*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("no sessions in Redis under %s: %v", prefix, err)
	}
	for _, k := range keys {
		v, err := rdb.Get(context.Background(), k).Result()
		if err != nil {
			t.Fatalf("GET %s: %v", k, err)
		}
		for _, secret := range []string{cprA, cprB, cprR, "Birthe", "Østergaard", "Clara Klinik", "eyJhbGciOi"} {
			if strings.Contains(k, secret) || strings.Contains(v, secret) {
				t.Errorf("Redis %s holds %q: %s", k, secret, v)
			}
		}
	}
}
