package aggregator

import "time"

// Metrics receives what the service and the refresher measure. Package
// metrics implements it with Prometheus; nil in Options means none. Methods
// must be cheap and safe for concurrent use: they run on every request.
// Labels are source names and fixed words, never handles.
type Metrics interface {
	// SourceFetched is one Fetch of one source: how long it took and, when
	// it failed, its kind (empty on success).
	SourceFetched(source string, d time.Duration, kind ErrorKind)
	// CacheRead is one Service.Timeline lookup.
	CacheRead(outcome CacheOutcome)
	// TimelineBuilt is one whole build: every source, merge and conflicts.
	TimelineBuilt(d time.Duration)
	// RefreshQueue is the background schedule as a refresher last saw it:
	// patients due now, and how late the earliest of them is.
	RefreshQueue(due int64, lag time.Duration)
}

// CacheOutcome is what a timeline lookup found.
type CacheOutcome string

const (
	CacheHit   CacheOutcome = "hit"   // fresh, served as is
	CacheStale CacheOutcome = "stale" // older than FreshFor: served, refreshed in the background
	CacheMiss  CacheOutcome = "miss"  // none (or the cache failed): built while the caller waited
)

type noMetrics struct{}

func (noMetrics) SourceFetched(string, time.Duration, ErrorKind) {}
func (noMetrics) CacheRead(CacheOutcome)                         {}
func (noMetrics) TimelineBuilt(time.Duration)                    {}
func (noMetrics) RefreshQueue(int64, time.Duration)              {}
