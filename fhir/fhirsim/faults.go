package fhirsim

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// adminPrefix is where Options.Admin serves its switches.
const adminPrefix = "/_sim/"

// slowBodyChunks is how many pieces a slow body is written in.
const slowBodyChunks = 10

// defaultRetryAfter is the Retry-After of throttled answers when
// Options.RetryAfter is zero.
const defaultRetryAfter = time.Second

func (o Options) checkFaults() error {
	for _, r := range []struct {
		name string
		v    float64
	}{{"failure rate", o.FailureRate}, {"throttle rate", o.ThrottleRate}, {"garbage rate", o.GarbageRate}} {
		if r.v < 0 || r.v > 1 || math.IsNaN(r.v) {
			return fmt.Errorf("fhirsim: %s %v outside 0..1", r.name, r.v)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"latency", o.Latency}, {"latency jitter", o.LatencyJitter}, {"slow body", o.SlowBody}, {"retry after", o.RetryAfter}} {
		if d.v < 0 {
			return fmt.Errorf("fhirsim: negative %s %v", d.name, d.v)
		}
	}
	return nil
}

// latency is this request's delay: Latency plus its jitter.
func (s *Server) latency() time.Duration {
	d := s.opts.Latency
	if s.opts.LatencyJitter > 0 {
		d += time.Duration(s.roll() * float64(s.opts.LatencyJitter))
	}
	return d
}

func (s *Server) sleep(ctx context.Context, d time.Duration) error {
	if s.opts.Sleep != nil {
		return s.opts.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// throttle answers 429 with Retry-After.
func (s *Server) throttle(w http.ResponseWriter) {
	d := s.opts.RetryAfter
	if d == 0 {
		d = defaultRetryAfter
	}
	secs := int64(math.Ceil(d.Seconds()))
	if s.opts.RetryAfterDate {
		// An HTTP-date has whole seconds: round up, so the client never comes
		// back early.
		w.Header().Set("Retry-After", time.Now().Add(time.Duration(secs+1)*time.Second).UTC().Format(http.TimeFormat))
	} else {
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	writeOutcome(w, http.StatusTooManyRequests, "simulated throttling: try again later")
}

// writeData answers 200 with body, through the fault modes for successful
// answers.
func (s *Server) writeData(w http.ResponseWriter, r *http.Request, body []byte) {
	ct := contentType
	if s.opts.WrongContentType {
		ct = "text/html; charset=utf-8"
	}
	if s.opts.GarbageRate > 0 && s.roll() < s.opts.GarbageRate {
		// Half a document and then bytes no JSON parser accepts: what a
		// proxy cutting a connection, or a broken encoder, sends.
		garbage := append(body[:len(body)/2:len(body)/2], "\x00\xff<html>"...)
		body = garbage
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if s.opts.SlowBody <= 0 || len(body) == 0 {
		_, _ = w.Write(body) // a failed write means the client left
		return
	}
	flusher, _ := w.(http.Flusher)
	pause := s.opts.SlowBody / slowBodyChunks
	for i := range slowBodyChunks {
		chunk := body[len(body)*i/slowBodyChunks : len(body)*(i+1)/slowBodyChunks]
		if _, err := w.Write(chunk); err != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
		if i < slowBodyChunks-1 && s.sleep(r.Context(), pause) != nil {
			return // the client gave up
		}
	}
}

// admin serves the switches under adminPrefix.
func (s *Server) admin(w http.ResponseWriter, r *http.Request, path string) {
	action := path[len(adminPrefix):]
	switch {
	case (action == "down" || action == "up") && r.Method == http.MethodPost:
		s.SetDown(action == "down")
	case action == "state" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
	case action == "down" || action == "up" || action == "state":
		allow := http.MethodPost
		if action == "state" {
			allow = "GET, HEAD"
		}
		w.Header().Set("Allow", allow)
		writeOutcome(w, http.StatusMethodNotAllowed, "use "+allow)
		return
	default:
		writeOutcome(w, http.StatusNotFound, "unknown admin path; there are /_sim/down, /_sim/up and /_sim/state")
		return
	}
	writeJSON(w, http.StatusOK, fmt.Appendf(nil, `{"down":%t,"requests":%d}`, s.Down(), s.Requests()))
}
