package aggregator

import (
	"sync"
	"time"
)

// SourceState is how one source itself fared at this replica's latest
// fetches, for whoever runs the service: not one patient's result. A source
// that answered it does not know a patient (NotFound) answered, so that
// counts as a success.
type SourceState struct {
	Name    string
	Display string
	Sector  Sector
	// LastSuccess and LastFailure are the latest fetch that ended each way;
	// zero when none did since the process started.
	LastSuccess time.Time
	LastFailure time.Time
	FailureKind ErrorKind // of LastFailure
	// Down: the latest fetch from the source failed.
	Down bool
	// retryAt: the latest failure said asking before then cannot help
	// (SourceError.RetryAfter); zero when it did not.
	retryAt time.Time
}

// Asked reports whether the source was fetched from at all.
func (s SourceState) Asked() bool { return !s.LastSuccess.IsZero() || !s.LastFailure.IsZero() }

// SourceStates lists every configured source, in configuration order, with
// how its latest fetches on this replica went (the refresher's included).
func (s *Service) SourceStates() []SourceState {
	out := make([]SourceState, len(s.regs))
	for i, r := range s.regs {
		out[i] = s.health.get(r.Source.Name())
		out[i].Name, out[i].Display, out[i].Sector = r.Source.Name(), r.Display, r.Source.Sector()
	}
	return out
}

// sourceHealth keeps each source's latest outcomes.
type sourceHealth struct {
	mu sync.Mutex
	m  map[string]SourceState
}

func (h *sourceHealth) record(name string, at time.Time, kind ErrorKind, retryAfter time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[string]SourceState{}
	}
	st := h.m[name]
	st.Down = kind != "" && kind != NotFound
	st.retryAt = time.Time{}
	if retryAfter > 0 {
		st.retryAt = at.Add(retryAfter)
	}
	if st.Down {
		st.LastFailure, st.FailureKind = at, kind
	} else {
		st.LastSuccess = at
	}
	h.m[name] = st
}

func (h *sourceHealth) get(name string) SourceState {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.m[name]
}
