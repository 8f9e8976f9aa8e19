package memcache

import "github.com/overblik/overblik/aggregator"

// NewBackend is the aggregator's back end of one process, in memory: at
// most max timelines (see New), their changes, a lease, the refresh
// schedule, the change-feed cursors and the patient directory.
func NewBackend(max int) aggregator.Backend {
	c := New(max)
	return aggregator.Backend{Timelines: c, Changes: c, Lease: NewLease(c), Schedule: NewSchedule(),
		Cursors: NewCursors(), Directory: NewDirectory(), Index: c}
}

var (
	_ aggregator.Cache         = (*Cache)(nil)
	_ aggregator.ChangeLog     = (*Cache)(nil)
	_ aggregator.ConflictIndex = (*Cache)(nil)
	_ aggregator.Schedule      = (*Schedule)(nil)
	_ aggregator.Cursors       = (*Cursors)(nil)
)
