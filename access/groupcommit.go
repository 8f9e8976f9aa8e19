package access

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// BatchAuditor writes many audit rows in one commit; Store is one.
type BatchAuditor interface {
	AuditBatch(ctx context.Context, evs []Event) error
}

// GroupCommit makes a durable audit cheap under load: the rows of
// concurrent requests go into one transaction, and each request is released
// only once the commit that holds its row has succeeded. A failed commit
// fails every request in it, so no request sends data without its row.
// Nothing is ever dropped: a full queue makes callers wait.
//
// One committer commits one batch at a time; the rows that arrive during a
// commit make the next batch. A batch starts with what is queued and waits
// for more only on a crowded writer (Crowd callers or more lately waited at
// once), while fewer are in it than lately waited, and rows keep coming
// (each within Gap), for MaxWait at most. So a lone request, or eight
// connections each waiting on their row, are committed at once, and a busy
// server gathers many rows a commit.
type GroupCommit struct {
	store BatchAuditor
	opts  GroupCommitOptions
	in    chan auditRequest

	mu     sync.RWMutex // held shared while queueing; Close takes it to refuse more
	closed bool
	quit   chan struct{}
	done   chan struct{}

	// waiting counts the callers whose rows are queued, in a batch or
	// being committed: the committer reads it to know whether more are
	// coming. peak and its window are the committer's own.
	waiting      atomic.Int64
	peak, window int64
	windowStart  time.Time
}

// GroupCommitOptions bound a GroupCommit; zero values take the defaults.
type GroupCommitOptions struct {
	MaxRows int           // rows in one commit; default 256
	MaxWait time.Duration // the longest a batch waits for more rows; default 2ms
	Gap     time.Duration // a batch stops waiting when no row came for this long; default 200µs
	Queue   int           // rows queued before callers wait; default 4096
	// Crowd is how many callers must lately have waited at once before a
	// batch waits for more; default 10. Fewer cost the database little
	// with a commit per few rows, and waiting would cost each its latency.
	Crowd   int64
	Timeout time.Duration // one commit; default 5s
	Logger  *slog.Logger
	// Commits, when set, counts each commit with its rows and outcome
	// (metrics).
	Commits func(rows int, err error)
}

// ErrClosed is returned by GroupCommit.Audit after Close.
var ErrClosed = errors.New("access: audit writer closed")

type auditRequest struct {
	ev   Event
	done chan error
}

// NewGroupCommit starts a writer on store; Close stops it.
func NewGroupCommit(store BatchAuditor, opts GroupCommitOptions) *GroupCommit {
	if opts.MaxRows <= 0 {
		opts.MaxRows = 256
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = 2 * time.Millisecond
	}
	if opts.Gap <= 0 {
		opts.Gap = 200 * time.Microsecond
	}
	if opts.Crowd <= 0 {
		opts.Crowd = 10
	}
	if opts.Queue <= 0 {
		opts.Queue = 4096
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	g := &GroupCommit{store: store, opts: opts, in: make(chan auditRequest, opts.Queue),
		quit: make(chan struct{}), done: make(chan struct{})}
	go g.run()
	return g
}

// Audit queues ev and returns once it is committed, or with the error of the
// commit that was to hold it. A ctx that ends first fails the call; the row
// may still be written, which errs on the side of the patient's log.
func (g *GroupCommit) Audit(ctx context.Context, ev Event) error {
	r := auditRequest{ev: ev, done: make(chan error, 1)}
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return ErrClosed
	}
	g.waiting.Add(1)
	select {
	case g.in <- r:
		g.mu.RUnlock()
	case <-ctx.Done():
		g.mu.RUnlock()
		g.waiting.Add(-1)
		return fmt.Errorf("audit queue: %w", ctx.Err())
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("audit commit: %w", ctx.Err())
	}
}

