package aggregator

import (
	"context"
	"time"
)

// Schedule is the set of patients kept fresh in the background: who was
// viewed when, and when each is next due for a refresh. A Schedule shared by
// the replicas (Redis) hands each due patient to one of them per interval;
// the memory one serves a single process. Implementations live with the
// caches and must be safe for concurrent use.
type Schedule interface {
	// Viewed records that handle was looked at, at. A patient not yet
	// scheduled becomes due at due; a scheduled one keeps its due time.
	Viewed(ctx context.Context, handle string, at, due time.Time) error
	// Claim forgets the patients last viewed before viewedBefore, then takes
	// up to n patients due at or before now, earliest first, with the time
	// each was due, and makes each due at until, so that no other replica
	// takes it meanwhile (and it comes back by itself if the claimer dies).
	Claim(ctx context.Context, now time.Time, n int, until, viewedBefore time.Time) ([]Claim, error)
	// Reschedule makes each scheduled patient of next due at its time, in
	// one step (one round trip to Redis for a batch of refreshes); a patient
	// no longer scheduled stays out.
	Reschedule(ctx context.Context, next ...Next) error
	// MarkChanged is for patients source's change feed named at at: the
	// scheduled ones among handles become due at at, when that is earlier
	// than planned, and their mark for source (Claim.Marks) counts one
	// more; others are ignored.
	MarkChanged(ctx context.Context, source string, handles []string, at time.Time) error
	// Due counts the patients due at now and gives the earliest due time
	// (zero when none is scheduled), for the queue length and lag.
	Due(ctx context.Context, now time.Time) (n int64, earliest time.Time, err error)
}

// Next is when a patient is due next (Schedule.Reschedule).
type Next struct {
	Handle string
	Due    time.Time
}

// Claim is a patient a Schedule handed to one replica to refresh.
type Claim struct {
	Handle string
	// Due is when the patient was due, so the next refresh can be one
	// interval after it, whenever this one ran.
	Due time.Time
	// Marks counts, per source, the times its change feed named the
	// patient (see Schedule.MarkChanged); nil when none did. A read of the
	// source after the claim covers those marks: SourceStatus.FeedMark
	// keeps the count it covered, so a later mark, and only that, asks the
	// source again. Counts, not times: no replica's clock is compared with
	// another's.
	Marks map[string]int64
}
