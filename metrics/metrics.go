// Package metrics exposes what overblik measures in the Prometheus text
// format: it implements aggregator.Metrics on a registry of its own (no
// global default registry, no init) and serves it with Handler. Labels are
// source names and fixed words only: never a patient handle, whose number
// grows without bound.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/overblik/overblik/aggregator"
)

// Metrics holds overblik's collectors. Safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	fetchSeconds *prometheus.HistogramVec
	fetchErrors  *prometheus.CounterVec
	cacheReads   *prometheus.CounterVec
	buildSeconds prometheus.Histogram
	queueDue     prometheus.Gauge
	queueLag     prometheus.Gauge
}

var _ aggregator.Metrics = (*Metrics)(nil)

// New returns metrics registered on a new registry, with the Go runtime's
// and the process's collectors next to overblik's.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	// Sources answer in milliseconds on a good day and seconds on a bad one.
	buckets := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	m := &Metrics{
		reg: reg,
		fetchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "overblik", Name: "source_request_duration_seconds",
			Help:    "Duration of one fetch of one patient's entries from a source, failed ones included.",
			Buckets: buckets,
		}, []string{"source"}),
		fetchErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "overblik", Name: "source_errors_total",
			Help: "Failed fetches from a source by kind (unavailable, timeout, unauthorized, not-found, invalid).",
		}, []string{"source", "kind"}),
		cacheReads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "overblik", Name: "timeline_cache_reads_total",
			Help: "Timeline lookups by outcome: hit (fresh), stale (served and refreshed in the background), miss (built while waiting).",
		}, []string{"outcome"}),
		buildSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "overblik", Name: "timeline_build_duration_seconds",
			Help:    "Duration of one timeline build: every source, merge and conflicts.",
			Buckets: buckets,
		}),
		queueDue: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "overblik", Name: "refresh_queue_length",
			Help: "Viewed patients due for a background refresh, as this replica's refresher last saw them.",
		}),
		queueLag: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "overblik", Name: "refresh_queue_lag_seconds",
			Help: "How late the most overdue background refresh is (0 when none is overdue).",
		}),
	}
	reg.MustRegister(m.fetchSeconds, m.fetchErrors, m.cacheReads, m.buildSeconds, m.queueDue, m.queueLag,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Every outcome shows from the start, so a rate over a fresh replica is 0, not absent.
	for _, o := range []aggregator.CacheOutcome{aggregator.CacheHit, aggregator.CacheStale, aggregator.CacheMiss} {
		m.cacheReads.WithLabelValues(string(o))
	}
	return m
}

// Registry is where the collectors live, for a caller that adds its own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format: mount it
// at GET /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// BreakerState is how WatchCircuit reads a source's circuit breaker:
// 0 closed, 1 open, 2 half-open (the values of fhir.BreakerState).
type BreakerState func() int

// WatchCircuit exports the state of source's circuit breaker as
// overblik_source_circuit_state{source}, read at each scrape. Call it once
// per source.
func (m *Metrics) WatchCircuit(source string, state BreakerState) error {
	return m.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "overblik", Name: "source_circuit_state",
		Help:        "State of the source's circuit breaker: 0 closed, 1 open, 2 half-open.",
		ConstLabels: prometheus.Labels{"source": source},
	}, func() float64 { return float64(state()) }))
}

func (m *Metrics) SourceFetched(source string, d time.Duration, kind aggregator.ErrorKind) {
	m.fetchSeconds.WithLabelValues(source).Observe(d.Seconds())
	if kind != "" {
		m.fetchErrors.WithLabelValues(source, string(kind)).Inc()
	}
}

func (m *Metrics) CacheRead(outcome aggregator.CacheOutcome) {
	m.cacheReads.WithLabelValues(string(outcome)).Inc()
}

func (m *Metrics) TimelineBuilt(d time.Duration) { m.buildSeconds.Observe(d.Seconds()) }

func (m *Metrics) RefreshQueue(due int64, lag time.Duration) {
	m.queueDue.Set(float64(due))
	m.queueLag.Set(lag.Seconds())
}
