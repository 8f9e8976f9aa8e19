package aggregator_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// Each source's own state comes from its latest fetches, whichever patient
// they were for: a source that does not know one patient answered, one that
// failed for the last patient is down whatever the patient before it saw.
// The name a source gave reaches Named, and never the timeline.
func TestSourceStatesAndNames(t *testing.T) {
	clk := &clock{now: now}
	down := false
	hosp := &fakeSource{name: "hosp", sector: aggregator.SectorHospital, fetch: func(context.Context, aggregator.PatientRef, aggregator.Window) (aggregator.Batch, error) {
		if down {
			return aggregator.Batch{}, &aggregator.SourceError{Source: "hosp", Kind: aggregator.Unavailable, Err: errors.New("refused")}
		}
		return aggregator.Batch{Entries: []aggregator.Entry{appt("hosp/Appointment/1", now.Add(time.Hour))}, PatientName: "Birthe Madsen"}, nil
	}}
	gp := &fakeSource{name: "gp", sector: aggregator.SectorGP, fetch: func(context.Context, aggregator.PatientRef, aggregator.Window) (aggregator.Batch, error) {
		return aggregator.Batch{}, &aggregator.SourceError{Source: "gp", Kind: aggregator.NotFound}
	}}
	never := &fakeSource{name: "never", sector: aggregator.SectorOther, fetch: returning()}
	named := map[string]string{}
	svc, err := aggregator.New([]aggregator.Registration{{Source: hosp}, {Source: gp}, {Source: never}}, backend(nil, nil), aggregator.Options{
		Now: clk.Now, Named: func(_ context.Context, h, name string) { named[h] = name }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	states := func() map[string]aggregator.SourceState {
		out := map[string]aggregator.SourceState{}
		for _, st := range svc.SourceStates() {
			out[st.Name] = st
		}
		return out
	}
	if st := states()["hosp"]; st.Asked() || st.Down {
		t.Errorf("before any fetch: %+v", st)
	}
	if _, err := svc.Refresh(context.Background(), patient); err != nil {
		t.Fatal(err)
	}
	if named[patient.Handle] != "Birthe Madsen" {
		t.Errorf("Named heard %v", named)
	}
	st := states()
	if !st["hosp"].Asked() || st["hosp"].Down || !st["hosp"].LastSuccess.Equal(now) {
		t.Errorf("hosp after a success: %+v", st["hosp"])
	}
	if st["gp"].Down || !st["gp"].LastSuccess.Equal(now) {
		t.Errorf("gp that does not know the patient answered: %+v", st["gp"])
	}
	down = true
	clk.Add(time.Minute)
	other := aggregator.PatientRef{Handle: "h2", Identifier: aggregator.Identifier{System: patient.Identifier.System, Value: "0101901234"}}
	if _, err := svc.Refresh(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	st = states()
	if !st["hosp"].Down || st["hosp"].FailureKind != aggregator.Unavailable || !st["hosp"].LastFailure.Equal(now.Add(time.Minute)) || !st["hosp"].LastSuccess.Equal(now) {
		t.Errorf("hosp after a failure: %+v", st["hosp"])
	}
	if _, ok := named[other.Handle]; ok {
		t.Errorf("a name heard from a build in which no source gave one: %v", named)
	}
	if got := svc.SourceStates(); len(got) != 3 || got[0].Name != "hosp" || got[2].Name != "never" || got[0].Sector != aggregator.SectorHospital {
		t.Errorf("SourceStates in configuration order: %+v", got)
	}
}
