package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestRedisLogGoesToSlog(t *testing.T) {
	var buf bytes.Buffer
	l := redisLog{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	l.Printf(context.Background(), "dial %s: %v", "127.0.0.1:6379", "connection refused")
	if got := buf.String(); !strings.Contains(got, `msg="dial 127.0.0.1:6379: connection refused"`) || !strings.Contains(got, "level=DEBUG") {
		t.Errorf("log line = %q", got)
	}
}
