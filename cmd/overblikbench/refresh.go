package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
	"github.com/overblik/overblik/aggregator/rediscache"
	"github.com/overblik/overblik/fhir/fhirsim"
	"github.com/overblik/overblik/sources/fhirsource"
)

const (
	cprSystem          = "urn:oid:1.2.208.176.1.2"
	entriesPerSource   = 30
	refreshSources     = 3
	refreshInterval    = time.Minute // refresh.every of the refresh runs; the clock is moved, not waited for
	refreshConcurrency = 8           // RefresherOptions.PerSource
)

// countingSim is a simulated source that counts the Appointment searches
// it answers: one per patient per refresh when nobody asks twice.
type countingSim struct {
	sim          *fhirsim.Server
	appointments atomic.Int64
}

func (c *countingSim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/Appointment" {
		c.appointments.Add(1)
	}
	c.sim.ServeHTTP(w, r)
}

// refreshSims starts three zero-latency sources, each with n patients of
// entriesPerSource appointments, and returns their base URLs.
func refreshSims(n int) ([]string, []*countingSim, func(), error) {
	var urls []string
	var sims []*countingSim
	var stops []func()
	stopAll := func() {
		for _, s := range stops {
			s()
		}
	}
	start := time.Now().Add(24 * time.Hour).Truncate(time.Hour)
	for s := range refreshSources {
		res := make([]json.RawMessage, 0, n*(entriesPerSource+1))
		for i := range n {
			res = append(res, json.RawMessage(fmt.Sprintf(`{"resourceType":"Patient","id":"p%d","identifier":[{"system":%q,"value":"%010d"}]}`, i, cprSystem, i)))
			for j := range entriesPerSource {
				at := start.Add(time.Duration(j)*49*time.Hour + time.Duration(i)*time.Minute)
				res = append(res, json.RawMessage(fmt.Sprintf(`{"resourceType":"Appointment","id":"a%d-%d","status":"booked","description":"Aftale %d i kilde %d","start":%q,"end":%q,"participant":[{"actor":{"reference":"Patient/p%d"},"status":"accepted"}]}`,
					i, j, j, s, at.Format(time.RFC3339), at.Add(30*time.Minute).Format(time.RFC3339), i)))
			}
		}
		sim, err := fhirsim.New(res, fhirsim.Options{})
		if err != nil {
			stopAll()
			return nil, nil, nil, err
		}
		cs := &countingSim{sim: sim}
		u, stop, err := serve(cs)
		if err != nil {
			stopAll()
			return nil, nil, nil, err
		}
		stops = append(stops, stop)
		urls = append(urls, u[:len(u)-1])
		sims = append(sims, cs)
	}
	return urls, sims, stopAll, nil
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

func newReplica(urls []string, backend aggregator.Backend, clk *benchClock, log *slog.Logger) (*replica, error) {
	var regs []aggregator.Registration
	for i, u := range urls {
		src, err := fhirsource.New(fhirsource.Config{Name: fmt.Sprintf("s%d", i), Sector: aggregator.SectorHospital, BaseURL: u, PageSize: 100}, nil)
		if err != nil {
			return nil, err
		}
		regs = append(regs, aggregator.Registration{Source: src})
	}
	// As cmd/overblik's defaults (refresh.every 1m, fresh_for 2m): a refresher
	// that keeps up leaves viewers no stale timeline to refresh on demand.
	svc, err := aggregator.New(regs, backend, aggregator.Options{FreshFor: 2 * refreshInterval, RefreshEvery: refreshInterval,
		Now: clk.Now, Logger: log})
	if err != nil {
		return nil, err
	}
	dir, err := aggregator.NewPatients([]byte("overblikbench handle secret, 32+ bytes"), backend.Directory)
	if err != nil {
		return nil, err
	}
	ref, err := aggregator.NewRefresher(svc, dir, aggregator.RefresherOptions{PerSource: refreshConcurrency, Logger: log})
	if err != nil {
		return nil, err
	}
	return &replica{svc: svc, ref: ref, dir: dir}, nil
}

// register makes every patient known to the replica, as a directory shared
// by the replicas would.
func (r *replica) register(ctx context.Context, n int) ([]aggregator.PatientRef, error) {
	ps := make([]aggregator.PatientRef, n)
	for i := range n {
		p, err := r.dir.Register(ctx, aggregator.Identifier{System: cprSystem, Value: fmt.Sprintf("%010d", i)})
		if err != nil {
			return nil, err
		}
		ps[i] = p
	}
	return ps, nil
}

// viewAll views each patient once on the replica view(i) picks, a few at a time.
func viewAll(ctx context.Context, ps []aggregator.PatientRef, view func(i int) *replica) error {
	var g errgroup.Group
	g.SetLimit(8)
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

// refreshThroughput views n patients, moves the clock on by an interval and
// times one background round that refreshes them all: patients per second.
func refreshThroughput(ctx context.Context, n int, log *slog.Logger) (float64, error) {
	urls, _, stop, err := refreshSims(n)
	if err != nil {
		return 0, err
	}
	defer stop()
	clk := &benchClock{}
	r, err := newReplica(urls, memcache.NewBackend(0), clk, log)
	if err != nil {
		return 0, err
	}
	defer r.svc.Close()
	ps, err := r.register(ctx, n)
	if err != nil {
		return 0, err
	}
	if err := viewAll(ctx, ps, func(int) *replica { return r }); err != nil {
		return 0, err
	}
	clk.Advance(refreshInterval)
	t0 := time.Now()
	got, err := r.ref.RunOnce(ctx)
	elapsed := time.Since(t0)
	if err != nil {
		return 0, err
	}
	if got != n {
		return 0, fmt.Errorf("a round refreshed %d of %d due patients", got, n)
	}
	return float64(n) / elapsed.Seconds(), nil
}

// replicasAskOnce runs three replicas on one Redis: each views a third of
// the patients, then for a few intervals every refresher runs at once while
// viewers read every patient on every replica.
// It returns the Appointment searches per patient, per source and per
// interval that the sources answered: 1.00 when nobody asked twice.
func replicasAskOnce(ctx context.Context, r *benchRedis, n, intervals int, log *slog.Logger) (float64, error) {
	const replicas = 3
	urls, sims, stop, err := refreshSims(n)
	if err != nil {
		return 0, err
	}
	defer stop()
	clk := &benchClock{}
	var reps []*replica
	var ps []aggregator.PatientRef
	for range replicas {
		c, closeCache, err := r.cache(log)
		if err != nil {
			return 0, err
		}
		defer closeCache()
		rep, err := newReplica(urls, c.Backend(), clk, log)
		if err != nil {
			return 0, err
		}
		defer rep.svc.Close()
		if ps, err = rep.register(ctx, n); err != nil {
			return 0, err
		}
		reps = append(reps, rep)
	}
	if err := viewAll(ctx, ps, func(i int) *replica { return reps[i%replicas] }); err != nil {
		return 0, err
	}
	searches := func() int64 {
		var s int64
		for _, sim := range sims {
			s += sim.appointments.Load()
		}
		return s
	}
	before := searches()
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
	return float64(searches()-before) / float64(n*refreshSources*intervals), nil
}

var _ aggregator.Schedule = (*rediscache.Schedule)(nil)
