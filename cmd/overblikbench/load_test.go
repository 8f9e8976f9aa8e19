package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestLoadCountsEveryAnsweredRequest(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	r, err := load(context.Background(), srv.URL, 2, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// A request the run cut off mid-flight is served but not counted.
	if r.requests == 0 || int64(r.requests) > served.Load() || served.Load()-int64(r.requests) > 2 {
		t.Errorf("counted %d requests, server answered %d", r.requests, served.Load())
	}
	if r.p50 <= 0 || r.p50 > r.p99 || r.rps() <= 0 {
		t.Errorf("p50 %v, p99 %v, rps %v", r.p50, r.p99, r.rps())
	}
}

func TestLoadReportsFailures(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 0 {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	_, err := load(context.Background(), srv.URL, 1, 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "status 500") {
		t.Errorf("err = %v, want the failed requests reported", err)
	}
}

// A replica at GOGC 400 collects once its heap grew by four times what is
// live: a quarter of that allocated is a quarter of a collection.
func TestGCShare(t *testing.T) {
	start := runtime.MemStats{TotalAlloc: 1 << 30}
	end := runtime.MemStats{TotalAlloc: 1<<30 + 100<<20, HeapAlloc: 100 << 20}
	charge, n := gcShare(400, start, end, 200*time.Millisecond)
	if n != 0.25 || charge != 50*time.Millisecond {
		t.Errorf("gcShare = %v, %v of a collection; want 50ms, 0.25", charge, n)
	}
	if charge, n := gcShare(-1, start, end, 200*time.Millisecond); n != 1 || charge != 200*time.Millisecond {
		t.Errorf("GOGC=off: gcShare = %v, %v; want a whole collection", charge, n)
	}
}
