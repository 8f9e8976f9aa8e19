// Command overblik serves one timeline per patient merged from hospital,
// municipality and GP sources.
//
//	overblik demo  [--addr 127.0.0.1:8080]   simulated sources, demo patients
//	overblik serve --config overblik.yaml    real sources
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/overblik/overblik/config"
	"github.com/overblik/overblik/internal/gcpercent"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	gcpercent.Apply(os.Getenv) // here, not in run: the tests call run in their own process
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2 // bad flags or configuration
)

const usage = `usage:
  overblik demo  [--addr 127.0.0.1:8080] [--smtp HOST:PORT]   run with three simulated sources and demo patients
  overblik serve --config overblik.yaml    run against the sources in the configuration
  overblik check --config overblik.yaml    check that every source answers, accepts us and supports our searches
`

// run is main without the process: testable, and every exit status comes from here.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// go-redis has one process-wide logger; main is the one place that sets it.
	redis.SetLogger(redisLog{log})
	switch args[0] {
	case "demo":
		fs := flag.NewFlagSet("demo", flag.ContinueOnError)
		fs.SetOutput(stderr)
		addr := fs.String("addr", config.DefaultListen, "address to listen on")
		smtpAddr := fs.String("smtp", "", "send the demo's notices to this SMTP server (`HOST:PORT`, no TLS) instead of the mailbox at /demo/mail")
		if err := fs.Parse(args[1:]); err != nil {
			return exitUsage
		}
		return exitStatus(stderr, runDemo(ctx, *addr, *smtpAddr, stdout, log))
	case "serve":
		cfg, code := loadConfig(args, stderr, getenv)
		if cfg == nil {
			return code
		}
		return exitStatus(stderr, serve(ctx, cfg, stdout, log))
	case "check":
		cfg, code := loadConfig(args, stderr, getenv)
		if cfg == nil {
			return code
		}
		ok, err := check(ctx, cfg, stdout, log)
		if err != nil {
			return exitStatus(stderr, err)
		}
		if !ok {
			return exitFailed
		}
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "unknown command %q\n%s", args[0], usage)
	return exitUsage
}

// loadConfig reads `<command> --config FILE`; without a configuration it
// returns the exit status to end with.
func loadConfig(args []string, stderr io.Writer, getenv func(string) string) (*config.Config, int) {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "overblik.yaml", "configuration file")
	if err := fs.Parse(args[1:]); err != nil {
		return nil, exitUsage
	}
	cfg, err := config.Load(*path, getenv, sourceKinds())
	if err != nil {
		return nil, exitStatus(stderr, err)
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stderr, "configuration warning: %s\n", w)
	}
	return cfg, exitOK
}

func exitStatus(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	var ce *config.Error
	if errors.As(err, &ce) {
		fmt.Fprintf(stderr, "configuration error:\n%v\n", err)
		return exitUsage
	}
	fmt.Fprintf(stderr, "overblik: %v\n", err)
	return exitFailed
}
