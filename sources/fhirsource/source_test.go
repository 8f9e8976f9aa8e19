package fhirsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/fhir"
	"github.com/overblik/overblik/fhir/fhirsim"
)

const cpr = "urn:oid:1.2.208.176.1.2"

var (
	anna   = aggregator.PatientRef{Handle: "anna", Identifier: aggregator.Identifier{System: cpr, Value: "3002991234"}}
	window = aggregator.Window{From: time.Date(2026, 11, 1, 0, 0, 0, 0, cph), To: time.Date(2027, 1, 1, 0, 0, 0, 0, cph)}
)

// fixture is a small hospital: one patient, a clinic, appointments inside
// and outside the window, an encounter for one of them, and bad resources.
var fixture = []string{
	`{"resourceType":"Patient","id":"pat-1","identifier":[{"system":"urn:oid:1.2.208.176.1.2","value":"3002991234"}]}`,
	`{"resourceType":"Patient","id":"pat-2","identifier":[{"system":"urn:oid:1.2.208.176.1.2","value":"3102991234"}]}`,
	`{"resourceType":"Location","id":"clinic","name":"Øjenklinikken","address":{"line":["Palle Juul-Jensens Boulevard 99"],"postalCode":"8200","city":"Aarhus N"},"position":{"latitude":56.19,"longitude":10.17}}`,
	`{"resourceType":"Appointment","id":"a1","status":"booked","serviceType":[{"text":"Øjenkontrol"}],"start":"2026-12-01T10:00:00+01:00","end":"2026-12-01T10:30:00+01:00",
	  "participant":[{"actor":{"reference":"Patient/pat-1"},"status":"accepted"},{"actor":{"reference":"Location/clinic"},"status":"accepted"}]}`,
	`{"resourceType":"Appointment","id":"a2","status":"fulfilled","serviceType":[{"text":"Blodprøve"}],"start":"2026-11-10T09:00:00+01:00","end":"2026-11-10T09:10:00+01:00",
	  "participant":[{"actor":{"reference":"Patient/pat-1"},"status":"accepted"}]}`,
	`{"resourceType":"Encounter","id":"e2","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/pat-1"},"appointment":[{"reference":"Appointment/a2"}],
	  "period":{"start":"2026-11-10T09:04:00+01:00","end":"2026-11-10T09:12:00+01:00"}}`,
	`{"resourceType":"Appointment","id":"old","status":"fulfilled","start":"2025-01-10T09:00:00+01:00","participant":[{"actor":{"reference":"Patient/pat-1"},"status":"accepted"}]}`,
	`{"resourceType":"Appointment","id":"other","status":"booked","start":"2026-12-02T09:00:00+01:00","participant":[{"actor":{"reference":"Patient/pat-2"},"status":"accepted"}]}`,
	`{"resourceType":"Appointment","id":"nostart","status":"proposed","participant":[{"actor":{"reference":"Patient/pat-1"},"status":"accepted"}],"requestedPeriod":[{"start":"2026-12-01T00:00:00+01:00"}]}`,
}

