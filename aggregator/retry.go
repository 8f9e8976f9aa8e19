package aggregator

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"
)

// Retrying a source that is down. A patient who sees a source fail (a
// timeline read with that source unavailable or timed out) should not read
// "out of date" long after the source is back: until the next refresh
// (RefreshEvery, a minute), or longer while a circuit breaker cools down.
// So while a source fails for viewed patients, one goroutine per source
// asks it again, for one of those patients, at a short interval that
// doubles up to a cap (and waits for a hint the source gave, such as the
// rest of its circuit breaker's cool-down, so that it is the breaker's
// trial). When the source answers, each of those patients is refreshed in
// the background (bounded as stale reads are), so their next page load has
// no banner. One retry is in flight per source at a time; a source nobody
// looks at is not asked.

// Defaults of retrying failed sources.
const (
	DefaultRetryFirst = 2 * time.Second
	DefaultRetryMax   = 8 * time.Second
)

// A patient who viewed a failed source has it retried for retryViewedFor
// after the view; at most maxRetryPatients per source are kept (those
// beyond are left to the refresher and their next view).
const (
	retryViewedFor   = 15 * time.Minute
	maxRetryPatients = 1000
)

// retrySlack is added to a source's hint: the wait ends just after the
// cool-down does, not just before it.
const retrySlack = 10 * time.Millisecond

// outage reports whether a failure of kind k is one that ends by itself
// (the system is down or too slow), worth asking again soon. A source that
// refused our credentials, or sent what we cannot read, waits for the next
// refresh.
func outage(k ErrorKind) bool { return k == Unavailable || k == Timeout }

// retries keeps, per failing source, the viewed patients it failed for.
type retries struct {
	mu       sync.Mutex
	bySource map[string]*retrying
}

type retrying struct {
	patients map[string]retryPatient // by handle
	running  bool                    // its goroutine runs
}

type retryPatient struct {
	p      PatientRef
	viewed time.Time
}

// noteFailures records, after a read of t for p, which sources failed for
// p with an outage, and starts retrying each of them; a source that
// answered for p no longer needs retrying for p.
func (s *Service) noteFailures(p PatientRef, t *Timeline) {
	if s.opts.RetryFirst < 0 {
		return
	}
	now := s.opts.Now()
	s.retry.mu.Lock()
	defer s.retry.mu.Unlock()
	for _, st := range t.Sources {
		r := s.retry.bySource[st.Name]
		if st.OK || !outage(st.ErrorKind) {
			if r != nil {
				delete(r.patients, p.Handle)
			}
			continue
		}
		if r == nil {
			if s.retry.bySource == nil {
				s.retry.bySource = map[string]*retrying{}
			}
			r = &retrying{patients: map[string]retryPatient{}}
			s.retry.bySource[st.Name] = r
		}
		if _, ok := r.patients[p.Handle]; ok || len(r.patients) < maxRetryPatients {
			r.patients[p.Handle] = retryPatient{p: p, viewed: now}
		}
		if r.running || !s.startBackground() {
			continue
		}
		r.running = true
		go s.retryLoop(st.Name)
	}
}

// startBackground counts one more background goroutine for Close to wait
// for, unless the service is closed.
func (s *Service) startBackground() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.bg.Add(1)
	return true
}

// retryLoop asks source name again until no viewed patient waits for it,
// backing off from RetryFirst to RetryMax while it keeps failing.
func (s *Service) retryLoop(name string) {
	defer s.bg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	backoff := s.opts.RetryFirst
	for {
		timer := time.NewTimer(s.retryWait(name, backoff))
		select {
		case <-ctx.Done():
			timer.Stop()
			s.retryEnded(name, true)
			return
		case <-timer.C:
		}
		if s.retrySource(ctx, name) && s.retryEnded(name, false) {
			return
		}
		backoff = min(2*backoff, s.opts.RetryMax)
	}
}

// retryWait is how long to wait before asking source name again: backoff,
// or when the source's latest failure said how soon asking can help (a
// circuit breaker's cool-down), that; never longer than RetryMax.
func (s *Service) retryWait(name string, backoff time.Duration) time.Duration {
	wait := backoff
	if at := s.health.get(name).retryAt; !at.IsZero() {
		if d := at.Sub(s.opts.Now()); d > 0 {
			wait = d + retrySlack
		}
	}
	return min(wait, s.opts.RetryMax)
}

// retryEnded reports whether the loop of source name may stop: closing,
// or no patient left waiting. Then it is marked as not running, so the
// next failure seen starts it again.
func (s *Service) retryEnded(name string, closing bool) bool {
	s.retry.mu.Lock()
	defer s.retry.mu.Unlock()
	r := s.retry.bySource[name]
	if !closing && len(r.patients) > 0 {
		return false
	}
	r.running = false
	return true
}

// retrySource asks source name once, for the patient who viewed it failing
// most recently. It reports whether the source answered; then every patient
// waiting for it is refreshed in the background.
func (s *Service) retrySource(ctx context.Context, name string) bool {
	reg, ok := s.registration(name)
	if !ok {
		return true
	}
	now := s.opts.Now()
	waiting := s.retryPatients(name, now)
	if len(waiting) == 0 {
		return true
	}
	res := s.fetch(ctx, reg, waiting[0].p, s.Window(now), lastRead{})
	if res.err != nil && outage(KindOf(res.err)) {
		s.log.Debug("source still failing", "source", name, "kind", KindOf(res.err), "err", res.err)
		return false
	}
	s.log.Info("source answers again; refreshing the timelines that showed it failed", "source", name, "patients", len(waiting))
	for _, rp := range waiting {
		s.retry.mu.Lock()
		if r := s.retry.bySource[name]; r != nil && r.patients[rp.p.Handle].viewed.Equal(rp.viewed) {
			delete(r.patients, rp.p.Handle)
		}
		s.retry.mu.Unlock()
		cached, ok, err := s.backend.Timelines.Get(ctx, rp.p.Handle)
		if err != nil || !ok {
			continue // the next view builds it
		}
		if st := statusOf(cached, name); st == nil || st.OK {
			continue // refreshed since
		}
		s.refreshInBackground(rp.p, cached.GeneratedAt)
	}
	return true
}

// retryPatients returns the patients waiting for source name, most recently
// viewed first, forgetting those viewed too long ago.
func (s *Service) retryPatients(name string, now time.Time) []retryPatient {
	s.retry.mu.Lock()
	defer s.retry.mu.Unlock()
	r := s.retry.bySource[name]
	if r == nil {
		return nil
	}
	var out []retryPatient
	for h, rp := range r.patients {
		if now.Sub(rp.viewed) > retryViewedFor {
			delete(r.patients, h)
			continue
		}
		out = append(out, rp)
	}
	slices.SortFunc(out, func(a, b retryPatient) int {
		return cmp.Or(b.viewed.Compare(a.viewed), cmp.Compare(a.p.Handle, b.p.Handle))
	})
	return out
}

func (s *Service) registration(name string) (Registration, bool) {
	for _, r := range s.regs {
		if r.Source.Name() == name {
			return r, true
		}
	}
	return Registration{}, false
}

// recovered reports whether a source that failed for t with an outage has
// answered on this replica since t was built: then t is worth refreshing
// at once, whatever its age.
func (s *Service) recovered(t *Timeline) bool {
	for _, st := range t.Sources {
		if !st.OK && outage(st.ErrorKind) && s.health.get(st.Name).LastSuccess.After(t.GeneratedAt) {
			return true
		}
	}
	return false
}
