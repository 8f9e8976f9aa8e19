package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/overblik/overblik/internal/redistest"
)

// The product on a Redis Sentinel set and on a Redis Cluster, as serve runs
// it: one client for the timelines, the sessions and the access change
// feed, login through the demo provider, a patient reading her timeline.

// startOnRedis wires the demo on the Redis at url and signs the first
// patient in; it returns the site, her browser and her timeline's address.
func startOnRedis(t *testing.T, url string) (*demoSite, *http.Client, string) {
	t.Helper()
	d, err := startDemo(time.Now(), slogDiscard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	d.cfg.Cache.RedisURL, d.cfg.Cache.RedisPrefix = url, "overblik-topology:"
	d.cfg.Refresh.Enabled = false
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
	a, err := newApp(t.Context(), d.cfg, demoExtras{patients: d.patients, login: login}, slogDiscard(), nil)
	if err != nil {
		t.Fatalf("the demo on %s: %v", url, err)
	}
	t.Cleanup(a.Close)
	hs := &httptest.Server{Listener: ln, Config: &http.Server{Handler: a.handler}}
	hs.Start()
	t.Cleanup(hs.Close)
	s := &demoSite{d: d, a: a, base: base, idp: idp.Issuer}
	patient := s.login(t, "patient-1")
	return s, patient, base + "/api/v1/patients/" + patientHandle(t, a, d.patients[0].Handle) + "/timeline"
}

func TestServeOnARedisCluster(t *testing.T) {
	c := redistest.NewCluster(t)
	s, patient, timeline := startOnRedis(t, c.URL())
	for range 3 {
		s.read(t, patient, timeline)
	}
}

// TestServeThroughASentinelFailover keeps a signed-in patient reading her
// timeline while Sentinel promotes the replica: no request fails, and the
// session, kept in Redis, survives.
func TestServeThroughASentinelFailover(t *testing.T) {
	set := redistest.NewSentinel(t)
	s, patient, timeline := startOnRedis(t, set.URL())
	s.read(t, patient, timeline)

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var served, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := patient.Get(timeline)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
					continue
				}
				served.Add(1)
			}
		}()
	}
	before := served.Load()
	if _, err := set.Failover(ctx); err != nil {
		t.Fatal(err)
	}
	during := served.Load() - before
	time.Sleep(300 * time.Millisecond) // reads on the new master
	close(stop)
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d timeline reads failed through the failover (%d served during it)", n, during)
	}
	if during == 0 {
		t.Error("no timeline was served during the failover")
	}
	// The session lives in Redis: after the failover it still opens the page.
	s.read(t, patient, s.base+"/p/"+patientHandle(t, s.a, s.d.patients[0].Handle))
	t.Logf("%d timelines served during the failover", during)
}