func startSim(t *testing.T, resources []string, opts fhirsim.Options) (*fhirsim.Server, string) {
	t.Helper()
	var raws []json.RawMessage
	for _, r := range resources {
		raws = append(raws, json.RawMessage(r))
	}
	sim, err := fhirsim.New(raws, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return sim, srv.URL
}

func newSource(t *testing.T, base string, pageSize int) *Source {
	t.Helper()
	s, err := New(Config{Name: "auh", Sector: aggregator.SectorHospital, BaseURL: base, PageSize: pageSize, Location: cph}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFetchAgainstSimulator(t *testing.T) {
	sim, base := startSim(t, fixture, fhirsim.Options{TimeZone: cph})
	s := newSource(t, base, 1) // one per page: paging is exercised
	b, err := s.Fetch(context.Background(), anna, window)
	first := sim.Requests()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range b.Entries {
		got = append(got, e.ID)
	}
	want := []string{"auh/Appointment/a2", "auh/Appointment/a1", "auh/Encounter/e2"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("entries = %v, want %v (window and patient filtered)", got, want)
	}
	if b.Skipped != 0 {
		t.Errorf("skipped = %d, notes = %v; want none", b.Skipped, b.Notes)
	}
	for _, e := range b.Entries {
		if e.ID == "auh/Appointment/a1" && (e.Place.Name != "Øjenklinikken" || e.Place.Lat == nil) {
			t.Errorf("referenced Location not resolved: %+v", e.Place)
		}
		if e.ID == "auh/Encounter/e2" && (len(e.PartOf) != 1 || e.PartOf[0] != "auh/Appointment/a2") {
			t.Errorf("encounter PartOf = %v", e.PartOf)
		}
	}

	// The patient id and the Location are remembered: a second fetch makes
	// the same searches without the patient look-up and the Location read.
	if _, err := s.Fetch(context.Background(), anna, window); err != nil {
		t.Fatal(err)
	}
	if second := sim.Requests() - first; second != first-2 {
		t.Errorf("second fetch made %d requests, first %d; want 2 fewer (patient id and Location cached)", second, first)
	}
}

func TestFetchErrors(t *testing.T) {
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		patient  aggregator.PatientRef
		resource []string
		want     aggregator.ErrorKind
	}{
		{name: "unknown patient", resource: fixture, patient: aggregator.PatientRef{Identifier: aggregator.Identifier{System: cpr, Value: "0000000000"}}, want: aggregator.NotFound},
		{name: "two patients for one identifier", resource: append([]string{`{"resourceType":"Patient","id":"dup","identifier":[{"system":"urn:oid:1.2.208.176.1.2","value":"3002991234"}]}`}, fixture...), patient: anna, want: aggregator.Invalid},
		{name: "401", handler: status(401), patient: anna, want: aggregator.Unauthorized},
		{name: "403", handler: status(403), patient: anna, want: aggregator.Unauthorized},
		{name: "404", handler: status(404), patient: anna, want: aggregator.NotFound},
		{name: "500", handler: status(500), patient: anna, want: aggregator.Unavailable},
		{name: "429", handler: status(429), patient: anna, want: aggregator.Unavailable},
		{name: "garbage", handler: func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>oops")) }, patient: anna, want: aggregator.Invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var base string
			if tc.handler != nil {
				srv := httptest.NewServer(tc.handler)
				t.Cleanup(srv.Close)
				base = srv.URL
			} else {
				_, base = startSim(t, tc.resource, fhirsim.Options{TimeZone: cph})
			}
			_, err := newSource(t, base, 50).Fetch(context.Background(), tc.patient, window)
			var se *aggregator.SourceError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a *SourceError", err)
			}
			if se.Kind != tc.want || se.Source != "auh" {
				t.Errorf("kind = %s from %s, want %s from auh (%v)", se.Kind, se.Source, tc.want, err)
			}
			if strings.Contains(err.Error(), tc.patient.Identifier.Value) && tc.patient.Identifier.Value != "" {
				t.Errorf("error %q contains the CPR", err)
			}
		})
	}
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		w.WriteHeader(code)
		w.Write([]byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing","diagnostics":"nope"}]}`))
	}
}

func TestFetchHonoursContext(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := newSource(t, srv.URL, 50).Fetch(ctx, anna, window)
	var se *aggregator.SourceError
	if !errors.As(err, &se) || se.Kind != aggregator.Timeout {
		t.Fatalf("err = %v, want a timeout SourceError", err)
	}
}

func TestBadResourcesAreSkippedNotFatal(t *testing.T) {
	res := append([]string{
		`{"resourceType":"Appointment","id":"nostatus","start":"2026-12-03T09:00:00+01:00","participant":[{"actor":{"reference":"Patient/pat-1"},"status":"accepted"}]}`,
		`{"resourceType":"Appointment","id":"bad-end","status":"booked","start":"2026-12-03T09:00:00+01:00","end":"2026-12-03T08:00:00+01:00","participant":[{"actor":{"reference":"Patient/pat-1"},"status":"accepted"}]}`,
	}, fixture...)
	_, base := startSim(t, res, fhirsim.Options{TimeZone: cph})
	b, err := newSource(t, base, 50).Fetch(context.Background(), anna, window)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Entries) != 3 || b.Skipped != 2 {
		t.Errorf("entries %d, skipped %d (%v); want 3 good entries and 2 skipped", len(b.Entries), b.Skipped, b.Notes)
	}
}

