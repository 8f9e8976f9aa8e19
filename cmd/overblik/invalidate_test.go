package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/overblik/overblik/access/storetest"
	"github.com/overblik/overblik/config"
	"github.com/overblik/overblik/web"
)

// TestABlockOnOneReplicaIsObeyedByTheOther runs two replicas of the demo on
// one Redis and one PostgreSQL, each caching decisions. A clinician reads a
// patient's timeline on replica two; the patient blocks clinicians on
// replica one; the clinician's next request on replica two is refused.
func TestABlockOnOneReplicaIsObeyedByTheOther(t *testing.T) {
	d, err := startDemo(time.Now(), slogDiscard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	var b [6]byte
	rand.Read(b[:])
	prefix := "overblik-test-invalidate-" + hex.EncodeToString(b[:]) + ":"
	d.cfg.Cache.RedisURL, d.cfg.Cache.RedisPrefix = "redis://127.0.0.1:6379/0", prefix
	d.cfg.DatabaseURL = storetest.PostgresURL(t, "invalidate_test_")
	d.cfg.Refresh.Enabled = false
	d.cfg.APIKeys = []config.APIKeyConfig{demoAPIKey}
	t.Cleanup(func() {
		rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
		defer rdb.Close()
		ctx := context.Background()
		if keys, _ := rdb.Keys(ctx, prefix+"*").Result(); len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
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
	var urls []string
	var birthe string
	for i := range 2 {
		// newApp swaps the demo's identifiers for handles in place: each
		// replica gets a copy.
		pats := append([]web.DemoPatient(nil), d.patients...)
		a, err := newApp(t.Context(), d.cfg, demoExtras{patients: pats, login: login}, slogDiscard(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Close)
		hs := httptest.NewUnstartedServer(a.handler)
		if i == 0 {
			hs.Listener.Close()
			hs.Listener = ln // the provider sends the patient back here
		}
		hs.Start()
		t.Cleanup(hs.Close)
		urls = append(urls, hs.URL)
		birthe = patientHandle(t, a, pats[0].Handle)
	}
	read := func() int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, urls[1]+"/api/v1/patients/"+birthe+"/timeline", nil)
		req.Header.Set("Authorization", "Bearer demo-clinician-key")
		req.Header.Set("Overblik-Reason", "ward round")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := read(); got != http.StatusOK {
		t.Fatalf("the clinician on replica two before the block: %d", got)
	}
	// Birthe logs in on replica one and blocks clinicians there.
	site := &demoSite{base: base, idp: idp.Issuer}
	patient := site.login(t, "patient-1")
	account := site.read(t, patient, base+"/account")
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(account)
	if csrf == nil {
		t.Fatal("no form on the account page")
	}
	resp, err := patient.PostForm(base+"/account/block", url.Values{"csrf": {csrf[1]}, "blocked": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Request.URL.Path, "/account") {
		t.Fatalf("block: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	if got := read(); got != http.StatusNotFound {
		t.Errorf("the clinician's next request on replica two after the block on replica one: %d, want 404", got)
	}
}
