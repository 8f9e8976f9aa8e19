package fhirsource

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/fhir"
	"github.com/overblik/overblik/fhir/fhirsim"
)

// undeclared serves h with a CapabilityStatement that lists no search
// parameters, as Medplum's server and others do.
func undeclared(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metadata" {
			w.Header().Set("Content-Type", "application/fhir+json")
			w.Write([]byte(`{"resourceType":"CapabilityStatement","fhirVersion":"4.0.1","rest":[{"mode":"server","resource":[{"type":"Patient"},{"type":"Appointment"},{"type":"Encounter"}]}]}`))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// strict serves h, refusing param under Prefer: handling=strict as a server
// that does not support it does.
func strict(h http.Handler, param string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has(param) && r.Header.Get("Prefer") == "handling=strict" {
			w.Header().Set("Content-Type", "application/fhir+json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-supported","diagnostics":"Unknown search parameter ` + param + `"}]}`))
			return
		}
		h.ServeHTTP(w, r)
	})
}

func TestCheck(t *testing.T) {
	sim := simHandler(t, fixture)
	ignoring, err := fhirsim.New(rawsOf(fixture), fhirsim.Options{TimeZone: cph, IgnorePatient: true})
	if err != nil {
		t.Fatal(err)
	}
	refuse := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metadata" {
			w.Write([]byte(`{"resourceType":"CapabilityStatement","fhirVersion":"4.0.1","rest":[{"mode":"server","resource":[{"type":"Patient","searchParam":[{"name":"identifier"}]}]}]}`))
			return
		}
		status(401)(w, r)
	})
	stu3 := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metadata" {
			w.Write([]byte(`{"resourceType":"CapabilityStatement","fhirVersion":"3.0.2"}`))
			return
		}
		w.Write([]byte(`{"resourceType":"Bundle","type":"searchset"}`))
	})
	unknownPatient404 := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("patient") {
			status(404)(w, r) // HAPI: "Resource Patient/... is not known"
			return
		}
		sim.ServeHTTP(w, r)
	})

	const (
		apptWindow = "search Appointment?patient&date"
		encWindow  = "search Encounter?patient&date"
		apptLast   = "search Appointment?patient&_lastUpdated"
		patient    = "search Patient?identifier"
	)
	tests := []struct {
		name    string
		handler http.Handler
		cfg     Config
		want    map[string]bool // check name -> OK
		says    []string
	}{
		{name: "fhirsim passes everything", handler: sim, cfg: Config{Incremental: true},
			want: map[string]bool{"metadata": true, "fhir version": true, "searches declared": true, "authentication": true,
				patient: true, apptWindow: true, encWindow: true, apptLast: true},
			says: []string{"all declared"}},
		{name: "undeclared searches that work pass", handler: undeclared(sim), cfg: Config{Incremental: true},
			want: map[string]bool{"searches declared": true, "authentication": true, patient: true, apptWindow: true, encWindow: true, apptLast: true},
			says: []string{"not declared: Patient?identifier, Appointment?patient, Appointment?date, Encounter?patient, Encounter?date, Appointment?_lastUpdated, Encounter?_lastUpdated"}},
		{name: "with _include, the searches are tried with it", handler: sim, cfg: Config{Include: true},
			want: map[string]bool{"search Appointment?patient&date&_include&_include:iterate": true, "search Encounter?patient&date&_include&_include:iterate": true}},
		{name: "a server refusing _include fails, and says what to set", handler: strict(sim, "_include"), cfg: Config{Include: true},
			want: map[string]bool{patient: true, "search Appointment?patient&date&_include&_include:iterate": false},
			says: []string{"refused: HTTP 400 Unknown search parameter _include; without _include it is answered: set include: false"}},
		{name: "a server ignoring patient= fails", handler: ignoring,
			want: map[string]bool{patient: true, apptWindow: false, encWindow: false},
			says: []string{"ignored: 3 Appointments came back for nobody; the server does not apply patient="}},
		{name: "a server refusing date fails", handler: strict(undeclared(sim), "date"),
			want: map[string]bool{patient: true, apptWindow: false, encWindow: false},
			says: []string{"refused: HTTP 400 Unknown search parameter date"}},
		{name: "a server refusing _lastUpdated fails an incremental source", handler: strict(sim, "_lastUpdated"), cfg: Config{Incremental: true},
			want: map[string]bool{apptWindow: true, apptLast: false}, says: []string{"; set incremental: false"}},
		{name: "404 for a patient it does not know is an answer", handler: unknownPatient404,
			want: map[string]bool{patient: true, apptWindow: true, encWindow: true}, says: []string{"answered 404"}},
		{name: "refused credentials", handler: refuse,
			want: map[string]bool{"metadata": true, "fhir version": true, "authentication": false}, says: []string{"refused our credentials (HTTP 401)"}},
		{name: "wrong version", handler: stu3, want: map[string]bool{"fhir version": false, "authentication": true}, says: []string{`"3.0.2"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			t.Cleanup(srv.Close)
			cfg := tc.cfg
			cfg.Name, cfg.Sector, cfg.BaseURL, cfg.Location, cfg.Client = "x", aggregator.SectorGP, srv.URL, cph, fhir.Options{MaxAttempts: 1}
			cfg.Now = func() time.Time { return time.Date(2026, 11, 15, 12, 0, 0, 0, cph) } // the fixture's a1, a2 and other lie within a year
			s, err := New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]aggregator.Check{}
			var all []string
			for _, c := range s.Check(context.Background(), cpr) {
				got[c.Name] = c
				all = append(all, c.Name+": "+c.Detail)
			}
			for name, ok := range tc.want {
				if c, present := got[name]; !present || c.OK != ok {
					t.Errorf("check %q = %+v, want ok=%v (all: %q)", name, c, ok, all)
				}
			}
			if tc.name == "refused credentials" && len(got) != 4 {
				t.Errorf("checks %q: the searches need not be tried without credentials", all)
			}
			for _, say := range tc.says {
				if !strings.Contains(strings.Join(all, "\n"), say) {
					t.Errorf("checks %q do not say %q", all, say)
				}
			}
		})
	}
}

func rawsOf(resources []string) []json.RawMessage {
	var out []json.RawMessage
	for _, r := range resources {
		out = append(out, json.RawMessage(r))
	}
	return out
}