// TestWrongResourceTypeInSearchIsSkipped serves a search answer holding a
// Patient where Appointments were asked for.
func TestWrongResourceTypeInSearchIsSkipped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		var entries []string
		switch r.URL.Path {
		case "/Patient":
			entries = []string{fixture[0]}
		case "/Appointment":
			entries = []string{fixture[3], `{"resourceType":"Patient","id":"x"}`}
		}
		body := `{"resourceType":"Bundle","type":"searchset","entry":[`
		for i, e := range entries {
			if i > 0 {
				body += ","
			}
			body += `{"resource":` + e + `}`
		}
		w.Write([]byte(body + `]}`))
	}))
	t.Cleanup(srv.Close)
	b, err := newSource(t, srv.URL, 50).Fetch(context.Background(), anna, window)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Entries) != 1 || b.Skipped != 1 {
		t.Errorf("entries %d, skipped %d; want 1 and 1", len(b.Entries), b.Skipped)
	}
}

// TestMedComHospitalNotification reads the real MedCom examples through the
// simulator: an in-progress inpatient admission with an open period.
func TestMedComHospitalNotification(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "fhir-examples", "medcom-dk")
	var res []string
	for _, f := range []string{
		"hospitalnotification-Patient-t33cef33-3626-422b-955d-d506aaa65fe1.json",
		"hospitalnotification-Encounter-a790f964-88d3-4652-bbc8-81d2f3d035f8.json",
	} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("the shared FHIR examples are required: %v", err)
		}
		res = append(res, string(b))
	}
	_, base := startSim(t, res, fhirsim.Options{TimeZone: cph})
	elmer := aggregator.PatientRef{Handle: "elmer", Identifier: aggregator.Identifier{System: cpr, Value: "2509479989"}}
	w := aggregator.Window{From: time.Date(2022, 11, 1, 0, 0, 0, 0, cph), To: time.Date(2023, 1, 1, 0, 0, 0, 0, cph)}
	b, err := newSource(t, base, 10).Fetch(context.Background(), elmer, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Entries) != 1 {
		t.Fatalf("got %d entries, want the one admission", len(b.Entries))
	}
	e := b.Entries[0]
	check(t, "id", e.ID, "auh/Encounter/a790f964-88d3-4652-bbc8-81d2f3d035f8")
	check(t, "kind", e.Kind, aggregator.KindAdmission)
	check(t, "status", e.Status, aggregator.StatusInProgress)
	check(t, "start", e.Start, ts("2022-12-07T12:00:00+02:00"))
	if !e.End.IsZero() {
		t.Errorf("end = %v, want open", e.End)
	}
}

func TestTokenRefusalIsUnauthorized(t *testing.T) {
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
	}))
	t.Cleanup(tokens.Close)
	_, base := startSim(t, fixture, fhirsim.Options{TimeZone: cph})
	hc, err := fhir.NewHTTPClient(fhir.Auth{Kind: fhir.AuthClientCredentials, TokenURL: tokens.URL, ClientID: "overblik", ClientSecret: []byte("s3cret-value")})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Name: "auh", Sector: aggregator.SectorHospital, BaseURL: base, Location: cph}, hc)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Fetch(context.Background(), anna, window)
	var se *aggregator.SourceError
	if !errors.As(err, &se) || se.Kind != aggregator.Unauthorized {
		t.Fatalf("err = %v, want an Unauthorized SourceError", err)
	}
	if strings.Contains(err.Error(), "s3cret-value") {
		t.Errorf("error carries the client secret: %v", err)
	}
}

