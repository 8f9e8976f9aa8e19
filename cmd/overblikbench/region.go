package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/access/sqlstore"
	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
	"github.com/overblik/overblik/aggregator/rediscache"
	"github.com/overblik/overblik/testdata"
	"github.com/overblik/overblik/view"
)

// The region rows: a region's registered patients at three simulated
// sources (a child process, made on demand), a share of them viewed lately
// and kept fresh by one replica on Redis with change feeds on every source,
// and 1% of the viewed changed at a source in each interval, with refresh
// intervals compressed to seconds. Then what it all takes: source requests,
// refresh lag, CPU, Redis per timeline, the worklist, PostgreSQL per audit
// row.

// regionConfig is what the flags set.
type regionConfig struct {
	patients, viewed int
	every            time.Duration // refresh.every, compressed
}

// regionIntervals are the intervals measured after the viewed patients are
// cached.
const regionIntervals = 5

// buildCounter counts the builds a service makes (aggregator.Metrics).
type buildCounter struct{ builds atomic.Int64 }

func (b *buildCounter) SourceFetched(string, time.Duration, aggregator.ErrorKind) {}
func (b *buildCounter) CacheRead(aggregator.CacheOutcome)                         {}
func (b *buildCounter) TimelineBuilt(time.Duration)                               { b.builds.Add(1) }
func (b *buildCounter) RefreshQueue(int64, time.Duration)                         {}

// lags records, per changed patient, when the change was made at a source
// and how long until a build with the change was stored.
type lags struct {
	mu       sync.Mutex
	pending  map[string]time.Time // handle -> change at the source
	got      []time.Duration
	expected int // changes waited for: a patient changed again before its first change arrived counts once
}

func (l *lags) changed(handle string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.pending[handle]; !ok {
		l.pending[handle] = at
		l.expected++
	}
}

// stored is the service's Changed hook: a build with changes is stored.
func (l *lags) stored(_ context.Context, handle string, _ int64, _ []aggregator.Change, _ []aggregator.Conflict) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if at, ok := l.pending[handle]; ok {
		l.got = append(l.got, now.Sub(at))
		delete(l.pending, handle)
	}
}

func (l *lags) waiting() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pending)
}

