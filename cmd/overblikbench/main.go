// Command overblikbench measures overblik against baselines on the same
// machine, in one run, and prints each figure with its ratio to the
// baseline: ratios measured side by side survive a noisy or slower machine,
// absolute numbers do not. `make bench` runs it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
	"github.com/overblik/overblik/fhir/fhirsim"
	"github.com/overblik/overblik/internal/gcpercent"
	"github.com/overblik/overblik/internal/redistest"
	"github.com/overblik/overblik/sources/fhirsource"
	"github.com/overblik/overblik/testdata"
	"github.com/overblik/overblik/view"
	"github.com/overblik/overblik/web"
)

func main() {
	if spec := os.Getenv(simsEnv); spec != "" { // the simulated sources' process (sims.go)
		if err := serveSims(spec); err != nil {
			fmt.Fprintln(os.Stderr, "overblikbench sims:", err)
			os.Exit(1)
		}
		return
	}
	gogc := gcpercent.Apply(os.Getenv) // as cmd/overblik runs: its replicas are measured here
	conns := flag.Int("conns", 8, "concurrent keep-alive connections per load run")
	redisURL := flag.String("redis", "redis://127.0.0.1:6379/0", "Redis for the Redis rows (keys under a prefix of the run's own, deleted at the end)")
	patients := flag.Int("patients", 300, "patients in the background refresh runs")
	regionSize := flag.Int("region", 100_000, "registered patients in the region rows")
	regionViewed := flag.Int("region-viewed", 20_000, "of them, viewed in the last 30 days")
	regionEvery := flag.Duration("region-every", 8*time.Second, "refresh.every of the region rows, compressed")
	dur := flag.Duration("duration", 3*time.Second, "length of each load run")
	builds := flag.Int("builds", 40, "cold builds to time")
	pgURL := flag.String("postgres", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
		"PostgreSQL for the read path rows (a database of the run's own is created in it and dropped at the end)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run (server and load generator alike) to this file")
	only := flag.String("only", "", "run only these sections, comma-separated: "+strings.Join(sections, ","))
	flag.Parse()
	cfg := config{conns: *conns, dur: *dur, builds: *builds, redisURL: *redisURL, patients: *patients, pgURL: *pgURL, gogc: gogc,
		region: regionConfig{patients: *regionSize, viewed: *regionViewed, every: *regionEvery}, only: map[string]bool{}}
	for _, s := range strings.Split(*only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			if !slices.Contains(sections, s) {
				fmt.Fprintf(os.Stderr, "overblikbench: no section %q (there are %s)\n", s, strings.Join(sections, ", "))
				os.Exit(2)
			}
			cfg.only[s] = true
		}
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "overblikbench:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "overblikbench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(context.Background(), os.Stdout, cfg); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "overblikbench:", err)
		os.Exit(1)
	}
}

type row struct {
	name     string
	res      result
	baseline *result // nil for a baseline itself
	target   float64 // minimum ratio to the baseline; 0 for none
}

// config is what the flags set.
type config struct {
	conns    int
	dur      time.Duration
	builds   int
	redisURL string
	pgURL    string
	patients int
	region   regionConfig
	gogc     int             // the collector's percent, as gcpercent set it
	only     map[string]bool // sections to run; empty: all
}

// sections of the run, in order.
var sections = []string{"cached", "readpath", "cold", "refresh", "replicas", "region"}

func (c config) runs(section string) bool { return len(c.only) == 0 || c.only[section] }

