package aggregator

import (
	"context"
	"errors"
	"time"
)

// Backend is where the aggregator keeps its state, in one value built once
// per process and passed explicitly: aggregator/memcache builds one in memory
// for a single process, aggregator/rediscache one in Redis shared by the
// replicas. cmd hands it to New, NewRefresher and NewPatients; nothing finds
// a part of it by asking what a value happens to implement.
type Backend struct {
	Timelines Cache     // one timeline per patient
	Changes   ChangeLog // what changed per entry, per patient
	Lease     Lease     // who refreshes a patient now
	Schedule  Schedule  // who is due for background refresh
	Cursors   Cursors   // the change feeds' positions
	Directory Directory // which identifier a handle stands for
	// Index names the patients with conflicts per day, for worklists; it
	// is kept by Timelines' Put and must be the same store's.
	Index ConflictIndex
}

// check tells which part is missing.
func (b Backend) check() error {
	var missing []error
	for _, p := range []struct {
		name string
		nil  bool
	}{{"Timelines", b.Timelines == nil}, {"Changes", b.Changes == nil}, {"Lease", b.Lease == nil},
		{"Schedule", b.Schedule == nil}, {"Cursors", b.Cursors == nil}, {"Directory", b.Directory == nil},
		{"Index", b.Index == nil}} {
		if p.nil {
			missing = append(missing, errors.New("aggregator: the backend has no "+p.name))
		}
	}
	return errors.Join(missing...)
}

// Cache stores one timeline per patient handle. Implementations must be
// safe for concurrent use.
type Cache interface {
	// Get returns the cached timeline, or ok=false when there is none.
	Get(ctx context.Context, handle string) (t *Timeline, ok bool, err error)
	Put(ctx context.Context, handle string, t *Timeline) error
	// Range calls fn for each cached timeline until fn returns false, for
	// views across patients. fn must treat t as read-only and must not call
	// back into the cache. (Redis walks its key prefix with SCAN on every
	// master: its cost grows with the number of cached patients, which is
	// why worklists read the ConflictIndex instead.)
	Range(ctx context.Context, fn func(handle string, t *Timeline) bool) error
}

// Lease makes one replica in the cluster refresh a patient while the others
// wait for its result, so sources are asked once however many replicas run.
// Within a replica, the single-flight collapses callers first.
type Lease interface {
	// Acquire takes the patient's refresh lease for ttl. Without ok another
	// replica holds it. With ok, release after storing the timeline.
	Acquire(ctx context.Context, handle string, ttl time.Duration) (release func(context.Context) error, ok bool, err error)
	// Wait returns the first timeline stored with GeneratedAt after since,
	// or an error when the holder gave up or died without storing one.
	Wait(ctx context.Context, handle string, since time.Time) (*Timeline, error)
}

// LeaseReader is a Lease that also reads the patient's cached timeline in
// the step that takes the lease: the background refresh of a claimed
// patient then makes one round trip to Redis before building, not two.
// Optional; the refresher reads and then leases without it.
type LeaseReader interface {
	// AcquireRead is Acquire that, with ok, also returns the timeline
	// cached when the lease was taken (nil when there is none).
	AcquireRead(ctx context.Context, handle string, ttl time.Duration) (release func(context.Context) error, cur *Timeline, ok bool, err error)
}