func regionRows(ctx context.Context, out io.Writer, cfg config, rdb *benchRedis, log *slog.Logger) error {
	rc := cfg.region
	start := time.Now()
	sims, err := startSims(ctx, simSpec{Patients: rc.patients})
	if err != nil {
		return err
	}
	defer sims.stop()
	reg, err := region(rc.patients)
	if err != nil {
		return err
	}
	rr := rdb.sub("region:")
	defer rr.drop(context.WithoutCancel(ctx))
	b, _, closeBackend, err := rr.backend(log)
	if err != nil {
		return err
	}
	defer closeBackend()
	builds := &buildCounter{}
	lag := &lags{pending: map[string]time.Time{}}
	// page_size 100: a feed's poll of an interval's changes is one page.
	rep, err := newReplica(sims.urls, b.Backend, replicaOptions{every: rc.every, changeFeed: true, feedEvery: rc.every,
		changed: lag.stored, metrics: builds, pageSize: 100}, log)
	if err != nil {
		return err
	}
	defer rep.svc.Close()

	// The refresher runs from the start, as in a replica: its feeds
	// answering is what keeps the cached timelines fresh.
	rctx, stopRefresher := context.WithCancel(ctx)
	refDone := make(chan struct{})
	go func() { defer close(refDone); _ = rep.ref.Run(rctx) }()
	defer func() { stopRefresher(); <-refDone }()

	// The viewed patients, spread over the registered ones, each viewed
	// once and so cached and scheduled.
	rng := rand.New(rand.NewPCG(2026, 15))
	viewed := rng.Perm(rc.patients)[:rc.viewed]
	slices.Sort(viewed)
	ps := make([]aggregator.PatientRef, len(viewed))
	for k, i := range viewed {
		ps[k] = aggregator.PatientRef{Identifier: aggregator.Identifier{System: testdata.CPRSystem, Value: reg.CPR(i)}}
	}
	if err := registerAll(ctx, rep, ps); err != nil {
		return err
	}
	// Which of the viewed change in each interval: 1% of them.
	perInterval := max(1, rc.viewed/100)
	picks := make([][]int, regionIntervals) // indices into viewed and ps
	for k := range picks {
		for range perInterval {
			picks[k] = append(picks[k], rng.IntN(len(viewed)))
		}
	}
	order, changed := seedOrder(len(ps), picks)
	built := min(len(ps), max(regionBuilt, changed))
	builtRefs := make([]aggregator.PatientRef, 0, len(ps))
	for _, k := range order {
		builtRefs = append(builtRefs, ps[k])
	}
	cpu0, t0 := cpuTime(), time.Now()
	if err := viewAll(ctx, builtRefs[:built], func(int) *replica { return rep }); err != nil {
		return fmt.Errorf("viewing: %w", err)
	}
	seedCPU, seedTime := cpuTime()-cpu0, time.Since(t0)
	t1 := time.Now()
	if err := viewCopies(ctx, rep, b.Backend.Timelines, builtRefs, built); err != nil {
		return fmt.Errorf("viewing: %w", err)
	}
	copyTime := time.Since(t1)

	before, err := sims.total()
	if err != nil {
		return err
	}
	// Caching the viewed is a burst no running replica makes, and its debris
	// would land on the measured builds (as fresh pages to fault in, or a
	// collection of it): collected first. What the intervals' allocation
	// costs the collector is charged after them (gcShare).
	runtime.GC()
	var gc0 runtime.MemStats
	runtime.ReadMemStats(&gc0)
	builds0, cpu0, t0 := builds.builds.Load(), cpuTime(), time.Now()
	for k := range regionIntervals {
		next := t0.Add(time.Duration(k) * rc.every)
		time.Sleep(time.Until(next))
		byIndex := map[int][]int{} // source -> region patient numbers
		for n, p := range picks[k] {
			byIndex[n%len(sectors)] = append(byIndex[n%len(sectors)], p)
		}
		for src, picks := range byIndex {
			nums := make([]int, len(picks))
			for n, p := range picks {
				nums[n] = viewed[p]
			}
			times, err := sims.change(src, nums)
			if err != nil {
				return err
			}
			for n, p := range picks {
				lag.changed(ps[p].Handle, times[n])
			}
		}
	}
	// The polls are counted over exactly the measured intervals: a feed is
	// asked at most once an interval, and a window a little longer than five
	// holds a sixth round of polls (five intervals, six fence posts).
	time.Sleep(time.Until(t0.Add(regionIntervals * rc.every)))
	atEnd, err := sims.total()
	if err != nil {
		return err
	}
	polled := atEnd.minus(before)
	// Until every change is in the cache, or a generous while.
	deadline := time.Now().Add(rc.every + 30*time.Second)
	for lag.waiting() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	elapsed, cpu, nBuilds := time.Since(t0), cpuTime()-cpu0, builds.builds.Load()-builds0
	// What a region replica holds in memory: the process's live heap, which
	// is mostly the replica's (its fallback's copies for an outage, its near
	// cache), measured after a collection.
	cpuGC := cpuTime()
	runtime.GC()
	cpuGC = cpuTime() - cpuGC
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	gcCharge, collections := gcShare(cfg.gogc, gc0, mem, cpuGC)
	cpu += gcCharge
	after, err := sims.total()
	if err != nil {
		return err
	}
	reqs := after.minus(before)

	if !b.Fallback.Healthy() {
		return errors.New("the replica lost Redis during the row and served from memory: the rows would not measure Redis")
	}
	// Redis: the timelines' own keys, and every key of the row, per patient.
	perTimeline, entries, perPatient, err := redisPerPatient(ctx, rr, b.Cache, ps)
	if err != nil {
		return err
	}

	// The worklist and the audit rows, on PostgreSQL.
	db, err := openDatabase(ctx, cfg.pgURL)
	if err != nil {
		return err
	}
	defer db.drop(context.WithoutCancel(ctx))
	wl, err := worklistRow(ctx, db.url, rep, ps, log)
	if err != nil {
		return fmt.Errorf("worklist: %w", err)
	}
	auditBytes, err := auditRowBytes(ctx, db.url, ps, log)
	if err != nil {
		return fmt.Errorf("audit rows: %w", err)
	}
	stopRefresher()
	<-refDone

	fmt.Fprintf(out, "\nregion: %d registered patients at 3 simulated sources (%d entries each per patient), %d viewed and cached on Redis, change feeds on, refresh.every %s, %d intervals with %d patients changed at a source in each (1%% of the viewed), %s in all:\n",
		rc.patients, entriesPerSource, rc.viewed, rc.every, regionIntervals, perInterval, time.Since(start).Round(time.Second))
	fmt.Fprintf(out, "  caching the viewed: %d built from their 3 sources (the %d the intervals change among them) in %s, %s CPU each; the other %d stored as copies of those under their own handles in %s, then viewed\n",
		built, changed, seedTime.Round(100*time.Millisecond), (seedCPU / time.Duration(built)).Round(time.Microsecond), len(ps)-built, copyTime.Round(100*time.Millisecond))
	searches := reqs.Patient + reqs.Appointment + reqs.Encounter + reqs.Reads
	own, polls, pages := float64(searches)/regionIntervals, float64(polled.Polls)/regionIntervals, float64(polled.PollPages)/regionIntervals
	// Each change is at one source: the patient's searches there, the
	// look-up by identifier included (this replica never fetched most of
	// them: they were cached as copies).
	wantOwn, wantPolls := float64(3*perInterval), float64(2*len(sectors))
	fmt.Fprintf(out, "  source requests per interval: %.0f for the %d changed patients (%d Patient, %d Appointment, %d Encounter searches, %d reads in all) + %.1f polls (+%.1f further pages)  target <= %.0f + %.0f: %s\n",
		own, perInterval, reqs.Patient, reqs.Appointment, reqs.Encounter, reqs.Reads, polls, pages, wantOwn, wantPolls, verdict(own <= wantOwn && polls <= wantPolls))
	slices.Sort(lag.got)
	p50, p99 := percentile(lag.got, 50), percentile(lag.got, 99)
	maxLag := rc.every + 10*time.Second
	fmt.Fprintf(out, "  refresh lag, change at the source to new version in the cache (%d of %d changes): p50 %s  p99 %s  target p99 <= %s: %s\n",
		len(lag.got), lag.expected, p50.Round(10*time.Millisecond), p99.Round(10*time.Millisecond), maxLag,
		verdict(p99 <= maxLag && len(lag.got) == lag.expected))
	perBuild := time.Duration(0)
	if nBuilds > 0 {
		perBuild = cpu / time.Duration(nBuilds)
	}
	fmt.Fprintf(out, "  CPU per refreshed patient: %s (%d builds, %s CPU in %s, feeds and schedule included, and the collector's share: %.2f of a collection of the %.0f MB heap, which took %s; %.0f KB allocated per build)  target <= 1ms: %s\n",
		perBuild.Round(time.Microsecond), nBuilds, cpu.Round(10*time.Millisecond), elapsed.Round(100*time.Millisecond),
		collections, float64(mem.HeapAlloc)/(1<<20), cpuGC.Round(10*time.Millisecond), float64(mem.TotalAlloc-gc0.TotalAlloc)/1024/float64(max(nBuilds, 1)),
		verdict(nBuilds > 0 && perBuild <= time.Millisecond))
	per50 := perTimeline * 50 / max(entries, 1)
	fmt.Fprintf(out, "  Redis MEMORY USAGE per stored timeline: %.0f bytes (%.0f entries; %.0f per 50 entries); every key of the row: %.0f bytes per viewed patient  target <= 8192 per 50-entry timeline: %s\n",
		perTimeline, entries, per50, perPatient, verdict(per50 <= 8192))
	fmt.Fprintf(out, "  worklist for one day, %d cached patients, clinician of %q with %d looked up, 10 weekdays: %d to %d patients shown, p50 %s  max %s (the index's part: p50 %s; the rest is the decisions, their blocks in one query, the stored conflicts of those allowed in one Redis pipeline, decoded, and the audit commit)  target <= 50ms: %s\n",
		rc.viewed, wl.org, wl.lookedUp, wl.minShown, wl.maxShown, wl.p50.Round(100*time.Microsecond), wl.max.Round(100*time.Microsecond),
		wl.index.Round(10*time.Microsecond), verdict(wl.max <= 50*time.Millisecond))
	fmt.Fprintf(out, "  replica heap: %.0f MB live after a collection (the fallback's copies of the %d most recently used timelines for an outage, the near cache's %d decoded)\n",
		float64(mem.HeapAlloc)/(1<<20), min(len(ps), memcache.DefaultMax), min(len(ps), rediscache.DefaultNearCache))
	fmt.Fprintf(out, "  PostgreSQL per audit row: %.0f bytes (audit_events with its indexes, pg_total_relation_size after %d rows)\n",
		auditBytes, auditRows)
	return nil
}