func run(ctx context.Context, out io.Writer, cfg config) error {
	log := slog.New(slog.DiscardHandler)
	cph, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		return err
	}
	rdb, err := openRedis(ctx, cfg.redisURL)
	if err != nil {
		return err
	}
	defer rdb.cleanup(context.WithoutCancel(ctx))
	fmt.Fprintf(out, "overblikbench: %s per load run\n", cfg.dur)

	if cfg.runs("cached") {
		if err := cachedReads(ctx, out, cfg, rdb, cph, log); err != nil {
			return err
		}
	}

	if cfg.runs("readpath") {
		rows, err := readPathRows(ctx, rdb, cfg.pgURL, cph, log, cfg.dur)
		if err != nil {
			return fmt.Errorf("read path: %w", err)
		}
		fmt.Fprintf(out, "\nthe read path users take: login or API key, decision, audit row group-committed to PostgreSQL, timeline in Redis; ratio to a bare Echo handler writing as many bytes at the same concurrency:\n")
		printReadPath(out, rows)
	}

	if cfg.runs("cold") {
		// Cold builds: three sources of 100 appointments, each answering after 20 ms.
		const latency = 20 * time.Millisecond
		p50, p99, err := coldBuilds(ctx, cfg.builds, latency)
		if err != nil {
			return fmt.Errorf("cold build: %w", err)
		}
		limit := latency + 10*time.Millisecond
		fmt.Fprintf(out, "\ncold build, 3 sources x 100 appointments, %s latency each (%d builds):\n", latency, cfg.builds)
		fmt.Fprintf(out, "  p50 %s  p99 %s  target p50 <= %s: %s\n", p50.Round(100*time.Microsecond), p99.Round(100*time.Microsecond), limit, verdict(p50 <= limit))
	}

	if cfg.runs("refresh") {
		if err := refreshRows(ctx, out, cfg, log); err != nil {
			return fmt.Errorf("background refresh: %w", err)
		}
	}

	if cfg.runs("replicas") {
		// Three replicas on a Redis Cluster of three masters of the run's
		// own, refreshers and viewers all at once.
		const intervals = 3
		cluster, err := redistest.StartCluster(ctx, "")
		if err != nil {
			return fmt.Errorf("replicas: a Redis Cluster: %w", err)
		}
		crdb, err := openRedis(ctx, cluster.URL())
		if err != nil {
			_ = cluster.Close()
			return err
		}
		perInterval, err := replicasAskOnce(ctx, crdb, cfg.patients, intervals, log)
		crdb.cleanup(context.WithoutCancel(ctx))
		_ = cluster.Close()
		if err != nil {
			return fmt.Errorf("replicas: %w", err)
		}
		fmt.Fprintf(out, "\n3 replicas on a Redis Cluster of 3 masters, %d patients, %d refresh intervals, change feeds off, every replica refreshing and viewing every patient:\n", cfg.patients, intervals)
		fmt.Fprintf(out, "  Appointment searches per patient, source and interval: %.2f  target 1.00: %s\n", perInterval, verdict(perInterval == 1))
	}

	if cfg.runs("region") {
		if err := regionRows(ctx, out, cfg, rdb, log); err != nil {
			return fmt.Errorf("region: %w", err)
		}
	}
	return nil
}

// cachedReads measures the web server's cached reads without access
// control, against a bare Echo handler writing the same bytes.
func cachedReads(ctx context.Context, out io.Writer, cfg config, rdb *benchRedis, cph *time.Location, log *slog.Logger) error {
	// The product on the demo data, one demo patient's timeline cached.
	d, stop, err := demoService(cph, log, memcache.NewBackend(0))
	if err != nil {
		return err
	}
	defer stop()
	jsonURL, htmlURL, size, err := d.warm(ctx)
	if err != nil {
		return err
	}

	// Baseline: a bare Echo handler writing bytes of the same size, with a
	// Content-Length, which is the floor for any cached read.
	baseURL, stopBase, err := bareHandler(size)
	if err != nil {
		return err
	}
	defer stopBase()

	fmt.Fprintf(out, "\nthe web server's cached reads (no access control), %d connections, payload %d bytes (a demo timeline):\n", cfg.conns, size)
	var rows []row
	base, err := load(ctx, baseURL, cfg.conns, cfg.dur)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	rows = append(rows, row{name: "baseline: Echo writes the same bytes", res: base})
	for _, sc := range []struct {
		name   string
		url    string
		target float64
	}{
		{"cached timeline JSON (memory)", jsonURL, 0.70},
		{"cached timeline HTML (memory)", htmlURL, 0.50},
	} {
		r, err := load(ctx, sc.url, cfg.conns, cfg.dur)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		rows = append(rows, row{name: sc.name, res: r, baseline: &base, target: sc.target})
	}
	redisRows, err := redisRows(ctx, rdb, cfg, cph, log)
	if err != nil {
		return fmt.Errorf("redis rows: %w", err)
	}
	rows = append(rows, redisRows...)
	printLoad(out, rows)
	return nil
}