func TestOpenBreakerFailsFastAsUnavailable(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		status(500)(w, r)
	}))
	t.Cleanup(srv.Close)
	s, err := New(Config{Name: "auh", Sector: aggregator.SectorHospital, BaseURL: srv.URL, Location: cph,
		Client: fhir.Options{MaxAttempts: 1, BreakerThreshold: 1, BreakerCooldown: time.Minute}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fetch(context.Background(), anna, window); aggregator.KindOf(err) != aggregator.Unavailable {
		t.Fatalf("first fetch: %v, want unavailable", err)
	}
	before := hits.Load()
	_, err = s.Fetch(context.Background(), anna, window)
	if aggregator.KindOf(err) != aggregator.Unavailable || !errors.Is(err, fhir.ErrCircuitOpen) {
		t.Errorf("second fetch: %v, want unavailable from the open breaker", err)
	}
	// It says when the breaker lets a trial through, so retries wait for it.
	var se *aggregator.SourceError
	if !errors.As(err, &se) || se.RetryAfter <= 50*time.Second || se.RetryAfter > time.Minute {
		t.Errorf("second fetch: %#v, want RetryAfter the rest of the minute's cool-down", se)
	}
	if hits.Load() != before || s.BreakerState() != fhir.BreakerOpen {
		t.Errorf("open breaker let %d requests through; state %v", hits.Load()-before, s.BreakerState())
	}
}

// TestOneFetchClosesTheBreaker: once the server is back and the cool-down
// is over, the next fetch is the breaker's trial and succeeds: its searches
// go one after the other, so the one that is not the trial is not refused
// (which would cancel the trial and keep the breaker open).
func TestOneFetchClosesTheBreaker(t *testing.T) {
	sim, base := startSim(t, fixture, fhirsim.Options{TimeZone: cph})
	s, err := New(Config{Name: "auh", Sector: aggregator.SectorHospital, BaseURL: base, Location: cph,
		Client: fhir.Options{MaxAttempts: 1, BreakerThreshold: 1, BreakerCooldown: 50 * time.Millisecond}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fetch(context.Background(), anna, window); err != nil {
		t.Fatalf("fetch while up: %v", err) // the patient's id is known from now on
	}
	sim.SetDown(true)
	if _, err := s.Fetch(context.Background(), anna, window); aggregator.KindOf(err) != aggregator.Unavailable {
		t.Fatalf("fetch while down: %v, want unavailable", err)
	}
	if got := s.BreakerState(); got != fhir.BreakerOpen {
		t.Fatalf("breaker after the failure: %v, want open", got)
	}
	sim.SetDown(false)
	for deadline := time.Now().Add(5 * time.Second); s.BreakerState() != fhir.BreakerHalfOpen; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("breaker never cooled down: %v", s.BreakerState())
		}
	}
	b, err := s.Fetch(context.Background(), anna, window)
	if err != nil {
		t.Fatalf("the first fetch after the cool-down: %v", err)
	}
	if len(b.Entries) == 0 || s.BreakerState() != fhir.BreakerClosed {
		t.Errorf("after the trial: %d entries, breaker %v; want entries and closed", len(b.Entries), s.BreakerState())
	}
}

// TestByteBudget: a fetch whose pages together run over MaxBytes fails as
// cut off, as one over the page cap does, although each page is small and
// the page cap far away.
func TestByteBudget(t *testing.T) {
	res := []string{fixture[0]}
	for i := range 40 {
		res = append(res, fmt.Sprintf(`{"resourceType":"Appointment","id":"many-%d","status":"booked","description":"Kontrol %d","start":"2026-12-%02dT10:00:00+01:00",
		  "participant":[{"actor":{"reference":"Patient/pat-1"},"status":"accepted"}]}`, i, i, 1+i%28))
	}
	_, base := startSim(t, res, fhirsim.Options{TimeZone: cph})
	fetch := func(maxBytes int64) (aggregator.Batch, error) {
		s, err := New(Config{Name: "auh", BaseURL: base, PageSize: 5, MaxBytes: maxBytes, Location: cph}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s.Fetch(context.Background(), anna, window)
	}
	b, err := fetch(0) // the default
	if err != nil || len(b.Entries) != 40 {
		t.Fatalf("with the default budget: %d entries, err %v; want 40", len(b.Entries), err)
	}
	_, err = fetch(8 << 10) // less than the pages of 40 appointments hold
	var se *aggregator.SourceError
	if !errors.As(err, &se) || se.Kind != aggregator.Invalid || !errors.Is(err, errTruncated) || !strings.Contains(se.Msg, "byte budget of 8192 bytes") {
		t.Fatalf("err = %v, want an Invalid SourceError saying the search was cut off at the byte budget", err)
	}
}
