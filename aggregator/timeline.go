package aggregator

import (
	"context"
	"time"
)

// Timeline is the merged view of one patient across all sources.
type Timeline struct {
	Patient     string // the opaque handle; the identifier is never stored here
	GeneratedAt time.Time
	// Version counts the patient's builds: each stored build is one more
	// than the one before it, in the whole cluster (builds run under the
	// lease). Changes carry the version that brought them.
	Version   int64
	Window    Window
	Entries   []Entry        // sorted by start, then ID
	Sources   []SourceStatus // in configuration order
	Conflicts []Conflict     // coordination conflicts among Entries, see ConflictRules.Find
}

// Stale reports whether any source could not be read at the last refresh.
func (t *Timeline) Stale() bool {
	for _, s := range t.Sources {
		if !s.OK {
			return true
		}
	}
	return false
}

// Unknown reports whether no source knows the patient: every one answered
// that it has nobody with the identifier. Such a patient is not kept for
// background refresh, and a look-up can say so instead of showing nothing.
func (t *Timeline) Unknown() bool {
	if len(t.Sources) == 0 {
		return false
	}
	for _, s := range t.Sources {
		if s.OK || s.ErrorKind != NotFound {
			return false
		}
	}
	return true
}

// SourceStatus is how one source fared at the last refresh.
type SourceStatus struct {
	Name        string
	Display     string
	Sector      Sector
	OK          bool
	Error       string    // for a support person; empty when OK
	ErrorKind   ErrorKind // empty when OK
	LastSuccess time.Time // zero if the source never answered for this patient
	Entries     int       // entries this source contributes (stale ones included)
	Skipped     int       // resources skipped as unusable at the last success
	Warnings    int       // resources used but only partly understood at the last success
	Duration    time.Duration
}

// Cache stores one timeline per patient handle. Implementations live in
// sub-packages (memory, Redis) and must be safe for concurrent use.
type Cache interface {
	// Get returns the cached timeline, or ok=false when there is none.
	Get(ctx context.Context, handle string) (t *Timeline, ok bool, err error)
	Put(ctx context.Context, handle string, t *Timeline) error
}

// Lease is an optional interface of a Cache shared by several replicas
// (Redis): one replica in the cluster refreshes a patient while the others
// wait for its result, so sources are asked once however many replicas run.
// Within a replica, the single-flight collapses callers first; the memory
// cache does without.
type Lease interface {
	// Acquire takes the patient's refresh lease for ttl. Without ok another
	// replica holds it. With ok, release after storing the timeline.
	Acquire(ctx context.Context, handle string, ttl time.Duration) (release func(context.Context) error, ok bool, err error)
	// Wait returns the first timeline stored with GeneratedAt after since,
	// or an error when the holder gave up or died without storing one.
	Wait(ctx context.Context, handle string, since time.Time) (*Timeline, error)
}

// RangeCache is a Cache that can also walk every timeline it holds, which
// the clinicians' conflict worklist needs. It is optional: Service.Recent
// reports ErrCannotList for a cache without it. Both caches have it; the
// Redis one walks its key prefix with SCAN on every master, so its cost grows
// with the number of cached patients.
type RangeCache interface {
	Cache
	// Range calls fn for each cached timeline until fn returns false. fn must
	// treat t as read-only and must not call back into the cache.
	Range(ctx context.Context, fn func(handle string, t *Timeline) bool) error
}
