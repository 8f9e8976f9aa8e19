package fhirsource

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/fhir"
)

// Defaults for incremental refresh.
const (
	DefaultFullReread  = 24 * time.Hour
	DefaultMaxPatients = 1_000 // a few hundred KB each at most; one not kept just gets a full read
)

// patientState is the last result for one patient, kept when Incremental.
type patientState struct {
	fullAt   time.Time         // when everything was last read (our clock)
	covered  aggregator.Window // the period that full read asked for
	lastSeen time.Time         // newest meta.lastUpdated seen (the server's clock)
	items    map[string]item   // by key
}

// fetchIncremental serves from the patient's last result plus what changed.
//
// A full read asks for the window stretched by FullReread at its end, so a
// window that slides forward with the clock stays covered until the next
// full read. Until then, when the asked window lies inside the covered one,
// only resources with _lastUpdated at or after the newest lastUpdated seen
// are searched ("ge", not "gt": a resource written in the same instant as
// the newest one seen but not yet visible then would be missed; one read
// twice is merely replaced), without a date filter, so an entry moved out
// of the window is noticed too. They replace the kept ones by resource id.
// A deletion is invisible to such a search and shows at the next full read,
// as does a resource that a server returns without meta.lastUpdated.
func (s *Source) fetchIncremental(ctx context.Context, budget *fhir.ByteBudget, pat patient, w aggregator.Window) (aggregator.Batch, error) {
	pid := pat.id
	now := s.cfg.Now()
	s.stateMu.Lock()
	st := s.state[pid]
	s.stateMu.Unlock()

	var next *patientState
	if st != nil && !st.lastSeen.IsZero() && now.Sub(st.fullAt) < s.cfg.FullReread &&
		!w.From.Before(st.covered.From) && !w.To.After(st.covered.To) {
		q := url.Values{
			"patient":      {"Patient/" + pid},
			"_lastUpdated": {"ge" + st.lastSeen.UTC().Format(time.RFC3339Nano)},
		}
		items, err := s.read(ctx, budget, pat, q)
		var fe *fhir.Error
		switch {
		case errors.Is(err, errTruncated):
			// A server that ignores _lastUpdated sends everything the
			// patient has, without a date filter: read the window instead,
			// with a budget of its own, as what was read is dropped.
			budget = fhir.NewByteBudget(s.cfg.MaxBytes)
		case errors.As(err, &fe) && fe.StatusCode == http.StatusBadRequest:
			// One that does not support it refuses it (we ask for strict
			// handling): read the window instead.
		case err != nil:
			return aggregator.Batch{}, err
		default:
			next = &patientState{fullAt: st.fullAt, covered: st.covered, lastSeen: st.lastSeen, items: maps.Clone(st.items)}
			for _, it := range items {
				next.items[it.key] = it
			}
		}
	}
	if next == nil {
		covered := aggregator.Window{From: w.From, To: w.To.Add(s.cfg.FullReread)}
		items, err := s.read(ctx, budget, pat, windowQuery(pid, covered))
		if err != nil {
			return aggregator.Batch{}, err
		}
		next = &patientState{fullAt: now, covered: covered, items: make(map[string]item, len(items))}
		for _, it := range items {
			next.items[it.key] = it
		}
	}
	for _, it := range next.items {
		if it.ok && it.entry.Updated.After(next.lastSeen) {
			next.lastSeen = it.entry.Updated
		}
	}
	s.keep(pid, next)

	var kept []item
	for _, key := range slices.Sorted(maps.Keys(next.items)) {
		it := next.items[key]
		if it.ok && !touches(it.entry, w) {
			continue
		}
		kept = append(kept, it)
	}
	batch := s.batch(kept)
	slices.SortStableFunc(batch.Entries, func(a, b aggregator.Entry) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.ID, b.ID))
	})
	return batch, nil
}

// touches reports whether e overlaps [w.From, w.To), as a FHIR date search
// with ge From and lt To does; an admission without an end goes on.
func touches(e aggregator.Entry, w aggregator.Window) bool {
	if !e.Start.Before(w.To) {
		return false
	}
	return e.End.IsZero() || !e.End.Before(w.From)
}

// keep stores a patient's state, dropping the one read longest ago when
// MaxPatients are kept: memory stays bounded, and a dropped patient just
// gets a full read next time.
func (s *Source) keep(pid string, st *patientState) {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	if _, ok := s.state[pid]; !ok && len(s.state) >= s.cfg.MaxPatients {
		oldest := ""
		for k, v := range s.state {
			if oldest == "" || v.fullAt.Before(s.state[oldest].fullAt) {
				oldest = k
			}
		}
		delete(s.state, oldest)
	}
	s.state[pid] = st
}
