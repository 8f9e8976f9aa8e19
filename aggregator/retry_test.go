package aggregator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
	"github.com/overblik/overblik/fhir"
	"github.com/overblik/overblik/fhir/fhirsim"
	"github.com/overblik/overblik/sources/fhirsource"
)

// simSource is a FHIR source on loopback: fhirsim behind a real HTTP
// server, read by the FHIR connector with its circuit breaker, which opens
// at the first failed call and cools down from 200ms to 1s.
type simSource struct {
	sim *fhirsim.Server
	reg aggregator.Registration
}

func startSimSource(t *testing.T, name string, sector aggregator.Sector, start time.Time) simSource {
	t.Helper()
	res := []json.RawMessage{
		json.RawMessage(`{"resourceType":"Patient","id":"p","identifier":[{"system":"urn:oid:1.2.208.176.1.2","value":"3002991234"}]}`),
		json.RawMessage(fmt.Sprintf(`{"resourceType":"Appointment","id":"a1","status":"booked","description":"Aftale hos %s",`+
			`"start":%q,"end":%q,"participant":[{"actor":{"reference":"Patient/p"},"status":"accepted"}]}`,
			name, start.Format(time.RFC3339), start.Add(30*time.Minute).Format(time.RFC3339))),
	}
	sim, err := fhirsim.New(res, fhirsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	src, err := fhirsource.New(fhirsource.Config{Name: name, Sector: sector, BaseURL: srv.URL,
		Client: fhir.Options{MaxAttempts: 1, BreakerThreshold: 1, BreakerCooldown: 200 * time.Millisecond, BreakerCooldownMax: time.Second}}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return simSource{sim: sim, reg: aggregator.Registration{Source: src, Display: name, Timeout: 2 * time.Second}}
}

// statusIn returns source name's status in t.
func statusIn(t *testing.T, tl *aggregator.Timeline, name string) aggregator.SourceStatus {
	t.Helper()
	for _, st := range tl.Sources {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no status of %s in the timeline", name)
	return aggregator.SourceStatus{}
}

// eventually polls cond every 20ms until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAFailedSourceIsRetriedUntilItAnswers: a source that goes down for a
// patient who is looking is asked again in the background, and when it is
// back the cached timeline has it again within seconds: not after the hour
// the timeline stays fresh for, and with nobody reading or refreshing. The
// retries are paced as the breaker's cool-down is (200ms doubling to 1s
// here; 2s to 8s by default).
func TestAFailedSourceIsRetriedUntilItAnswers(t *testing.T) {
	start := time.Now().Add(24 * time.Hour).Truncate(time.Hour)
	hospital := startSimSource(t, "hospital", aggregator.SectorHospital, start)
	gp := startSimSource(t, "gp", aggregator.SectorGP, start.Add(3*time.Hour))
	svc, err := aggregator.New([]aggregator.Registration{hospital.reg, gp.reg}, memcache.NewBackend(0),
		aggregator.Options{FreshFor: time.Hour, RetryFirst: 200 * time.Millisecond, RetryMax: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	ctx := context.Background()
	if tl, err := svc.Timeline(ctx, patient); err != nil || tl.Stale() || len(tl.Entries) != 2 {
		t.Fatalf("first read: %v, %+v", err, tl)
	}

	gp.sim.SetDown(true)
	if _, err := svc.Refresh(ctx, patient); err != nil {
		t.Fatal(err)
	}
	tl, err := svc.Timeline(ctx, patient) // the patient sees the GP fail
	if err != nil {
		t.Fatal(err)
	}
	if st := statusIn(t, tl, "gp"); st.OK || st.ErrorKind != aggregator.Unavailable {
		t.Fatalf("GP status while down: %+v", st)
	}
	asked := gp.sim.Requests()
	eventually(t, 10*time.Second, "the GP is asked again while down", func() bool { return gp.sim.Requests() > asked })
	if st := cachedStatus(t, svc, "gp"); st.OK {
		t.Fatalf("the GP is down, yet its status is %+v", st)
	}

	gp.sim.SetDown(false)
	eventually(t, 15*time.Second, "the cached timeline has the GP again", func() bool { return cachedStatus(t, svc, "gp").OK })
	tl, _, _ = svc.Cached(ctx, patient.Handle)
	if tl.Stale() || len(tl.Entries) != 2 {
		t.Errorf("after the GP came back: stale %v, %d entries", tl.Stale(), len(tl.Entries))
	}
	for _, e := range tl.Entries {
		if e.Stale {
			t.Errorf("entry %s is still marked stale", e.ID)
		}
	}
}

// cachedStatus is source name's status in the cached timeline of patient,
// read without refreshing anything.
func cachedStatus(t *testing.T, svc *aggregator.Service, name string) aggregator.SourceStatus {
	t.Helper()
	tl, ok, err := svc.Cached(context.Background(), patient.Handle)
	if err != nil || !ok {
		t.Fatalf("cached timeline: %v, %v", ok, err)
	}
	return statusIn(t, tl, name)
}

// TestAReadAfterTheSourceAnsweredRefreshes: a timeline built while a source
// was down is refreshed at its next read once that source has answered for
// anyone, though it is young enough to be served as is otherwise. (Retries
// are off here, so only the read can bring it.)
func TestAReadAfterTheSourceAnsweredRefreshes(t *testing.T) {
	start := time.Now().Add(24 * time.Hour).Truncate(time.Hour)
	gp := startSimSource(t, "gp", aggregator.SectorGP, start)
	svc, err := aggregator.New([]aggregator.Registration{gp.reg}, memcache.NewBackend(0),
		aggregator.Options{FreshFor: time.Hour, RetryFirst: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	ctx := context.Background()
	other := aggregator.PatientRef{Handle: "h2", Identifier: patient.Identifier}
	gp.sim.SetDown(true)
	for _, p := range []aggregator.PatientRef{patient, other} {
		if tl, err := svc.Timeline(ctx, p); err != nil || !tl.Stale() {
			t.Fatalf("read while down: %v, %+v", err, tl)
		}
	}
	gp.sim.SetDown(false)
	// The breaker opened at the first failure: wait out its cool-down.
	eventually(t, 15*time.Second, "the GP answers a refresh", func() bool {
		tl, err := svc.Refresh(ctx, other)
		return err == nil && !tl.Stale()
	})
	if tl, err := svc.Timeline(ctx, patient); err != nil || !tl.Stale() {
		t.Fatalf("the read that notices: %v, %+v (it serves what was cached)", err, tl)
	}
	eventually(t, 5*time.Second, "the read refreshed the timeline", func() bool { return cachedStatus(t, svc, "gp").OK })
}
