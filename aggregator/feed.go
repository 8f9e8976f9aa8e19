package aggregator

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// ChangeFeed is an optional interface of a Source that can tell which
// patients have changed entries, so that background refresh asks it only for
// those (FHIR: a system-level search on _lastUpdated). A Registration with
// ChangeFeed set uses it.
type ChangeFeed interface {
	// Changed returns the patients whose entries changed after cursor and
	// the cursor to pass next time. An empty cursor starts the feed: no
	// patients, and the cursor for now. Deletions the source cannot show
	// are caught by the periodic full read (RefresherOptions.FeedFullEvery).
	Changed(ctx context.Context, cursor string) (patients []Identifier, next string, err error)
}

// Cursors keep each change feed's position, shared by the replicas (Redis)
// or in process (memory).
type Cursors interface {
	// Cursor returns the source's cursor, "" when there is none yet.
	Cursor(ctx context.Context, source string) (string, error)
	// AdvanceCursor moves the source's cursor from from to next, unless
	// another replica moved it first: then ok is false and this replica's
	// result is a duplicate of the one that did.
	AdvanceCursor(ctx context.Context, source, from, next string) (ok bool, err error)
}

// HandleMaker computes a patient's handle from an identifier, as *Patients
// does; the refresher needs it to map what a feed names onto handles.
type HandleMaker interface {
	Handle(id Identifier) string
}

// Defaults of change discovery.
const (
	DefaultFeedEvery     = 10 * time.Second
	DefaultFeedFullEvery = 24 * time.Hour
)

// feedSkew is how much later than a change's notice a source must have
// been read for the read to count as including it: the replicas' clocks
// differ a little, and one read too many beats a change missed.
const feedSkew = time.Minute

// feedSources are the names of the registrations that use their change feed.
func (s *Service) feedSources() []string {
	var out []string
	for _, r := range s.regs {
		if _, ok := r.Source.(ChangeFeed); ok && r.ChangeFeed {
			out = append(out, r.Source.Name())
		}
	}
	return out
}

// reusable says which feed sources a background refresh of a claimed
// patient may skip, keeping their entries from prev: those read at their
// last refresh (not failed), within FeedFullEvery, and after the latest
// change their feeds named (with feedSkew to spare).
func (r *Refresher) reusable(prev *Timeline, c Claim, now time.Time) map[string]bool {
	if prev == nil || len(r.feeds) == 0 {
		return nil
	}
	out := map[string]bool{}
	for _, st := range prev.Sources {
		if !slices.Contains(r.feeds, st.Name) || !st.OK || now.Sub(st.LastSuccess) >= r.opts.FeedFullEvery {
			continue
		}
		if !c.Changed.IsZero() && c.Changed.Add(feedSkew).After(st.LastSuccess) {
			continue
		}
		out[st.Name] = true
	}
	return out
}

// pollFeeds asks each change feed, at most every FeedEvery per replica,
// which patients changed, and makes the viewed ones among them due now.
func (r *Refresher) pollFeeds(ctx context.Context) {
	if len(r.feeds) == 0 {
		return
	}
	now := r.svc.opts.Now()
	r.mu.Lock()
	if !r.lastPoll.IsZero() && now.Sub(r.lastPoll) < r.opts.FeedEvery && !now.Before(r.lastPoll) {
		r.mu.Unlock()
		return
	}
	r.lastPoll = now
	r.mu.Unlock()
	for _, reg := range r.svc.regs {
		name := reg.Source.Name()
		if !slices.Contains(r.feeds, name) {
			continue
		}
		if err := r.pollFeed(ctx, name, reg.Source.(ChangeFeed), now); err != nil {
			// The periodic full read (FeedFullEvery) still catches what is missed.
			r.log.WarnContext(ctx, "change feed failed", "source", name, "err", err)
		}
	}
}

func (r *Refresher) pollFeed(ctx context.Context, name string, feed ChangeFeed, now time.Time) error {
	cur, err := r.cursors.Cursor(ctx, name)
	if err != nil {
		return err
	}
	ids, next, err := feed.Changed(ctx, cur)
	if err != nil {
		return fmt.Errorf("changes since the cursor: %w", err)
	}
	if next == "" || next == cur && len(ids) == 0 {
		return nil
	}
	ok, err := r.cursors.AdvanceCursor(ctx, name, cur, next)
	if err != nil || !ok {
		return err // !ok: another replica took the same changes and marks them
	}
	if len(ids) == 0 {
		return nil
	}
	handles := make([]string, 0, len(ids))
	for _, id := range ids {
		handles = append(handles, r.handles.Handle(id))
	}
	return r.sched.MarkChanged(ctx, handles, now)
}