// gcShare is the collector's share of the measured intervals, from the
// memory statistics at their start (after a collection) and end (after
// another, which took cpuGC): a replica collects once its heap has grown by
// gogc percent of what is live, so the intervals' allocation is worth that
// many collections of the heap they leave. Any collection they made
// themselves is in their CPU already, and counted again here.
func gcShare(gogc int, start, end runtime.MemStats, cpuGC time.Duration) (charge time.Duration, n float64) {
	if gogc <= 0 || end.HeapAlloc == 0 { // GOGC=off: memory alone makes it collect
		return cpuGC, 1
	}
	n = float64(end.TotalAlloc-start.TotalAlloc) / (float64(end.HeapAlloc) * float64(gogc) / 100)
	return time.Duration(n * float64(cpuGC)), n
}

func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}

// regionBuilt is how many of the viewed patients the row builds from their
// sources at least; the others are cached as copies of those (viewCopies):
// building twenty thousand from three sources takes minutes of this
// machine's CPU and is what the first rows measure, not what the region
// rows are for.
const regionBuilt = 1000

// seedOrder is the order the row caches the n viewed patients in: first
// the changed patients, every patient the intervals will change (picks),
// then the others. At least the changed are built from their sources, so
// each changed patient's cached timeline is its own, as every timeline in
// a region is: a copy of another patient's carries that patient's digests,
// and its first refresh would normalise every resource of the changed
// source instead of the one that changed.
func seedOrder(n int, picks [][]int) (order []int, changed int) {
	order = make([]int, 0, n)
	seen := make([]bool, n)
	for _, ks := range picks {
		for _, k := range ks {
			if !seen[k] {
				seen[k] = true
				order = append(order, k)
			}
		}
	}
	slices.Sort(order)
	changed = len(order)
	for k := range n {
		if !seen[k] {
			order = append(order, k)
		}
	}
	return order, changed
}

