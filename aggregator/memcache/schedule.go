package memcache

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// Schedule is the background-refresh schedule of one process (see
// aggregator.Schedule). Claim looks at every scheduled patient, which is
// fine for the patients one machine serves.
type Schedule struct {
	mu     sync.Mutex
	due    map[string]time.Time
	viewed map[string]time.Time
	marks  map[string]map[string]int64 // handle -> source -> count
}

// NewSchedule returns an empty schedule.
func NewSchedule() *Schedule {
	return &Schedule{due: map[string]time.Time{}, viewed: map[string]time.Time{}, marks: map[string]map[string]int64{}}
}

func (s *Schedule) Viewed(_ context.Context, handle string, at, due time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.viewed[handle]; !ok || at.After(v) {
		s.viewed[handle] = at
	}
	if _, ok := s.due[handle]; !ok {
		s.due[handle] = due
	}
	return nil
}

func (s *Schedule) Claim(_ context.Context, now time.Time, n int, until, viewedBefore time.Time) ([]aggregator.Claim, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	type cand struct {
		h   string
		due time.Time
	}
	var due []cand
	for h, v := range s.viewed {
		if v.Before(viewedBefore) {
			delete(s.viewed, h)
			delete(s.due, h)
			delete(s.marks, h)
			continue
		}
		if d := s.due[h]; !d.After(now) {
			due = append(due, cand{h, d})
		}
	}
	slices.SortFunc(due, func(a, b cand) int { return cmp.Or(a.due.Compare(b.due), cmp.Compare(a.h, b.h)) })
	var out []aggregator.Claim
	for _, c := range due[:min(n, len(due))] {
		s.due[c.h] = until
		out = append(out, aggregator.Claim{Handle: c.h, Due: c.due, Marks: maps.Clone(s.marks[c.h])})
	}
	return out, nil
}

func (s *Schedule) Reschedule(_ context.Context, next ...aggregator.Next) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range next {
		if _, ok := s.due[n.Handle]; ok {
			s.due[n.Handle] = n.Due
		}
	}
	return nil
}

func (s *Schedule) MarkChanged(_ context.Context, source string, handles []string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range handles {
		d, ok := s.due[h]
		if !ok {
			continue
		}
		if at.Before(d) {
			s.due[h] = at
		}
		if s.marks[h] == nil {
			s.marks[h] = map[string]int64{}
		}
		s.marks[h][source]++
	}
	return nil
}

func (s *Schedule) Due(_ context.Context, now time.Time) (int64, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	var earliest time.Time
	for _, d := range s.due {
		if !d.After(now) {
			n++
		}
		if earliest.IsZero() || d.Before(earliest) {
			earliest = d
		}
	}
	return n, earliest, nil
}
