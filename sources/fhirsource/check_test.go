package fhirsource

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/fhir"
	"github.com/overblik/overblik/fhir/fhirsim"
)

func TestCheck(t *testing.T) {
	_, simURL := startSim(t, fixture, fhirsim.Options{TimeZone: cph})
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metadata" {
			w.Write([]byte(`{"resourceType":"CapabilityStatement","fhirVersion":"4.0.1","rest":[{"mode":"server","resource":[{"type":"Patient","searchParam":[{"name":"identifier"}]}]}]}`))
			return
		}
		status(401)(w, r)
	}))
	t.Cleanup(refuse.Close)
	stu3 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metadata" {
			w.Write([]byte(`{"resourceType":"CapabilityStatement","fhirVersion":"3.0.2"}`))
			return
		}
		w.Write([]byte(`{"resourceType":"Bundle","type":"searchset"}`))
	}))
	t.Cleanup(stu3.Close)

	tests := []struct {
		name string
		url  string
		want map[string]bool // check name -> OK
		says string
	}{
		{"fhirsim passes everything", simURL, map[string]bool{"metadata": true, "fhir version": true, "authentication": true, "searches": true}, ""},
		{"refused credentials, missing searches", refuse.URL, map[string]bool{"metadata": true, "fhir version": true, "authentication": false, "searches": false}, "refused our credentials (HTTP 401)"},
		{"wrong version", stu3.URL, map[string]bool{"fhir version": false, "authentication": true}, `"3.0.2"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(Config{Name: "x", Sector: aggregator.SectorGP, BaseURL: tc.url, Client: fhir.Options{MaxAttempts: 1}}, nil)
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
					t.Errorf("check %q = %+v, want ok=%v (all: %v)", name, c, ok, all)
				}
			}
			if tc.says != "" && !strings.Contains(strings.Join(all, "\n"), tc.says) {
				t.Errorf("checks %v do not say %q", all, tc.says)
			}
		})
	}
}
