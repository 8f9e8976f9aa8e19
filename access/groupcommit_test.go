package access_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the test reads PostgreSQL directly

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/access/sqlstore"
	"github.com/overblik/overblik/access/storetest"
)

// countingStore counts commits, knows which rows are committed, and fails
// the commits it is told to.
type countingStore struct {
	access.BatchAuditor
	mu      sync.Mutex
	commits int
	rows    int
	done    map[string]bool // reasons of committed rows
	failing func(evs []access.Event) bool
}

func (c *countingStore) AuditBatch(ctx context.Context, evs []access.Event) error {
	c.mu.Lock()
	fail := c.failing != nil && c.failing(evs)
	c.commits++
	c.rows += len(evs)
	c.mu.Unlock()
	if fail {
		return errors.New("the disk is full")
	}
	if err := c.BatchAuditor.AuditBatch(ctx, evs); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = map[string]bool{}
	}
	for _, ev := range evs {
		c.done[ev.Reason] = true
	}
	return nil
}

func (c *countingStore) committed(reason string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done[reason]
}

func viewEvent(patient string, i int) access.Event {
	return access.Event{At: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Microsecond),
		Actor: "sub-c", ActorRole: access.RoleClinician, Patient: patient, Action: access.ActionView,
		Reason: fmt.Sprint("r", i), Outcome: access.OutcomeAllowed}
}

func openSQLiteStore(t *testing.T) *sqlstore.Store {
	t.Helper()
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "access.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func rowsOf(t *testing.T, st access.Store, patient string) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	cursor := ""
	for {
		page, err := st.AuditLog(context.Background(), patient, cursor, 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range page.Events {
			got[ev.Reason] = true
		}
		if page.Next == "" {
			return got
		}
		cursor = page.Next
	}
}

// Concurrent rows share commits, and each caller returns only once its row
// is in the store.
func TestGroupCommitBatchesConcurrentRows(t *testing.T) {
	st := openSQLiteStore(t)
	cs := &countingStore{BatchAuditor: st}
	g := access.NewGroupCommit(cs, access.GroupCommitOptions{MaxRows: 64})
	defer g.Close()
	const n = 400
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev := viewEvent("p1", i)
			if err := g.Audit(context.Background(), ev); err != nil {
				errs <- err
				return
			}
			// Released: the commit holding the row must be done.
			if !cs.committed(ev.Reason) {
				errs <- fmt.Errorf("row %d not committed when Audit returned", i)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := rowsOf(t, st, "p1"); len(got) != n {
		t.Errorf("%d rows stored, want %d", len(got), n)
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.commits >= n/2 {
		t.Errorf("%d commits for %d concurrent rows: they were not gathered", cs.commits, n)
	}
	t.Logf("%d rows in %d commits", cs.rows, cs.commits)
}

// A failed commit fails every request in it, and only those.
func TestGroupCommitFailedCommitFailsItsBatch(t *testing.T) {
	st := openSQLiteStore(t)
	var failedBatches [][]string
	var mu sync.Mutex
	cs := &countingStore{BatchAuditor: st, failing: func(evs []access.Event) bool {
		// Every batch holding row 13 fails.
		for _, ev := range evs {
			if ev.Reason == "r13" {
				var rs []string
				for _, e := range evs {
					rs = append(rs, e.Reason)
				}
				mu.Lock()
				failedBatches = append(failedBatches, rs)
				mu.Unlock()
				return true
			}
		}
		return false
	}}
	g := access.NewGroupCommit(cs, access.GroupCommitOptions{})
	defer g.Close()
	const n = 100
	var wg sync.WaitGroup
	var failed sync.Map
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.Audit(context.Background(), viewEvent("p1", i)); err != nil {
				failed.Store(fmt.Sprint("r", i), true)
			}
		}()
	}
	wg.Wait()
	stored := rowsOf(t, st, "p1")
	if len(failedBatches) != 1 {
		t.Fatalf("%d failed batches, want the one with r13", len(failedBatches))
	}
	for _, r := range failedBatches[0] {
		if _, ok := failed.Load(r); !ok {
			t.Errorf("%s was in the failed commit, but its request succeeded", r)
		}
		if stored[r] {
			t.Errorf("%s was in the failed commit, but it is stored", r)
		}
	}
	for i := range n {
		r := fmt.Sprint("r", i)
		_, f := failed.Load(r)
		if f == stored[r] {
			t.Errorf("%s: failed %v, stored %v: each request must fail exactly when its row is not stored", r, f, stored[r])
		}
	}
}

// A full queue makes callers wait, never drops a row; Close commits what is
// queued and refuses more.
func TestGroupCommitBackPressureAndClose(t *testing.T) {
	st := openSQLiteStore(t)
	release := make(chan struct{})
	slow := &countingStore{BatchAuditor: blockingAuditor{st, release}}
	g := access.NewGroupCommit(slow, access.GroupCommitOptions{Queue: 4, MaxRows: 2})
	const n = 20
	var wg sync.WaitGroup
	var ok atomic.Int32
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.Audit(context.Background(), viewEvent("p1", i)); err == nil {
				ok.Add(1)
			}
		}()
	}
	// With the store stuck, a caller with a deadline gives up rather than wait forever.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err := g.Audit(ctx, viewEvent("p1", 99))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Audit with a full queue and a deadline: %v, want the deadline", err)
	}
	close(release)
	wg.Wait()
	if ok.Load() != n {
		t.Errorf("%d of %d rows committed, want all: back-pressure must not drop any", ok.Load(), n)
	}
	g.Close()
	if err := g.Audit(context.Background(), viewEvent("p1", 100)); !errors.Is(err, access.ErrClosed) {
		t.Errorf("Audit after Close: %v, want ErrClosed", err)
	}
	if got := rowsOf(t, st, "p1"); len(got) < n {
		t.Errorf("%d rows stored, want at least %d", len(got), n)
	}
}