// viewCopies caches patient k (k >= built) of ps as a copy of the timeline
// built for patient k mod built, under its own handle, and views it, so it
// is scheduled as a viewed patient is. A change at a source then reads that
// source for the patient itself.
func viewCopies(ctx context.Context, rep *replica, tls aggregator.Cache, ps []aggregator.PatientRef, built int) error {
	var g errgroup.Group
	g.SetLimit(4) // Redis on this machine shares its two cores

	for k := built; k < len(ps); k++ {
		g.Go(func() error {
			t, ok, err := tls.Get(ctx, ps[k%built].Handle)
			if err != nil || !ok {
				return fmt.Errorf("the timeline of built patient %d: %v, %w", k%built, ok, err)
			}
			c := *t
			c.Patient = ps[k].Handle
			if err := tls.Put(ctx, ps[k].Handle, &c); err != nil {
				return err
			}
			_, err = rep.svc.Timeline(ctx, ps[k])
			return err
		})
	}
	return g.Wait()
}

// registerAll makes the patients known, handles filled in, as the look-ups
// that first viewed them did.
func registerAll(ctx context.Context, rep *replica, ps []aggregator.PatientRef) error {
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for k := range ps {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			p, err := rep.dir.Register(ctx, ps[k].Identifier)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
			ps[k] = p
		}()
	}
	wg.Wait()
	return first
}

