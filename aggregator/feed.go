package aggregator

import (
	"context"
	"fmt"
	"slices"
	"sync"
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
// last refresh (not failed), within FeedFullEvery, and since the last time
// their feed named the patient (c.Marks against SourceStatus.FeedMark).
func (r *Refresher) reusable(prev *Timeline, c Claim, now time.Time) map[string]bool {
	if prev == nil || len(r.feeds) == 0 {
		return nil
	}
	out := map[string]bool{}
	for _, st := range prev.Sources {
		if slices.Contains(r.feeds, st.Name) && st.OK && now.Sub(st.LastSuccess) < r.opts.FeedFullEvery && c.Marks[st.Name] <= st.FeedMark {
			out[st.Name] = true
		}
	}
	return out
}

// unread says whether a feed named the patient since prev read that source.
func unread(prev *Timeline, c Claim) bool {
	for _, st := range prev.Sources {
		if c.Marks[st.Name] > st.FeedMark {
			return true
		}
	}
	return false
}

// feedWatch is what a Refresher tells its Service about the change feeds:
// which sources have one, and when each last answered. A timeline whose
// every source has a feed that answers, read in full within FeedFullEvery,
// is as fresh as the feeds: the service serves it without asking anyone, and
// the feeds bring its changes (Service.fresh).
type feedWatch struct {
	mu     sync.Mutex
	every  time.Duration // how often the feeds are asked
	full   time.Duration // FeedFullEvery
	polled map[string]time.Time
}

func (w *feedWatch) watch(sources []string, every, full time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.every, w.full, w.polled = every, full, map[string]time.Time{}
	for _, s := range sources {
		w.polled[s] = time.Time{}
	}
}

func (w *feedWatch) answered(source string, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.polled[source]; ok {
		w.polled[source] = at
	}
}

// fullRead is when t's first source is due for its full read, when every
// source of t (all n configured) has a change feed and was read without
// failing: until then the feeds stand for t.
func (w *feedWatch) fullRead(t *Timeline, n int) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.polled) < n || len(t.Sources) != n {
		return time.Time{}, false
	}
	var first time.Time
	for _, st := range t.Sources {
		if _, ok := w.polled[st.Name]; !ok || !st.OK {
			return time.Time{}, false
		}
		if first.IsZero() || st.LastSuccess.Before(first) {
			first = st.LastSuccess
		}
	}
	return first.Add(w.full), true
}

// vouches says whether the feeds stand for t at now: every source of t
// (all n configured) has a feed that answered within three of its
// intervals, and t read it without failing within the full-read period.
func (w *feedWatch) vouches(t *Timeline, n int, now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.polled) < n || len(t.Sources) != n {
		return false
	}
	for _, st := range t.Sources {
		polled, ok := w.polled[st.Name]
		if !ok || now.Sub(polled) > 3*w.every || !st.OK || now.Sub(st.LastSuccess) >= w.full {
			return false
		}
	}
	return true
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
		r.svc.feeds.answered(name, now)
		return nil
	}
	ok, err := r.cursors.AdvanceCursor(ctx, name, cur, next)
	if err != nil {
		return err
	}
	if !ok || len(ids) == 0 { // !ok: another replica took the same changes and marks them
		r.svc.feeds.answered(name, now)
		return nil
	}
	handles := make([]string, 0, len(ids))
	for _, id := range ids {
		handles = append(handles, r.handles.Handle(id))
	}
	if err := r.sched.MarkChanged(ctx, name, handles, now); err != nil {
		return err
	}
	r.svc.feeds.answered(name, now)
	return nil
}
