package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"
)

// The attacks of the security review, replayed against the demo as
// `overblik demo` wires it (its OpenID provider, real logins) with its
// sessions and timelines in the real Redis.

type attackEnv struct {
	base, issuer string
	login        *demoLogin
	demo         *demo
	app          *app
	rdb          *redis.Client
	prefix       string
}

func newAttackEnv(t *testing.T) *attackEnv {
	t.Helper()
	d, err := startDemo(time.Now(), slogDiscard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	var b [6]byte
	rand.Read(b[:])
	prefix := "overblik-test-attacks-" + hex.EncodeToString(b[:]) + ":"
	d.cfg.Cache.RedisURL, d.cfg.Cache.RedisPrefix = "redis://127.0.0.1:6379/0", prefix
	d.cfg.Refresh.Enabled = false
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() {
		defer rdb.Close()
		keys, _ := rdb.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	})
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("these tests need the real Redis at 127.0.0.1:6379: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := demoBaseURL(ln.Addr())
	idp, login, err := startDemoLogin(base, d.patients, slogDiscard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Close() })
	d.cfg.APIKeys = append(d.cfg.APIKeys, demoAPIKey)
	a, err := newApp(d.cfg, demoExtras{patients: d.patients, login: login}, slogDiscard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	hs := &httptest.Server{Listener: ln, Config: &http.Server{Handler: a.handler}}
	hs.Start()
	t.Cleanup(hs.Close)
	return &attackEnv{base: base, issuer: idp.Issuer, login: login, demo: d, app: a, rdb: rdb, prefix: prefix}
}

func browserClient(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

// readBody(t)(c.Get(u)) reads a response whole.
func readBody(t *testing.T) func(*http.Response, error) (*http.Response, string) {
	return func(resp *http.Response, err error) (*http.Response, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
}

var authRequestField = regexp.MustCompile(`name="authRequestID" value="([^"]+)"`)

// signIn opens target on overblik, picks user on the demo provider's
// login page and follows the redirects back.
func (e *attackEnv) signIn(t *testing.T, c *http.Client, user, target string) (*http.Response, string) {
	t.Helper()
	_, page := readBody(t)(c.Get(e.base + target))
	m := authRequestField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no demo login page on the way to %s: %.300s", target, page)
	}
	return readBody(t)(c.PostForm(e.issuer+"/login", url.Values{"authRequestID": {m[1]}, "user": {user}}))
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// lookUp is the clinician's look-up form on the front page.
func (e *attackEnv) lookUp(t *testing.T, c *http.Client, cpr string) int {
	t.Helper()
	_, home := readBody(t)(c.Get(e.base + "/"))
	m := csrfField.FindStringSubmatch(home)
	if m == nil {
		t.Fatalf("no form on the clinician's front page: %.300s", home)
	}
	resp, _ := readBody(t)(c.PostForm(e.base+"/lookup", url.Values{"csrf": {m[1]}, "identifier": {cpr}, "reason": {"henvisning"}}))
	return resp.StatusCode
}

// TestDemoLoginRedirectStaysHere: ?next=/%09/evil.example/phish ends on
// overblik's front page, not at evil.example.
func TestDemoLoginRedirectStaysHere(t *testing.T) {
	e := newAttackEnv(t)
	c := browserClient(t)
	var location string
	c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if req.Response != nil && req.Response.Request.URL.Path == "/auth/callback" {
			location = req.Response.Header.Get("Location")
		}
		return nil
	}
	resp, _ := e.signIn(t, c, "patient-1", "/auth/login?next=/%09/evil.example/phish")
	if location != "/" || resp.Request.URL.String() != e.base+"/" {
		t.Errorf("after the login: Location %q, at %s; want / on %s", location, resp.Request.URL, e.base)
	}
}

// TestDemoTokens: the demo's provider issues access tokens for overblik's
// API, which work as bearers; the ID token of the same login gets 401; the
// logout page carries no token.
func TestDemoTokens(t *testing.T) {
	e := newAttackEnv(t)
	conf := oauth2.Config{ClientID: e.login.clientID, ClientSecret: e.login.clientSecret, RedirectURL: e.base + "/auth/callback",
		Scopes:   []string{"openid", "profile"},
		Endpoint: oauth2.Endpoint{AuthURL: e.issuer + "/authorize", TokenURL: e.issuer + "/oauth/token"}}
	verifier := oauth2.GenerateVerifier()
	app := browserClient(t)
	app.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), e.base) {
			return http.ErrUseLastResponse // the code is the app's
		}
		return nil
	}
	_, page := readBody(t)(app.Get(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "n-42"))))
	m := authRequestField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no login page: %.300s", page)
	}
	resp, _ := readBody(t)(app.PostForm(e.issuer+"/login", url.Values{"authRequestID": {m[1]}, "user": {"clinician"}}))
	loc, _ := url.Parse(resp.Header.Get("Location"))
	tok, err := conf.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	idToken, _ := tok.Extra("id_token").(string)
	lookup := func(bearer string) int {
		req, _ := http.NewRequest(http.MethodPost, e.base+"/api/v1/patients/lookup",
			strings.NewReader(`{"identifier":"`+demoCPRs(t)[1]+`","reason":"henvisning"}`))
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := lookup(tok.AccessToken); got != http.StatusOK {
		t.Errorf("look-up with the demo's access token: %d, want 200", got)
	}
	if got := lookup(idToken); got != http.StatusUnauthorized {
		t.Errorf("look-up with the ID token as a bearer: %d, want 401", got)
	}

	c := browserClient(t)
	_, home := e.signIn(t, c, "patient-1", "/auth/login?next=/")
	m = csrfField.FindStringSubmatch(home)
	if m == nil {
		t.Fatalf("no logout form: %.300s", home)
	}
	_, logout := readBody(t)(c.PostForm(e.base+"/auth/logout", url.Values{"csrf": {m[1]}}))
	if !strings.Contains(logout, e.issuer) || strings.Contains(logout, "eyJ") || strings.Contains(logout, "id_token_hint") {
		t.Errorf("logout page: %s", logout)
	}
}

