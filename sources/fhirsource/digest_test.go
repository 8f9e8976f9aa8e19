package fhirsource

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/fhir"
	"github.com/overblik/overblik/fhir/fhirsim"
)

// A reading's digest is the same while the server says the same, and
// changes with anything the entries rest on: a resource, an included
// party, the window.
func TestReadingDigest(t *testing.T) {
	ctx := context.Background()
	sim, err := fhirsim.New(rawAll(fixture), fhirsim.Options{TimeZone: cph})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(includingClinic(sim))
	t.Cleanup(srv.Close)
	s, err := New(Config{Name: "auh", Sector: aggregator.SectorHospital, BaseURL: srv.URL, Location: cph, Include: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	read := func(w aggregator.Window) aggregator.Reading {
		t.Helper()
		r, err := s.Read(ctx, anna, w)
		if err != nil {
			t.Fatal(err)
		}
		if r.Digest == "" {
			t.Fatal("a reading without a digest")
		}
		return r
	}
	first := read(window)
	if again := read(window); again.Digest != first.Digest {
		t.Fatalf("the same answer twice: digests %s and %s", first.Digest, again.Digest)
	}
	other := window
	other.From = other.From.AddDate(0, 0, 1)
	if r := read(other); r.Digest == first.Digest {
		t.Error("another window, the same digest")
	}

	// The clinic moved: it comes included, so the digest changes, and the
	// reading normalises to the new address.
	if err := sim.Put(json.RawMessage(`{"resourceType":"Location","id":"clinic","name":"Øjenklinikken","address":{"line":["Hedeager 1"],"postalCode":"8200","city":"Aarhus N"}}`)); err != nil {
		t.Fatal(err)
	}
	moved := read(window)
	if moved.Digest == first.Digest {
		t.Fatal("an included party changed, the digest did not")
	}
	b, err := moved.Normalise(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !hasPlace(b, "Hedeager 1") || b.Unsettled {
		t.Errorf("normalised after the move: %+v (unsettled %v), want the new address", b.Entries, b.Unsettled)
	}

	if err := sim.Put(json.RawMessage(`{"resourceType":"Appointment","id":"a2","status":"cancelled","serviceType":[{"text":"Blodprøve"}],"start":"2026-11-10T09:00:00+01:00","end":"2026-11-10T09:10:00+01:00",
	  "participant":[{"actor":{"reference":"Patient/pat-1"},"status":"accepted"}]}`)); err != nil {
		t.Fatal(err)
	}
	if r := read(window); r.Digest == moved.Digest {
		t.Error("an appointment was cancelled, the digest did not change")
	}
}

// includingClinic serves sim, adding the clinic as it is now to every
// Appointment search that asks for _include, as a server that supports it
// would (the simulator includes Patients only).
func includingClinic(sim *fhirsim.Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/Appointment" || !r.URL.Query().Has("_include") {
			sim.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, r)
		var bundle map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &bundle); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		loc := httptest.NewRecorder()
		sim.ServeHTTP(loc, httptest.NewRequest(http.MethodGet, "/Location/clinic", nil))
		var clinic map[string]any
		if err := json.Unmarshal(loc.Body.Bytes(), &clinic); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		entries, _ := bundle["entry"].([]any)
		bundle["entry"] = append(entries, map[string]any{"resource": clinic, "search": map[string]any{"mode": "include"}})
		w.Header().Set("Content-Type", "application/fhir+json")
		_ = json.NewEncoder(w).Encode(bundle)
	})
}

func hasPlace(b aggregator.Batch, address string) bool {
	for _, e := range b.Entries {
		if strings.Contains(e.Place.Address, address) {
			return true
		}
	}
	return false
}

// A referenced Location that does not answer leaves only its display: the
// batch says it is unsettled, so the next read is normalised, and reads the
// Location then.
func TestUnreadablePartyLeavesBatchUnsettled(t *testing.T) {
	ctx := context.Background()
	sim, err := fhirsim.New(rawAll(fixture), fhirsim.Options{TimeZone: cph})
	if err != nil {
		t.Fatal(err)
	}
	var failing atomic.Bool
	failing.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() && r.URL.Path == "/Location/clinic" {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s, err := New(Config{Name: "auh", Sector: aggregator.SectorHospital, BaseURL: srv.URL, Location: cph,
		Client: fhir.Options{MaxAttempts: 1, BreakerThreshold: -1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Fetch(ctx, anna, window)
	if err != nil {
		t.Fatal(err)
	}
	if !b.Unsettled || hasPlace(b, "Palle Juul-Jensens") {
		t.Fatalf("Location down: unsettled %v, entries %+v; want unsettled, no address", b.Unsettled, b.Entries)
	}
	failing.Store(false)
	if b, err = s.Fetch(ctx, anna, window); err != nil {
		t.Fatal(err)
	}
	if b.Unsettled || !hasPlace(b, "Palle Juul-Jensens") {
		t.Fatalf("Location back: unsettled %v, entries %+v; want settled with the address", b.Unsettled, b.Entries)
	}
}

// An incremental source merges with what it kept: its readings have no digest.
func TestIncrementalReadingHasNoDigest(t *testing.T) {
	_, base := startSim(t, fixture, fhirsim.Options{TimeZone: cph})
	s, err := New(Config{Name: "auh", Sector: aggregator.SectorHospital, BaseURL: base, Location: cph, Incremental: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Read(context.Background(), anna, window)
	if err != nil {
		t.Fatal(err)
	}
	if r.Digest != "" {
		t.Fatalf("incremental reading digest %q, want none", r.Digest)
	}
	if b, err := r.Normalise(context.Background(), nil); err != nil || len(b.Entries) == 0 || b.PatientName != r.PatientName {
		t.Fatalf("Normalise = %d entries, %v", len(b.Entries), err)
	}
}

func rawAll(rs []string) []json.RawMessage {
	out := make([]json.RawMessage, len(rs))
	for i, r := range rs {
		out[i] = json.RawMessage(r)
	}
	return out
}