type blockingAuditor struct {
	access.BatchAuditor
	release chan struct{}
}

func (b blockingAuditor) AuditBatch(ctx context.Context, evs []access.Event) error {
	<-b.release
	return b.BatchAuditor.AuditBatch(ctx, evs)
}

// TestGroupCommitDatabaseStoppedMidLoad reaches PostgreSQL through a TCP
// proxy that the test cuts while requests are under way: every request that
// was told its row is committed has it in the database, and the others
// failed.
func TestGroupCommitDatabaseStoppedMidLoad(t *testing.T) {
	direct := storetest.PostgresURL(t, "gc_test_")
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	px := newProxy(t, u.Host)
	viaProxy := *u
	viaProxy.Host = px.addr()
	ctx := context.Background()
	st, err := sqlstore.OpenPostgres(ctx, viaProxy.String(), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g := access.NewGroupCommit(st, access.GroupCommitOptions{Timeout: 2 * time.Second})
	defer g.Close()

	var (
		mu        sync.Mutex
		committed []string
		failures  int
	)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ev := viewEvent("p1", w*100000+i)
				rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				err := g.Audit(rctx, ev)
				cancel()
				mu.Lock()
				if err == nil {
					committed = append(committed, ev.Reason)
				} else {
					failures++
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	px.cut() // the database is gone: open connections die, new ones are refused
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()

	db, err := sql.Open("pgx", direct)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stored := map[string]bool{}
	rows, err := db.QueryContext(ctx, `SELECT reason FROM audit_events WHERE patient = 'p1'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			t.Fatal(err)
		}
		stored[r] = true
	}
	rows.Close()
	if len(committed) == 0 || failures == 0 {
		t.Fatalf("%d committed, %d failed: the load did not straddle the cut", len(committed), failures)
	}
	for _, r := range committed {
		if !stored[r] {
			t.Errorf("request %s was released as committed, but its row is not in the database", r)
		}
	}
	t.Logf("%d released after commit, %d failed, %d rows stored", len(committed), failures, len(stored))
}

// proxy forwards TCP connections to target until cut.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(p.cut)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.closed {
				p.mu.Unlock()
				c.Close()
				up.Close()
				return
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
}
