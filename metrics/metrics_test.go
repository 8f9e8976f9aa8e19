package metrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
	"github.com/overblik/overblik/metrics"
)

type source struct {
	name string
	err  error
}

func (s source) Name() string              { return s.name }
func (s source) Sector() aggregator.Sector { return aggregator.SectorHospital }
func (s source) Fetch(context.Context, aggregator.PatientRef, aggregator.Window) (aggregator.Batch, error) {
	return aggregator.Batch{}, s.err
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d, %v", resp.StatusCode, err)
	}
	return string(b)
}

// The service's measurements reach /metrics, with sources and fixed words
// as labels and never a patient handle.
func TestServiceMetricsAreExposed(t *testing.T) {
	m := metrics.New()
	clk := &clock{now: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	svc, err := aggregator.New([]aggregator.Registration{
		{Source: source{name: "hospital"}},
		{Source: source{name: "gp", err: &aggregator.SourceError{Source: "gp", Kind: aggregator.Unauthorized}}},
	}, memcache.NewBackend(0), aggregator.Options{FreshFor: time.Minute, Now: clk.Now, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	const handle = "secrethandle7"
	p := aggregator.PatientRef{Handle: handle, Identifier: aggregator.Identifier{System: "urn:test", Value: "0101011234"}}
	ctx := context.Background()
	for range 2 { // a miss, then a hit
		if _, err := svc.Timeline(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(2 * time.Minute)
	if _, err := svc.Timeline(ctx, p); err != nil { // stale
		t.Fatal(err)
	}
	svc.Close()
	if err := m.WatchCircuit("gp", func() int { return 1 }); err != nil {
		t.Fatal(err)
	}
	m.RefreshQueue(7, 1500*time.Millisecond)

	body := scrape(t, m.Handler())
	for _, want := range []string{
		`overblik_timeline_cache_reads_total{outcome="miss"} 1`,
		`overblik_timeline_cache_reads_total{outcome="hit"} 1`,
		`overblik_timeline_cache_reads_total{outcome="stale"} 1`,
		`overblik_source_request_duration_seconds_count{source="hospital"} 2`,
		`overblik_source_request_duration_seconds_count{source="gp"} 2`,
		`overblik_source_errors_total{kind="unauthorized",source="gp"} 2`,
		`overblik_timeline_build_duration_seconds_count 2`,
		`overblik_source_circuit_state{source="gp"} 1`,
		`overblik_refresh_queue_length 7`,
		`overblik_refresh_queue_lag_seconds 1.5`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, secret := range []string{handle, "0101011234"} {
		if strings.Contains(body, secret) {
			t.Errorf("/metrics shows %q", secret)
		}
	}
	if strings.Contains(body, `source_errors_total{kind="unauthorized",source="hospital"}`) {
		t.Error("a source that answered has errors")
	}
}

// Two instances do not collide: each has its own registry.
func TestInstancesAreSeparate(t *testing.T) {
	a, b := metrics.New(), metrics.New()
	a.CacheRead(aggregator.CacheHit)
	if body := scrape(t, b.Handler()); !strings.Contains(body, `overblik_timeline_cache_reads_total{outcome="hit"} 0`) {
		t.Errorf("b counts a's hit:\n%s", body)
	}
}
