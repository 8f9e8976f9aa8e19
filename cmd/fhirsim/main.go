// Command fhirsim serves one demo source, or a folder of FHIR JSON files, as
// a FHIR R4 server, to develop and demo overblik without real sources.
//
//	fhirsim --demo hospital --addr 127.0.0.1:8090
//	fhirsim --dir ../shared/fhir-examples --latency 200ms --failure-rate 0.1
//	fhirsim --demo gp --latency 1s --latency-jitter 2s --throttle-rate 0.2 --retry-after 3s
//	fhirsim --demo gp --admin   # then: curl -X POST 127.0.0.1:8090/_sim/down (and /_sim/up)
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
	"os/signal"
	"syscall"
	"time"
	_ "time/tzdata" // Europe/Copenhagen wherever the binary runs

	"github.com/overblik/overblik/fhir/fhirsim"
	"github.com/overblik/overblik/testdata"
)

// Config is what the flags set.
type Config struct {
	Addr    string
	Demo    string // hospital, municipality or gp
	Dir     string
	Options fhirsim.Options
}

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "fhirsim: %v\n", err)
		}
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, cfg, logger); err != nil {
		logger.Error("fhirsim stopped", "err", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, out io.Writer) (Config, error) {
	var cfg Config
	fs := flag.NewFlagSet("fhirsim", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8090", "listen address")
	fs.StringVar(&cfg.Demo, "demo", "", "serve this sector of the demo data: hospital, municipality or gp")
	fs.StringVar(&cfg.Dir, "dir", "", "serve every *.json file under this folder (resources or Bundles)")
	fs.DurationVar(&cfg.Options.Latency, "latency", 0, "delay before every answer, e.g. 200ms")
	fs.Float64Var(&cfg.Options.FailureRate, "failure-rate", 0, "share 0..1 of requests answered with 503")
	fs.IntVar(&cfg.Options.FailStatus, "fail-status", 0, "answer every request with this HTTP status")
	fs.Int64Var(&cfg.Options.Seed, "seed", 1, "seed of the failure-rate dice")
	fs.StringVar(&cfg.Options.BaseURL, "base-url", "", "base URL for links (default: from the request's Host)")
	fs.DurationVar(&cfg.Options.LatencyJitter, "latency-jitter", 0, "plus a random delay up to this, e.g. 500ms")
	fs.Float64Var(&cfg.Options.ThrottleRate, "throttle-rate", 0, "share 0..1 of requests answered with 429 and Retry-After")
	fs.DurationVar(&cfg.Options.RetryAfter, "retry-after", 0, "Retry-After of throttled answers, in whole seconds (default 1s)")
	fs.BoolVar(&cfg.Options.RetryAfterDate, "retry-after-date", false, "send Retry-After as an HTTP-date instead of seconds")
	fs.DurationVar(&cfg.Options.SlowBody, "slow-body", 0, "trickle every successful body over this long, e.g. 5s")
	fs.Float64Var(&cfg.Options.GarbageRate, "garbage-rate", 0, "share 0..1 of successful answers whose body is cut short and not JSON")
	fs.BoolVar(&cfg.Options.WrongContentType, "wrong-content-type", false, "send successful answers as text/html")
	fs.BoolVar(&cfg.Options.Admin, "admin", false, "serve POST /_sim/down, POST /_sim/up and GET /_sim/state")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	switch {
	case fs.NArg() > 0:
		return Config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	case (cfg.Demo == "") == (cfg.Dir == ""):
		return Config{}, errors.New("give exactly one of --demo and --dir")
	case cfg.Demo != "" && cfg.Demo != string(testdata.SectorHospital) &&
		cfg.Demo != string(testdata.SectorMunicipality) && cfg.Demo != string(testdata.SectorGP):
		return Config{}, fmt.Errorf("--demo %q: want hospital, municipality or gp", cfg.Demo)
	case cfg.Options.Latency < 0:
		return Config{}, fmt.Errorf("--latency %v: must not be negative", cfg.Options.Latency)
	case cfg.Options.LatencyJitter < 0:
		return Config{}, fmt.Errorf("--latency-jitter %v: must not be negative", cfg.Options.LatencyJitter)
	case cfg.Options.SlowBody < 0:
		return Config{}, fmt.Errorf("--slow-body %v: must not be negative", cfg.Options.SlowBody)
	case cfg.Options.RetryAfter < 0:
		return Config{}, fmt.Errorf("--retry-after %v: must not be negative", cfg.Options.RetryAfter)
	case cfg.Options.FailureRate < 0 || cfg.Options.FailureRate > 1:
		return Config{}, fmt.Errorf("--failure-rate %v: want 0..1", cfg.Options.FailureRate)
	case cfg.Options.ThrottleRate < 0 || cfg.Options.ThrottleRate > 1:
		return Config{}, fmt.Errorf("--throttle-rate %v: want 0..1", cfg.Options.ThrottleRate)
	case cfg.Options.GarbageRate < 0 || cfg.Options.GarbageRate > 1:
		return Config{}, fmt.Errorf("--garbage-rate %v: want 0..1", cfg.Options.GarbageRate)
	case cfg.Options.FailStatus != 0 && (cfg.Options.FailStatus < 400 || cfg.Options.FailStatus > 599):
		return Config{}, fmt.Errorf("--fail-status %d: want an HTTP error status 400-599", cfg.Options.FailStatus)
	}
	return cfg, nil
}

// Run serves until ctx ends, then shuts down gracefully.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	zone, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		return fmt.Errorf("load zone: %w", err)
	}
	cfg.Options.TimeZone = zone
	var resources []json.RawMessage
	source := cfg.Dir
	if cfg.Demo != "" {
		// The demo's dates are relative to the day the simulator starts.
		resources, _ = testdata.Demo(time.Now(), zone).Sector(cfg.Demo)
		source = "demo " + cfg.Demo
	} else if resources, err = fhirsim.LoadDir(cfg.Dir); err != nil {
		return err
	}
	sim, err := fhirsim.New(resources, cfg.Options)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	logger.Info("fhirsim listening", "addr", ln.Addr().String(), "source", source, "resources", len(resources),
		"latency", cfg.Options.Latency, "latency_jitter", cfg.Options.LatencyJitter,
		"failure_rate", cfg.Options.FailureRate, "fail_status", cfg.Options.FailStatus,
		"throttle_rate", cfg.Options.ThrottleRate, "retry_after", cfg.Options.RetryAfter,
		"slow_body", cfg.Options.SlowBody, "garbage_rate", cfg.Options.GarbageRate,
		"wrong_content_type", cfg.Options.WrongContentType, "admin", cfg.Options.Admin)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("fhirsim stopped")
	return nil
}
