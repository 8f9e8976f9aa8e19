package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string // empty: valid
		check   func(Config) bool
	}{
		{"demo with defaults", []string{"--demo", "gp"}, "", func(c Config) bool {
			return c.Addr == "127.0.0.1:8090" && c.Demo == "gp" && c.Options.Seed == 1
		}},
		{"dir with failure options", []string{"--dir", "x", "--latency", "200ms", "--failure-rate", "0.1", "--fail-status", "503", "--seed", "9"}, "", func(c Config) bool {
			return c.Dir == "x" && c.Options.Latency == 200*time.Millisecond && c.Options.FailureRate == 0.1 &&
				c.Options.FailStatus == 503 && c.Options.Seed == 9
		}},
		{"fault modes", []string{"--demo", "hospital", "--latency-jitter", "1s", "--throttle-rate", "0.3", "--retry-after", "4s", "--retry-after-date",
			"--slow-body", "5s", "--garbage-rate", "0.25", "--wrong-content-type", "--admin"}, "", func(c Config) bool {
			o := c.Options
			return o.LatencyJitter == time.Second && o.ThrottleRate == 0.3 && o.RetryAfter == 4*time.Second && o.RetryAfterDate &&
				o.SlowBody == 5*time.Second && o.GarbageRate == 0.25 && o.WrongContentType && o.Admin
		}},
		{"fault modes off by default", []string{"--demo", "gp"}, "", func(c Config) bool {
			o := c.Options
			return o.LatencyJitter == 0 && o.ThrottleRate == 0 && o.SlowBody == 0 && o.GarbageRate == 0 && !o.WrongContentType && !o.Admin
		}},
		{"throttle rate above 1", []string{"--demo", "gp", "--throttle-rate", "1.5"}, "--throttle-rate", nil},
		{"garbage rate below 0", []string{"--demo", "gp", "--garbage-rate", "-1"}, "--garbage-rate", nil},
		{"negative jitter", []string{"--demo", "gp", "--latency-jitter", "-1s"}, "--latency-jitter", nil},
		{"negative slow body", []string{"--demo", "gp", "--slow-body", "-1s"}, "--slow-body", nil},
		{"negative retry after", []string{"--demo", "gp", "--retry-after", "-1s"}, "--retry-after", nil},
		{"neither source", nil, "exactly one", nil},
		{"both sources", []string{"--demo", "gp", "--dir", "x"}, "exactly one", nil},
		{"unknown sector", []string{"--demo", "pharmacy"}, "want hospital", nil},
		{"failure rate above 1", []string{"--demo", "gp", "--failure-rate", "2"}, "--failure-rate", nil},
		{"fail status not an error", []string{"--demo", "gp", "--fail-status", "200"}, "--fail-status", nil},
		{"negative latency", []string{"--demo", "gp", "--latency", "-1s"}, "--latency", nil},
		{"stray argument", []string{"--demo", "gp", "extra"}, "unexpected", nil},
		{"unknown flag", []string{"--nope"}, "not defined", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFlags(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !tt.check(got) {
				t.Errorf("got %+v", got)
			}
		})
	}
}

func TestRun(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	t.Run("bad folder", func(t *testing.T) {
		err := Run(context.Background(), Config{Addr: "127.0.0.1:0", Dir: t.TempDir() + "/missing"}, logger)
		if err == nil || !strings.Contains(err.Error(), "missing") {
			t.Errorf("got %v, want an error naming the folder", err)
		}
	})
	t.Run("stops when the context ends", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := Run(ctx, Config{Addr: "127.0.0.1:0", Demo: "hospital"}, logger); err != nil {
			t.Errorf("got %v, want a clean shutdown", err)
		}
	})
}
