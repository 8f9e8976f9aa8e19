package fhirsource

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/fhir"
	"github.com/overblik/overblik/fhir/fhirsim"
)

// switchable serves from one fhirsim and then another, as a server whose
// data changes, and records the query of every search.
type switchable struct {
	mu      sync.Mutex
	h       http.Handler
	queries []url.Values // Appointment searches
}

func (s *switchable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	h := s.h
	if r.URL.Path == "/Appointment" && r.URL.Query().Get("_page") == "" {
		s.queries = append(s.queries, r.URL.Query())
	}
	s.mu.Unlock()
	h.ServeHTTP(w, r)
}

func (s *switchable) serve(t *testing.T, resources []string) {
	t.Helper()
	var raws []json.RawMessage
	for _, r := range resources {
		raws = append(raws, json.RawMessage(r))
	}
	sim, err := fhirsim.New(raws, fhirsim.Options{TimeZone: cph})
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.h = sim
	s.mu.Unlock()
}

func (s *switchable) lastQuery() url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[len(s.queries)-1]
}

func appt(id, status, start, updated string) string {
	return `{"resourceType":"Appointment","id":"` + id + `","meta":{"lastUpdated":"` + updated + `"},"status":"` + status + `","start":"` + start + `",
	  "participant":[{"actor":{"reference":"Patient/pat-1"},"status":"accepted"}]}`
}

