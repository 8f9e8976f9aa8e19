package web

import (
	"github.com/overblik/overblik/aggregator"
)

// SourceStates tells how each source itself answered its latest fetches,
// for the admin page; *aggregator.Service is one. No patient data.
type SourceStates interface {
	SourceStates() []aggregator.SourceState
}

// adminSources fills the admin page's table from each source's own state,
// and says the service is not ready while any source is down.
func (s *Server) adminSources(tr *translator, v *adminPage) {
	if s.deps.Sources == nil {
		return
	}
	now := s.now().In(s.loc)
	states := s.deps.Sources.SourceStates()
	down := 0
	for _, st := range states {
		as := adminSource{Name: st.Name, Display: st.Display, Sector: tr.T("sector." + sectorKey(st.Sector)), OK: !st.Down,
			State: tr.T("admin.ok")}
		switch {
		case st.Down:
			down++
			as.State = tr.F("reason."+errorKindKey(st.FailureKind), st.Display)
		case !st.Asked():
			as.State = tr.T("admin.not_asked")
		}
		if !st.LastSuccess.IsZero() {
			as.LastSuccess = tr.when(st.LastSuccess.In(s.loc), now)
		}
		if !st.LastFailure.IsZero() {
			as.LastFailure = tr.when(st.LastFailure.In(s.loc), now)
		}
		v.Sources = append(v.Sources, as)
	}
	if down > 0 {
		v.Ready = tr.F("admin.not_ready_sources", down, len(states))
	}
}