func printLoad(out io.Writer, rows []row) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\treq/s\tp50\tp99\tratio\ttarget\t")
	for _, r := range rows {
		ratio, target := "1.00 (baseline)", ""
		if r.baseline != nil {
			x := r.res.rps() / r.baseline.rps()
			ratio = fmt.Sprintf("%.2f", x)
			target = fmt.Sprintf(">= %.2f %s", r.target, verdict(x >= r.target))
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%s\t\n", r.name, r.res.rps(),
			r.res.p50.Round(time.Microsecond), r.res.p99.Round(time.Microsecond), ratio, target)
	}
	tw.Flush()
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT MET"
}

// serve runs h on a loopback port until the returned stop is called.
func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "serve:", err)
		}
	}()
	return "http://" + ln.Addr().String() + "/", func() { srv.Close() }, nil
}

type demoProduct struct {
	svc      *aggregator.Service
	patients *aggregator.Patients
	url      string
	patient  testdata.DemoPatient
}

// demoService serves the demo data from three simulators through the
// product without access control (the rows that measure the web server
// itself), with timelines in cache.
func demoService(loc *time.Location, log *slog.Logger, backend aggregator.Backend) (*demoProduct, func(), error) {
	d, stopAll, err := demoSources(loc, log, backend)
	if err != nil {
		return nil, nil, err
	}
	h := web.New(web.Config{Location: loc}, web.Deps{Views: view.New(d.svc, d.patients, view.Options{}), Patients: d.patients, Logger: log}).Handler()
	u, stop, err := serve(h)
	if err != nil {
		stopAll()
		return nil, nil, err
	}
	d.url = u
	return d, func() { stop(); stopAll() }, nil
}

// demoSources is the aggregator service on the demo data from three
// simulators, timelines in cache; the caller serves it.
func demoSources(loc *time.Location, log *slog.Logger, backend aggregator.Backend) (*demoProduct, func(), error) {
	data := testdata.Demo(time.Now(), loc)
	var regs []aggregator.Registration
	var stops []func()
	stopAll := func() {
		for _, s := range stops {
			s()
		}
	}
	for i, sector := range []testdata.Sector{testdata.SectorHospital, testdata.SectorMunicipality, testdata.SectorGP} {
		res, _ := data.Sector(string(sector))
		sim, err := fhirsim.New(res, fhirsim.Options{TimeZone: loc})
		if err != nil {
			stopAll()
			return nil, nil, err
		}
		u, stop, err := serve(sim)
		if err != nil {
			stopAll()
			return nil, nil, err
		}
		stops = append(stops, stop)
		sec, _ := aggregator.ParseSector(string(sector))
		src, err := fhirsource.New(fhirsource.Config{Name: fmt.Sprintf("s%d", i), Sector: sec, BaseURL: u[:len(u)-1], PageSize: 100, Location: loc}, nil)
		if err != nil {
			stopAll()
			return nil, nil, err
		}
		regs = append(regs, aggregator.Registration{Source: src})
	}
	svc, err := aggregator.New(regs, backend, aggregator.Options{FreshFor: time.Hour, Location: loc, Logger: log})
	if err != nil {
		stopAll()
		return nil, nil, err
	}
	patients, err := aggregator.NewPatients([]byte("overblikbench handle secret, 32+ bytes"), backend.Directory)
	if err != nil {
		stopAll()
		return nil, nil, err
	}
	stops = append(stops, svc.Close)
	return &demoProduct{svc: svc, patients: patients, patient: data.Patients[0]}, stopAll, nil
}