func TestIncrementalRefresh(t *testing.T) {
	patient := fixture[0]
	v1 := []string{patient,
		appt("a1", "booked", "2026-12-01T10:00:00+01:00", "2026-11-20T08:00:00Z"),
		appt("a2", "booked", "2026-12-02T10:00:00+01:00", "2026-11-20T09:00:00Z"),
		appt("a5", "booked", "2026-12-05T10:00:00+01:00", "2026-11-20T07:00:00Z"),
	}
	v2 := []string{patient,
		appt("a1", "cancelled", "2026-12-01T10:00:00+01:00", "2026-11-21T10:00:00Z"), // changed
		// a2 deleted
		appt("a3", "booked", "2026-12-03T10:00:00+01:00", "2026-11-21T10:00:00Z"),           // new
		appt("a5", "booked", "2027-03-05T10:00:00+01:00", "2026-11-21T11:00:00Z"),           // moved out of the window
		appt("a6", "entered-in-error", "2026-12-06T10:00:00+01:00", "2026-11-21T11:00:00Z"), // new, in error
	}
	sw := &switchable{}
	sw.serve(t, v1)
	srv := httptest.NewServer(sw)
	t.Cleanup(srv.Close)

	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	s, err := New(Config{Name: "auh", Sector: aggregator.SectorHospital, BaseURL: srv.URL, PageSize: 2, Location: cph,
		Incremental: true, FullReread: 24 * time.Hour, Now: func() time.Time { return now }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	summary := func(b aggregator.Batch) string {
		var out []string
		for _, e := range b.Entries {
			out = append(out, strings.TrimPrefix(e.ID, "auh/Appointment/")+":"+string(e.Status))
		}
		return strings.Join(out, " ")
	}
	steps := []struct {
		name      string
		advance   time.Duration
		window    aggregator.Window
		serve     []string
		wantFull  bool
		wantSince string
		want      string
	}{
		{name: "first fetch reads everything", window: window, wantFull: true,
			want: "a1:booked a2:booked a5:booked"},
		{name: "changes only", advance: time.Hour, window: window, serve: v2, wantSince: "ge2026-11-20T09:00:00Z",
			want: "a1:cancelled a2:booked a3:booked a6:entered-in-error"}, // a2's deletion is not visible yet
		{name: "again: nothing new", advance: time.Hour, window: window, wantSince: "ge2026-11-21T11:00:00Z",
			want: "a1:cancelled a2:booked a3:booked a6:entered-in-error"},
		{name: "a window beyond what was read", advance: time.Hour, window: aggregator.Window{From: window.From, To: window.To.Add(48 * time.Hour)}, wantFull: true,
			want: "a1:cancelled a3:booked a6:entered-in-error"},
		{name: "the daily full re-read notices the deletion", advance: 25 * time.Hour, window: window, serve: v2, wantFull: true,
			want: "a1:cancelled a3:booked a6:entered-in-error"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			now = now.Add(st.advance)
			if st.serve != nil {
				sw.serve(t, st.serve)
			}
			b, err := s.Fetch(context.Background(), anna, st.window)
			if err != nil {
				t.Fatal(err)
			}
			q := sw.lastQuery()
			if full := q.Get("_lastUpdated") == ""; full != st.wantFull {
				t.Errorf("query %v: full read %v, want %v", q, full, st.wantFull)
			}
			if !st.wantFull {
				check(t, "_lastUpdated", q.Get("_lastUpdated"), st.wantSince)
				if q.Has("date") {
					t.Errorf("incremental query %v has a date filter: moved entries would go unnoticed", q)
				}
			}
			check(t, "entries", summary(b), st.want)
		})
	}
}

func TestIncrementalStateIsBounded(t *testing.T) {
	other := aggregator.PatientRef{Handle: "b", Identifier: aggregator.Identifier{System: cpr, Value: "3102991234"}}
	_, base := startSim(t, fixture, fhirsim.Options{TimeZone: cph})
	s, err := New(Config{Name: "auh", BaseURL: base, Location: cph, Incremental: true, MaxPatients: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []aggregator.PatientRef{anna, other, anna} {
		if _, err := s.Fetch(context.Background(), p, window); err != nil {
			t.Fatal(err)
		}
		if n := len(s.state); n != 1 {
			t.Fatalf("%d patients kept, want at most 1", n)
		}
	}
}

// TestIncludedPartiesAreUsed serves included parties with the searches and
// fails every read: names must come from the includes.
func TestIncludedPartiesAreUsed(t *testing.T) {
	var mu sync.Mutex
	var reads int
	var includes []string
	bundle := func(resources ...string) string {
		var entries []string
		for _, r := range resources {
			entries = append(entries, `{"resource":`+r+`}`)
		}
		return `{"resourceType":"Bundle","type":"searchset","entry":[` + strings.Join(entries, ",") + `]}`
	}
	clinic := `{"resourceType":"Location","id":"clinic","name":"Øjenklinikken","address":{"text":"Palle Juul-Jensens Boulevard 99, 8200 Aarhus N"}}`
	doctor := `{"resourceType":"Practitioner","id":"doc","name":[{"given":["Hanne"],"family":"Sørensen"}]}`
	hospital := `{"resourceType":"Organization","id":"auh","name":"Aarhus Universitetshospital"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		mu.Lock()
		includes = append(includes, r.URL.Query()["_include"]...)
		for _, v := range r.URL.Query()["_include:iterate"] {
			includes = append(includes, "iterate "+v)
		}
		mu.Unlock()
		switch r.URL.Path {
		case "/Patient":
			w.Write([]byte(bundle(fixture[0])))
		case "/Appointment":
			w.Write([]byte(bundle(`{"resourceType":"Appointment","id":"a1","status":"booked","start":"2026-12-01T10:00:00+01:00",
			  "participant":[{"actor":{"reference":"Patient/pat-1"},"status":"accepted"},{"actor":{"reference":"Location/clinic"},"status":"accepted"},{"actor":{"reference":"Practitioner/doc"},"status":"accepted"}]}`,
				fixture[0], clinic, doctor)))
		case "/Encounter":
			w.Write([]byte(bundle(`{"resourceType":"Encounter","id":"e1","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/pat-1"},"period":{"start":"2026-12-02T10:00:00+01:00"},
			  "location":[{"location":{"reference":"Location/clinic"}}],"serviceProvider":{"reference":"Organization/auh"}}`, clinic, hospital)))
		default:
			mu.Lock()
			reads++
			mu.Unlock()
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)
	s, err := New(Config{Name: "auh", BaseURL: srv.URL, Location: cph, Include: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Fetch(context.Background(), anna, window)
	if err != nil {
		t.Fatal(err)
	}
	if b.Skipped != 0 || len(b.Entries) != 2 {
		t.Fatalf("%d entries, %d skipped (%q); want 2 and none: included resources are not matches", len(b.Entries), b.Skipped, b.Notes)
	}
	a, e := b.Entries[0], b.Entries[1]
	check(t, "appointment place", a.Place.Name, "Øjenklinikken")
	check(t, "appointment people", strings.Join(a.People, ","), "Hanne Sørensen")
	check(t, "encounter address", e.Place.Address, "Palle Juul-Jensens Boulevard 99, 8200 Aarhus N")
	check(t, "encounter organisation", e.Organization, "Aarhus Universitetshospital")
	mu.Lock()
	defer mu.Unlock()
	check(t, "reads", reads, 0)
	slices.Sort(includes)
	want := []string{"Appointment:actor", "Encounter:location", "Encounter:participant", "Encounter:service-provider",
		"iterate PractitionerRole:practitioner", "iterate PractitionerRole:practitioner"}
	if !slices.Equal(includes, want) {
		t.Errorf("_include sent: %q, want %q", includes, want)
	}
}

// TestIncrementalOnAServerIgnoringLastUpdated: the changes-only search then
// returns everything the patient has and hits the page cap; the connector
// reads the window instead of failing.
func TestIncrementalOnAServerIgnoringLastUpdated(t *testing.T) {
	sim := simHandler(t, []string{fixture[0],
		appt("a1", "booked", "2026-12-01T10:00:00+01:00", "2026-11-20T08:00:00Z"),
		appt("a2", "booked", "2026-12-02T10:00:00+01:00", "2026-11-20T09:00:00Z"),
		appt("old1", "fulfilled", "2025-01-01T10:00:00+01:00", "2025-01-01T08:00:00Z"),
		appt("old2", "fulfilled", "2025-01-02T10:00:00+01:00", "2025-01-02T08:00:00Z"),
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		q.Del("_lastUpdated")
		r.URL.RawQuery = q.Encode()
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s, err := New(Config{Name: "auh", BaseURL: srv.URL, PageSize: 2, Location: cph, Incremental: true,
		Client: fhir.Options{MaxPages: 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		b, err := s.Fetch(context.Background(), anna, window)
		if err != nil {
			t.Fatalf("fetch %d: %v", i, err)
		}
		if len(b.Entries) != 2 {
			t.Errorf("fetch %d: %d entries, want 2", i, len(b.Entries))
		}
	}
}

// TestIncrementalOnAServerRefusingLastUpdated: asked for strict handling, a
// server without _lastUpdated refuses the changes-only search; the connector
// reads the window instead of failing every fetch until the next full read.
func TestIncrementalOnAServerRefusingLastUpdated(t *testing.T) {
	sim := simHandler(t, []string{fixture[0],
		appt("a1", "booked", "2026-12-01T10:00:00+01:00", "2026-11-20T08:00:00Z"),
		appt("a2", "booked", "2026-12-02T10:00:00+01:00", "2026-11-20T09:00:00Z"),
	})
	var refused atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("_lastUpdated") && r.Header.Get("Prefer") == "handling=strict" {
			refused.Add(1)
			status(http.StatusBadRequest)(w, r)
			return
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s, err := New(Config{Name: "auh", BaseURL: srv.URL, Location: cph, Incremental: true, Client: fhir.Options{MaxAttempts: 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		b, err := s.Fetch(context.Background(), anna, window)
		if err != nil {
			t.Fatalf("fetch %d: %v", i, err)
		}
		if len(b.Entries) != 2 {
			t.Errorf("fetch %d: %d entries, want 2", i, len(b.Entries))
		}
	}
	if refused.Load() == 0 {
		t.Error("the second fetch did not try _lastUpdated")
	}
}

// TestIncludeRefused: a server without _include refuses it under strict
// handling; the connector searches without it, reads the parties instead,
// and does not ask for it again.
func TestIncludeRefused(t *testing.T) {
	sim := simHandler(t, fixture)
	var withInclude atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("_include") && r.Header.Get("Prefer") == "handling=strict" {
			withInclude.Add(1)
			status(http.StatusBadRequest)(w, r)
			return
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s, err := New(Config{Name: "auh", BaseURL: srv.URL, Location: cph, Include: true, Client: fhir.Options{MaxAttempts: 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		b, err := s.Fetch(context.Background(), anna, window)
		if err != nil {
			t.Fatalf("fetch %d: %v", i, err)
		}
		if len(b.Entries) != 3 {
			t.Errorf("fetch %d: %d entries, want 3", i, len(b.Entries))
		}
		for _, e := range b.Entries {
			if e.ID == "auh/Appointment/a1" && e.Place.Name != "Øjenklinikken" {
				t.Errorf("fetch %d: the Location was not read instead: %+v", i, e.Place)
			}
		}
	}
	if n := withInclude.Load(); n == 0 || n > 2 {
		t.Errorf("%d searches with _include, want the first fetch's (one or two) only", n)
	}
}