// redisPerPatient is MEMORY USAGE of the timeline keys of a sample of the
// patients (and their mean entries), and of every key under the row's
// prefix per patient.
func redisPerPatient(ctx context.Context, r *benchRedis, c interface {
	Get(context.Context, string) (*aggregator.Timeline, bool, error)
}, ps []aggregator.PatientRef) (perTimeline, entries, perPatient float64, err error) {
	const sample = 500
	var keys []string
	for k := 0; k < len(ps); k += max(1, len(ps)/sample) {
		keys = append(keys, r.prefix+"{"+ps[k].Handle+"}:timeline")
		tl, ok, err := c.Get(ctx, ps[k].Handle)
		if err != nil || !ok {
			return 0, 0, 0, fmt.Errorf("timeline of viewed patient %d: %v, %w", k, ok, err)
		}
		entries += float64(len(tl.Entries))
	}
	sum, err := memoryUsage(ctx, r.rdb, keys)
	if err != nil {
		return 0, 0, 0, err
	}
	var all []string
	iter := r.rdb.Scan(ctx, 0, r.prefix+"*", 1000).Iterator() // a prefix of hex digits and colons
	for iter.Next(ctx) {
		all = append(all, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return 0, 0, 0, err
	}
	total, err := memoryUsage(ctx, r.rdb, all)
	if err != nil {
		return 0, 0, 0, err
	}
	return float64(sum) / float64(len(keys)), entries / float64(len(keys)), float64(total) / float64(len(ps)), nil
}

func memoryUsage(ctx context.Context, rdb redis.UniversalClient, keys []string) (int64, error) {
	var sum int64
	for len(keys) > 0 {
		n := min(len(keys), 500)
		cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys[:n] {
				p.MemoryUsage(ctx, k, 0) // every member: the sorted sets and hashes exactly
			}
			return nil
		})
		if err != nil && err != redis.Nil {
			return 0, err
		}
		for _, c := range cmds {
			sum += c.(*redis.IntCmd).Val()
		}
		keys = keys[n:]
	}
	return sum, nil
}

// worklistResult is what the worklist row measured.
type worklistResult struct {
	org                string
	lookedUp           int
	minShown, maxShown int
	p50, max           time.Duration
	index              time.Duration // p50 of the index's part: which patients to read
}

