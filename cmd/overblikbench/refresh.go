package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
	"github.com/overblik/overblik/fhir"
	"github.com/overblik/overblik/sources/fhirsource"
	"github.com/overblik/overblik/testdata"
)

const (
	entriesPerSource   = testdata.RegionEntries
	refreshSources     = 3
	refreshInterval    = time.Minute // refresh.every of the refresh runs; the clock is moved, not waited for
	refreshConcurrency = 8           // RefresherOptions.PerSource
)

// cpuTime is the CPU this process has used, user and system: the
// simulated sources run in a child of their own, so it is overblik's.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchClock is the real clock moved on by whole refresh intervals, so a
// run sees patients come due without waiting for them.
type benchClock struct{ offset atomic.Int64 }

func (c *benchClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *benchClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// replica is one overblik process: its own connectors, service, patient
// directory and refresher.
type replica struct {
	svc *aggregator.Service
	ref *aggregator.Refresher
	dir *aggregator.Patients
}

// replicaOptions tune newReplica; zero values are cmd/overblik's defaults
// (refresh every minute, fresh for two, 4 per source at once).
type replicaOptions struct {
	now        func() time.Time
	every      time.Duration // refresh.every
	perSource  int
	changeFeed bool
	feedEvery  time.Duration
	changed    func(ctx context.Context, handle string, version int64, cs []aggregator.Change, added []aggregator.Conflict)
	metrics    aggregator.Metrics
	pageSize   int // page_size: 0 is the connector's 50
}

func newReplica(urls []string, backend aggregator.Backend, o replicaOptions, log *slog.Logger) (*replica, error) {
	loc, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		return nil, err
	}
	if o.every <= 0 {
		o.every = refreshInterval
	}
	if o.pageSize <= 0 {
		o.pageSize = 50 // page_size's default
	}
	var regs []aggregator.Registration
	for i, u := range urls {
		// As a `kind: fhir` source is configured by default, with its
		// client as serve makes it.
		hc, err := fhir.NewHTTPClient(fhir.Auth{})
		if err != nil {
			return nil, err
		}
		src, err := fhirsource.New(fhirsource.Config{Name: string(sectors[i]), Sector: []aggregator.Sector{aggregator.SectorHospital,
			aggregator.SectorMunicipality, aggregator.SectorGP}[i], BaseURL: u, PageSize: o.pageSize, Include: true, Location: loc}, hc)
		if err != nil {
			return nil, err
		}
		regs = append(regs, aggregator.Registration{Source: src, ChangeFeed: o.changeFeed})
	}
	// As cmd/overblik's defaults (refresh.every 1m, fresh_for 2m): a refresher
	// that keeps up leaves viewers no stale timeline to refresh on demand.
	svc, err := aggregator.New(regs, backend, aggregator.Options{FreshFor: 2 * o.every, RefreshEvery: o.every,
		Now: o.now, Location: loc, Logger: log, Changed: o.changed, Metrics: o.metrics})
	if err != nil {
		return nil, err
	}
	dir, err := aggregator.NewPatients([]byte("overblikbench handle secret, 32+ bytes"), backend.Directory)
	if err != nil {
		return nil, err
	}
	ref, err := aggregator.NewRefresher(svc, dir, aggregator.RefresherOptions{PerSource: o.perSource, FeedEvery: o.feedEvery, Logger: log})
	if err != nil {
		return nil, err
	}
	return &replica{svc: svc, ref: ref, dir: dir}, nil
}

// region is the parent's copy of the children's patients, for their CPR
// numbers (cheap: nothing is made but the number).
func region(n int) (*testdata.Region, error) {
	loc, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		return nil, err
	}
	return testdata.NewRegion(n, time.Now(), loc)
}

// register makes patients 0..n-1 known to the replica, as a directory
// shared by the replicas would.
func (r *replica) register(ctx context.Context, reg *testdata.Region, n int) ([]aggregator.PatientRef, error) {
	ps := make([]aggregator.PatientRef, n)
	var g errgroup.Group
	g.SetLimit(16)
	for i := range n {
		g.Go(func() error {
			p, err := r.dir.Register(ctx, aggregator.Identifier{System: testdata.CPRSystem, Value: reg.CPR(i)})
			ps[i] = p
			return err
		})
	}
	return ps, g.Wait()
}

// viewAll views each patient once on the replica view(i) picks, a few at a time.
func viewAll(ctx context.Context, ps []aggregator.PatientRef, view func(i int) *replica) error {
	var g errgroup.Group
	g.SetLimit(16)
	for i, p := range ps {
		g.Go(func() error {
			tl, err := view(i).svc.Timeline(ctx, p)
			if err != nil {
				return err
			}
			if len(tl.Entries) != refreshSources*entriesPerSource || tl.Stale() {
				return fmt.Errorf("patient %d: %d entries (stale %v), want %d", i, len(tl.Entries), tl.Stale(), refreshSources*entriesPerSource)
			}
			return nil
		})
	}
	return g.Wait()
}