// warm builds and caches the demo patient's timeline and returns the URLs of
// its cached reads and the size of the JSON.
func (d *demoProduct) warm(ctx context.Context) (jsonURL, htmlURL string, size int, err error) {
	p, err := d.patients.Register(ctx, aggregator.Identifier{System: d.patient.System, Value: d.patient.CPR})
	if err != nil {
		return "", "", 0, err
	}
	if _, err := d.svc.Refresh(ctx, p); err != nil {
		return "", "", 0, err
	}
	jsonURL = d.url + "api/v1/patients/" + p.Handle + "/timeline"
	resp, err := http.Get(jsonURL)
	if err != nil {
		return "", "", 0, err
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		return "", "", 0, fmt.Errorf("timeline JSON: %w", err)
	}
	return jsonURL, d.url + "p/" + p.Handle, len(raw), nil
}

// coldBuilds times timeline builds from three slow loopback sources.
func coldBuilds(ctx context.Context, n int, latency time.Duration) (p50, p99 time.Duration, err error) {
	var regs []aggregator.Registration
	for i := range 3 {
		res := []json.RawMessage{json.RawMessage(`{"resourceType":"Patient","id":"p","identifier":[{"system":"urn:oid:1.2.208.176.1.2","value":"3002991234"}]}`)}
		start := time.Now().Add(24 * time.Hour).Truncate(time.Hour)
		for j := range 100 {
			// Each source books its own services at its own hours, as real
			// ones do: identical titles and times across sources would plant a
			// conflict on every entry.
			s := start.Add(time.Duration(j)*25*time.Hour + time.Duration(i)*3*time.Hour)
			res = append(res, json.RawMessage(fmt.Sprintf(`{"resourceType":"Appointment","id":"a%d","status":"booked","description":"Aftale %d i kilde %d","start":%q,"end":%q,"participant":[{"actor":{"reference":"Patient/p"},"status":"accepted"}]}`,
				j, j, i, s.Format(time.RFC3339), s.Add(30*time.Minute).Format(time.RFC3339))))
		}
		sim, err := fhirsim.New(res, fhirsim.Options{Latency: latency})
		if err != nil {
			return 0, 0, err
		}
		u, stop, err := serve(sim)
		if err != nil {
			return 0, 0, err
		}
		defer stop()
		src, err := fhirsource.New(fhirsource.Config{Name: fmt.Sprintf("s%d", i), Sector: aggregator.SectorHospital, BaseURL: u[:len(u)-1], PageSize: 200}, nil)
		if err != nil {
			return 0, 0, err
		}
		regs = append(regs, aggregator.Registration{Source: src})
	}
	svc, err := aggregator.New(regs, memcache.NewBackend(0), aggregator.Options{})
	if err != nil {
		return 0, 0, err
	}
	defer svc.Close()
	p := aggregator.PatientRef{Handle: "bench", Identifier: aggregator.Identifier{System: "urn:oid:1.2.208.176.1.2", Value: "3002991234"}}
	if _, err := svc.Refresh(ctx, p); err != nil { // resolves the patient id once, as any later build has
		return 0, 0, err
	}
	var times []time.Duration
	for range n {
		t0 := time.Now()
		tl, err := svc.Refresh(ctx, p)
		if err != nil {
			return 0, 0, err
		}
		if len(tl.Entries) != 300 || tl.Stale() {
			return 0, 0, fmt.Errorf("build gave %d entries (stale %v), want 300", len(tl.Entries), tl.Stale())
		}
		times = append(times, time.Since(t0))
	}
	slices.Sort(times)
	return times[len(times)/2], times[len(times)*99/100], nil
}