// worklistRow times the worklist of a clinician of a home-care district
// who looked up some of the patients, for each of the next ten weekdays,
// through the view as serve wires it: access control on PostgreSQL, the
// audit rows of those shown group-committed.
func worklistRow(ctx context.Context, dbURL string, rep *replica, ps []aggregator.PatientRef, log *slog.Logger) (worklistResult, error) {
	store, err := sqlstore.OpenPostgres(ctx, dbURL, sqlstore.Options{Logger: log})
	if err != nil {
		return worklistResult{}, err
	}
	defer store.Close()
	auditor := access.NewGroupCommit(store, access.GroupCommitOptions{Logger: log})
	defer auditor.Close()
	acc := access.NewService(store, access.Options{Logger: log, Auditor: auditor})
	res := worklistResult{org: "Hjemmeplejen Nord", lookedUp: 200, minShown: -1}
	views := view.New(rep.svc, rep.dir, view.Options{Access: acc, Conflicted: rep.svc, ByOrganization: true, Logger: log})
	klara := access.Principal{Subject: "bench-clinician", Roles: []access.Role{access.RoleClinician}, Name: "Klara Kliniker", Organization: res.org}
	for k := 0; k < res.lookedUp; k++ {
		if _, err := views.Lookup(ctx, klara, ps[k*len(ps)/res.lookedUp].Identifier, "bench: visitation"); err != nil {
			return worklistResult{}, err
		}
	}
	var times, idx []time.Duration
	day := time.Now()
	for len(times) < 10 {
		day = day.AddDate(0, 0, 1)
		if wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday {
			continue
		}
		d := day.Format(time.DateOnly)
		t0 := time.Now()
		if _, err := rep.svc.Conflicted(ctx, d, d, res.org, 500); err != nil {
			return worklistResult{}, err
		}
		idx = append(idx, time.Since(t0))
		t0 = time.Now()
		list, err := views.Worklist(ctx, klara, d, d)
		if err != nil {
			return worklistResult{}, err
		}
		times = append(times, time.Since(t0))
		if res.minShown < 0 || len(list) < res.minShown {
			res.minShown = len(list)
		}
		res.maxShown = max(res.maxShown, len(list))
	}
	slices.Sort(times)
	slices.Sort(idx)
	res.p50, res.max, res.index = percentile(times, 50), times[len(times)-1], percentile(idx, 50)
	return res, nil
}

// auditRows are the rows the audit size is measured on.
const auditRows = 20_000

// auditRowBytes writes auditRows audit rows as the product writes them
// (patients reading their own timeline, clinicians looking up with a
// reason, worklists) and returns pg_total_relation_size per row.
func auditRowBytes(ctx context.Context, dbURL string, ps []aggregator.PatientRef, log *slog.Logger) (float64, error) {
	store, err := sqlstore.OpenPostgres(ctx, dbURL, sqlstore.Options{Logger: log})
	if err != nil {
		return 0, err
	}
	defer store.Close()
	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer db.Close(context.WithoutCancel(ctx))
	size := func() (int64, error) {
		var n int64
		err := db.QueryRow(ctx, `SELECT pg_total_relation_size('audit_events')`).Scan(&n)
		return n, err
	}
	before, err := size()
	if err != nil {
		return 0, err
	}
	reasons := []string{"bench: visitation", "Indlæggelse, medicinafstemning", "Koordinering af hjemmepleje efter udskrivelse", "Opfølgning"}
	at := time.Now().Add(-24 * time.Hour)
	var batch []access.Event
	for n := range auditRows {
		p := ps[n%len(ps)].Handle
		ev := access.Event{At: at.Add(time.Duration(n) * 50 * time.Millisecond), Patient: p, Outcome: access.OutcomeAllowed}
		switch n % 4 {
		case 0, 1: // the patient, on the page or in the app
			ev.Actor, ev.ActorRole, ev.ActorName, ev.ActorHandle, ev.Action = "oidc|"+p[:20], access.RolePatient, "Birthe Østergaard Madsen", p, access.ActionView
		case 2: // a clinician with a reason
			ev.Actor, ev.ActorRole, ev.ActorName, ev.Action, ev.Reason = fmt.Sprintf("oidc|clinician-%04d", n%500), access.RoleClinician, "Klara Kliniker, Hjemmeplejen Nord", access.ActionView, reasons[n%len(reasons)]
		default: // a worklist
			ev.Actor, ev.ActorRole, ev.ActorName, ev.Action = fmt.Sprintf("oidc|clinician-%04d", n%500), access.RoleClinician, "Klara Kliniker, Hjemmeplejen Nord", access.ActionWorklist
		}
		batch = append(batch, ev)
		if len(batch) == 1000 {
			if err := store.AuditBatch(ctx, batch); err != nil {
				return 0, err
			}
			batch = batch[:0]
		}
	}
	if err := store.AuditBatch(ctx, batch); err != nil {
		return 0, err
	}
	after, err := size()
	if err != nil {
		return 0, err
	}
	return float64(after-before) / auditRows, nil
}
