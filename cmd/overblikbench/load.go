package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// result is what one load run measured.
type result struct {
	requests int
	errors   int
	elapsed  time.Duration
	p50, p99 time.Duration
}

func (r result) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// load sends GET url from conns keep-alive connections for d and measures
// every request. Each connection waits for its answer before the next
// request (closed loop), so the figure is the server's throughput at that
// concurrency, not a queue.
func load(ctx context.Context, url string, conns int, d time.Duration) (result, error) {
	return loadWith(ctx, url, nil, conns, d)
}

// loadWith is load with headers on every request (credentials, a reason).
func loadWith(ctx context.Context, url string, h http.Header, conns int, d time.Duration) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      int
		firstErr  error
	)
	var wg sync.WaitGroup
	start := time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true,
				DialContext: (&net.Dialer{Timeout: time.Second}).DialContext}
			defer tr.CloseIdleConnections()
			// A redirect (to the login, say) is not the answer measured.
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			var local []time.Duration
			for ctx.Err() == nil {
				t0 := time.Now()
				req, err := http.NewRequest(http.MethodGet, url, nil)
				if err != nil {
					return
				}
				for k, v := range h {
					req.Header[k] = v
				}
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					if ctx.Err() != nil {
						break // the run ended mid-request
					}
					mu.Lock()
					errs++
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	r := result{requests: len(latencies), errors: errs, elapsed: time.Since(start)}
	if len(latencies) == 0 {
		return r, fmt.Errorf("no request succeeded: %v", firstErr)
	}
	slices.Sort(latencies)
	r.p50 = latencies[len(latencies)/2]
	r.p99 = latencies[len(latencies)*99/100]
	if errs > 0 {
		return r, fmt.Errorf("%d requests failed, first: %v", errs, firstErr)
	}
	return r, nil
}