// refreshRun is one timed background round, and the CPU of a second one.
type refreshRun struct {
	rate   float64       // patients per second
	cpu    time.Duration // per refreshed patient
	perSrc int
	// changedCPU is per refreshed patient of a round after every patient
	// changed at one source: that source's new reading and the other two's
	// (the same as before) are normalised and merged anew. Measured when
	// refreshThroughput is asked to.
	changedCPU time.Duration
	// The fastest and slowest rounds of each kind.
	cpuMin, cpuMax, changedMin, changedMax time.Duration
}

// spread is the median, minimum and maximum of ds.
func spread(ds []time.Duration) (median, lo, hi time.Duration) {
	s := slices.Sorted(slices.Values(ds))
	return s[len(s)/2], s[0], s[len(s)-1]
}

// refreshThroughput views n patients, moves the clock on by an interval and
// times a background round that refreshes them all, with perSource
// refreshes at once, on sources answering after latency. Most refreshes
// find nothing changed, as this round does. With changed, three such
// rounds are timed, then three in which every patient changed at the first
// source.
func refreshThroughput(ctx context.Context, n, perSource int, latency time.Duration, changed bool, log *slog.Logger) (refreshRun, error) {
	sims, err := startSims(ctx, simSpec{Patients: n, Latency: latency})
	if err != nil {
		return refreshRun{}, err
	}
	defer sims.stop()
	reg, err := region(n)
	if err != nil {
		return refreshRun{}, err
	}
	clk := &benchClock{}
	r, err := newReplica(sims.urls, memcache.NewBackend(0), replicaOptions{now: clk.Now, perSource: perSource}, log)
	if err != nil {
		return refreshRun{}, err
	}
	defer r.svc.Close()
	ps, err := r.register(ctx, reg, n)
	if err != nil {
		return refreshRun{}, err
	}
	if err := viewAll(ctx, ps, func(int) *replica { return r }); err != nil {
		return refreshRun{}, err
	}
	// A round of a few hundred patients lasts a fraction of a second: a
	// couple of GC cycles, and whatever else the machine runs then. Of
	// several rounds, the median's CPU is the figure, and the spread is
	// printed.
	rounds := 1
	if changed {
		rounds = 5
	}
	round := func(what string) (elapsed, cpu time.Duration, err error) {
		clk.Advance(refreshInterval)
		cpu0, t0 := cpuTime(), time.Now()
		got, err := r.ref.RunOnce(ctx)
		elapsed, cpu = time.Since(t0), cpuTime()-cpu0
		if err == nil && got != n {
			err = fmt.Errorf("%s refreshed %d of %d due patients", what, got, n)
		}
		return elapsed, cpu, err
	}
	var elapsed time.Duration
	var cpus []time.Duration
	for range rounds {
		e, c, err := round("a round")
		if err != nil {
			return refreshRun{}, err
		}
		elapsed, cpus = elapsed+e, append(cpus, c/time.Duration(n))
	}
	run := refreshRun{rate: float64(rounds*n) / elapsed.Seconds(), perSrc: perSource}
	run.cpu, run.cpuMin, run.cpuMax = spread(cpus)
	if !changed {
		return run, nil
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	cpus = cpus[:0]
	for range rounds {
		if _, err := sims.change(0, all); err != nil {
			return refreshRun{}, err
		}
		before := make([]int64, n)
		for i, p := range ps {
			tl, _, err := r.svc.Cached(ctx, p.Handle)
			if err != nil || tl == nil {
				return refreshRun{}, fmt.Errorf("patient %d not cached: %v", i, err)
			}
			before[i] = tl.Version
		}
		_, c, err := round("the round after the changes")
		if err != nil {
			return refreshRun{}, err
		}
		cpus = append(cpus, c/time.Duration(n))
		for i, p := range ps { // every change came through
			tl, _, err := r.svc.Cached(ctx, p.Handle)
			if err != nil || tl == nil || tl.Version != before[i]+1 || len(tl.Entries) != refreshSources*entriesPerSource {
				return refreshRun{}, fmt.Errorf("patient %d after the change: %v", i, err)
			}
		}
	}
	run.changedCPU, run.changedMin, run.changedMax = spread(cpus)
	return run, nil
}

// replicasAskOnce runs three replicas on one Redis (rdb: a Cluster of three
// masters): each views a third of the patients, then for a few intervals
// every refresher runs at once while viewers read every patient on every
// replica. It returns the Appointment searches per patient, per source and
// per interval that the sources answered: 1.00 when nobody asked twice.
func replicasAskOnce(ctx context.Context, rdb *benchRedis, n, intervals int, log *slog.Logger) (float64, error) {
	const replicas = 3
	sims, err := startSims(ctx, simSpec{Patients: n})
	if err != nil {
		return 0, err
	}
	defer sims.stop()
	reg, err := region(n)
	if err != nil {
		return 0, err
	}
	clk := &benchClock{}
	var reps []*replica
	var ps []aggregator.PatientRef
	for range replicas {
		c, closeCache, err := rdb.cache(log)
		if err != nil {
			return 0, err
		}
		defer closeCache()
		rep, err := newReplica(sims.urls, c.Backend(), replicaOptions{now: clk.Now, perSource: refreshConcurrency}, log)
		if err != nil {
			return 0, err
		}
		defer rep.svc.Close()
		if ps, err = rep.register(ctx, reg, n); err != nil {
			return 0, err
		}
		reps = append(reps, rep)
	}
	if err := viewAll(ctx, ps, func(i int) *replica { return reps[i%replicas] }); err != nil {
		return 0, err
	}
	searches := func() (int64, error) {
		c, err := sims.total()
		return c.Appointment, err
	}
	before, err := searches()
	if err != nil {
		return 0, err
	}
	if want := int64(n * refreshSources); before != want {
		return 0, fmt.Errorf("the first views made %d Appointment searches, want %d", before, want)
	}
	for range intervals {
		clk.Advance(refreshInterval)
		var wg sync.WaitGroup
		errs := make(chan error, 2*replicas)
		for _, rep := range reps {
			wg.Add(2)
			go func() {
				defer wg.Done()
				if _, err := rep.ref.RunOnce(ctx); err != nil {
					errs <- err
				}
			}()
			go func() {
				defer wg.Done()
				for _, p := range ps {
					if _, err := rep.svc.Timeline(ctx, p); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			return 0, err
		}
	}
	for _, rep := range reps {
		rep.svc.Close() // waits for refreshes the viewers started
	}
	after, err := searches()
	if err != nil {
		return 0, err
	}
	return float64(after-before) / float64(n*refreshSources*intervals), nil
}

// refreshRows prints the background refresh rows: throughput and CPU per
// refreshed patient on zero-latency sources, and throughput by
// refresh.per_source on sources with latency, where the bound is the
// waiting, not the CPU.
func refreshRows(ctx context.Context, out io.Writer, cfg config, log *slog.Logger) error {
	const minRate, maxCPU = 150.0, time.Millisecond
	run, err := refreshThroughput(ctx, cfg.patients, refreshConcurrency, 0, true, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nbackground refresh, %d patients, %d zero-latency sources x %d entries, %d at once (memory; sources in a process of their own):\n",
		cfg.patients, refreshSources, entriesPerSource, refreshConcurrency)
	fmt.Fprintf(out, "  %.0f patients/s  target >= %.0f: %s\n", run.rate, minRate, verdict(run.rate >= minRate))
	fmt.Fprintf(out, "  CPU per refreshed patient, nothing changed at the sources (most refreshes; read and compared, not normalised): %s  target <= %s: %s\n",
		run.cpu.Round(time.Microsecond), maxCPU, verdict(run.cpu <= maxCPU))
	fmt.Fprintf(out, "    median of 5 rounds; they took %s to %s\n", run.cpuMin.Round(time.Microsecond), run.cpuMax.Round(time.Microsecond))
	fmt.Fprintf(out, "  CPU per refreshed patient, each changed at one source (all three normalised and merged anew): %s\n", run.changedCPU.Round(time.Microsecond))
	fmt.Fprintf(out, "    median of 5 rounds; they took %s to %s\n", run.changedMin.Round(time.Microsecond), run.changedMax.Round(time.Microsecond))

	const latency, n = 20 * time.Millisecond, 200
	fmt.Fprintf(out, "background refresh by refresh.per_source, %d patients, sources answering after %s:\n", n, latency)
	var base, last float64
	for _, k := range []int{1, 4, 16} {
		run, err := refreshThroughput(ctx, n, k, latency, false, log)
		if err != nil {
			return err
		}
		if k == 1 {
			base, last = run.rate, run.rate
			fmt.Fprintf(out, "  per_source %2d: %4.0f patients/s, %s CPU each\n", k, run.rate, run.cpu.Round(10*time.Microsecond))
			continue
		}
		// It grows until the replica's CPU is the bound (rate x CPU each
		// near the cores there are), never shrinks.
		fmt.Fprintf(out, "  per_source %2d: %4.0f patients/s, %s CPU each  x%.1f of per_source 1  target more than the step before: %s\n",
			k, run.rate, run.cpu.Round(10*time.Microsecond), run.rate/base, verdict(run.rate > last))
		last = run.rate
	}
	return nil
}