// TestDemoLoginFloodAndRedis: 100 anonymous logins from the clinician's
// address do not stop the signed-in clinician's look-up; and after logins
// and look-ups no CPR number is in any Redis key or value of the demo.
func TestDemoLoginFloodAndRedis(t *testing.T) {
	e := newAttackEnv(t)
	patient := browserClient(t)
	if resp, body := e.signIn(t, patient, "patient-1", "/auth/login?next=/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("patient's login: %d %.300s", resp.StatusCode, body)
	}
	// newApp swapped the demo patients' identifiers for their handles.
	if resp, _ := readBody(t)(patient.Get(e.base + "/p/" + e.demo.patients[0].Handle)); resp.StatusCode != http.StatusOK {
		t.Fatalf("patient's own timeline: %d", resp.StatusCode)
	}
	clinician := browserClient(t)
	e.signIn(t, clinician, "clinician", "/auth/login?next=/")

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	refused := 0
	for range 100 {
		resp, _ := readBody(t)(noFollow.Get(e.base + "/auth/login?next=/"))
		if resp.StatusCode == http.StatusTooManyRequests {
			refused++
		}
	}
	if refused == 0 {
		t.Errorf("100 anonymous logins a minute from one address were all let through")
	}
	if got := e.lookUp(t, clinician, demoCPRs(t)[1]); got != http.StatusOK {
		t.Errorf("the clinician's look-up after 100 anonymous logins: %d, want 200", got)
	}

	n := 0
	iter := e.rdb.Scan(context.Background(), 0, e.prefix+"*", 100).Iterator()
	for iter.Next(context.Background()) {
		n++
		k := iter.Val()
		v := redisValue(t, e.rdb, k)
		for _, cpr := range demoCPRs(t) {
			if strings.Contains(k, cpr) || strings.Contains(v, cpr) {
				t.Errorf("Redis key %s holds the CPR number %s", k, cpr)
			}
		}
	}
	if err := iter.Err(); err != nil || n == 0 {
		t.Fatalf("scan %s*: %d keys, %v", e.prefix, n, err)
	}
}

// redisValue is everything key holds, as text.
func redisValue(t *testing.T, rdb *redis.Client, key string) string {
	t.Helper()
	ctx := context.Background()
	typ, err := rdb.Type(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	var v any
	switch typ {
	case "string":
		v, err = rdb.Get(ctx, key).Result()
	case "hash":
		v, err = rdb.HGetAll(ctx, key).Result()
	case "set":
		v, err = rdb.SMembers(ctx, key).Result()
	case "zset":
		v, err = rdb.ZRangeWithScores(ctx, key, 0, -1).Result()
	case "list":
		v, err = rdb.LRange(ctx, key, 0, -1).Result()
	case "stream":
		v, err = rdb.XRange(ctx, key, "-", "+").Result()
	case "none": // expired meanwhile
	default:
		t.Fatalf("Redis key %s of type %s", key, typ)
	}
	if err != nil && err != redis.Nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return fmt.Sprint(v)
}

// TestServeMetricsListener: serve gives /metrics on a listener of its own;
// on the web server only an admin gets it.
func TestServeMetricsListener(t *testing.T) {
	sum := func(k string) string { s := sha256.Sum256([]byte(k)); return hex.EncodeToString(s[:]) }
	dir := t.TempDir()
	cfg := "listen: 127.0.0.1:0\nmetrics_listen: 127.0.0.1:0\ndatabase_path: " + filepath.Join(dir, "access.db") + "\n" +
		"api_keys:\n  - {name: journal, key_sha256: " + sum("clinician-test-key") + ", role: clinician}\n" +
		"  - {name: ops, key_sha256: " + sum("admin-test-key") + ", role: admin}\n" + minimalConfig
	path := filepath.Join(dir, "overblik.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stdoutR, stdoutW := io.Pipe()
	stderr := &syncBuffer{}
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "--config", path}, stdoutW, stderr, envFunc(nil))
		stdoutW.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop")
		}
	})
	line, err := bufio.NewReader(stdoutR).ReadString('\n')
	if err != nil {
		t.Fatalf("no start-up line: %v; stderr: %s", err, stderr.String())
	}
	go io.Copy(io.Discard, stdoutR)
	base := strings.TrimSpace(line[strings.Index(line, "http://"):])
	m := regexp.MustCompile(`url=(http://\S+/metrics)`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("serve did not log its metrics listener: %s", stderr.String())
	}
	get := func(u, key string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(m[1], ""); code != http.StatusOK || !strings.Contains(body, "overblik_") {
		t.Errorf("metrics listener: %d %.200s", code, body)
	}
	for _, tc := range []struct {
		key  string
		want int
	}{{"", http.StatusSeeOther}, {"clinician-test-key", http.StatusNotFound}, {"admin-test-key", http.StatusOK}} {
		if code, _ := get(base+"/metrics", tc.key); code != tc.want {
			t.Errorf("web server's /metrics with key %q: %d, want %d", tc.key, code, tc.want)
		}
	}
}