// AuditBatch queues every event and returns once all are committed: they
// may land in more than one commit, so an error leaves the ones before it
// written.
func (g *GroupCommit) AuditBatch(ctx context.Context, evs []Event) error {
	reqs := make([]auditRequest, len(evs))
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return ErrClosed
	}
	for i, ev := range evs {
		reqs[i] = auditRequest{ev: ev, done: make(chan error, 1)}
		g.waiting.Add(1)
		select {
		case g.in <- reqs[i]:
		case <-ctx.Done():
			g.mu.RUnlock()
			g.waiting.Add(-1)
			return fmt.Errorf("audit queue: %w", ctx.Err())
		}
	}
	g.mu.RUnlock()
	var errs []error
	for _, r := range reqs {
		select {
		case err := <-r.done:
			errs = append(errs, err)
		case <-ctx.Done():
			return fmt.Errorf("audit commit: %w", ctx.Err())
		}
	}
	return errors.Join(errs...)
}

// Close refuses new rows, commits the queued ones and stops the writer.
func (g *GroupCommit) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		<-g.done
		return nil
	}
	g.closed = true
	g.mu.Unlock()
	close(g.quit)
	<-g.done
	return nil
}

func (g *GroupCommit) run() {
	defer close(g.done)
	batch := make([]auditRequest, 0, g.opts.MaxRows)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		batch = batch[:0]
		select {
		case r := <-g.in:
			batch = append(batch, r)
		case <-g.quit:
			g.drain(batch)
			return
		}
		g.fill(&batch, timer)
		g.commit(batch)
	}
}

// fill adds what is queued, then waits for more while more are expected.
func (g *GroupCommit) fill(batch *[]auditRequest, timer *time.Timer) {
	deadline := time.Now().Add(g.opts.MaxWait)
	for len(*batch) < g.opts.MaxRows {
		select {
		case r := <-g.in:
			*batch = append(*batch, r)
			continue
		default:
		}
		// Every waiting caller's row is in this batch: as many as have
		// lately waited at once means nobody else is on the way.
		if !g.expectMore(int64(len(*batch))) {
			return
		}
		wait := min(g.opts.Gap, time.Until(deadline))
		if wait <= 0 {
			return
		}
		timer.Reset(wait)
		select {
		case r := <-g.in:
			*batch = append(*batch, r)
			if !timer.Stop() {
				<-timer.C
			}
		case <-timer.C:
			return
		case <-g.quit:
			if !timer.Stop() {
				<-timer.C
			}
			return
		}
	}
}

// expectMore tells whether waiting for more than the n rows in the batch
// is worth it: the writer is crowded and fewer are in the batch than waited
// at once within the last second or two.
func (g *GroupCommit) expectMore(n int64) bool {
	w := g.waiting.Load()
	now := time.Now()
	if now.Sub(g.windowStart) >= time.Second {
		g.peak, g.window, g.windowStart = g.window, 0, now
	}
	g.window = max(g.window, w)
	peak := max(g.peak, g.window)
	return peak >= g.opts.Crowd && n < peak
}

// drain commits what is left at Close, in batches.
func (g *GroupCommit) drain(batch []auditRequest) {
	for {
		select {
		case r := <-g.in:
			batch = append(batch, r)
			if len(batch) == g.opts.MaxRows {
				g.commit(batch)
				batch = batch[:0]
			}
		default:
			if len(batch) > 0 {
				g.commit(batch)
			}
			return
		}
	}
}

func (g *GroupCommit) commit(batch []auditRequest) {
	evs := make([]Event, len(batch))
	for i, r := range batch {
		evs[i] = r.ev
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.opts.Timeout)
	err := g.store.AuditBatch(ctx, evs)
	cancel()
	if err != nil {
		err = fmt.Errorf("audit commit of %d rows: %w", len(evs), err)
		g.opts.Logger.Error("audit commit failed: the requests in it fail", "rows", len(evs), "err", err)
	}
	if g.opts.Commits != nil {
		g.opts.Commits(len(evs), err)
	}
	g.waiting.Add(-int64(len(batch)))
	for _, r := range batch {
		r.done <- err
	}
}
