package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/overblik/overblik/fhir/fhirsim"
	"github.com/overblik/overblik/testdata"
)

// TestCheckTriesTheSearches: `overblik check` passes a server that declares
// no search parameters (as Medplum's does) when every search works, and
// fails one that declares them all but ignores patient=.
func TestCheckTriesTheSearches(t *testing.T) {
	cph, _ := time.LoadLocation("Europe/Copenhagen")
	res, _ := testdata.Demo(time.Now(), cph).Sector("hospital")
	serve := func(opts fhirsim.Options, declare bool) string {
		opts.TimeZone = cph
		sim, err := fhirsim.New(res, opts)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/metadata" && !declare {
				w.Header().Set("Content-Type", "application/fhir+json")
				w.Write([]byte(`{"resourceType":"CapabilityStatement","fhirVersion":"4.0.1","rest":[{"mode":"server","resource":[{"type":"Patient"},{"type":"Appointment"},{"type":"Encounter"}]}]}`))
				return
			}
			sim.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	tests := []struct {
		name string
		url  string
		want int
		says []string // regular expressions, each matching a line
	}{
		{"declares nothing, answers everything", serve(fhirsim.Options{}, false), exitOK, []string{
			`s0 +searches declared +ok +not declared: Patient\?identifier, Appointment\?patient, Appointment\?date, Encounter\?patient, Encounter\?date \(the tries below decide\)`,
			`s0 +search Patient\?identifier +ok +answered, with nothing for nobody`,
			`s0 +search Appointment\?patient&date&_include&_include:iterate +ok`,
			`s0 +search Encounter\?patient&date&_include&_include:iterate +ok`,
		}},
		{"declares everything, ignores patient=", serve(fhirsim.Options{IgnorePatient: true}, true), exitFailed, []string{
			`s0 +searches declared +ok +all declared`,
			`s0 +search Appointment\?patient&date&_include&_include:iterate +FAIL +ignored: \d+ Appointments came back for nobody; the server does not apply patient=`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "overblik.yaml")
			cfg := "sources:\n  - {name: s0, display: S, sector: hospital, kind: fhir, base_url: " + tc.url + ", timeout: 2s}\n"
			if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			got := run(context.Background(), []string{"check", "--config", path}, &stdout, &stderr, func(string) string { return "" })
			if got != tc.want {
				t.Errorf("exit = %d, want %d\n%s%s", got, tc.want, stdout.String(), stderr.String())
			}
			for _, say := range tc.says {
				if !regexp.MustCompile(`(?m)^` + say).MatchString(stdout.String()) {
					t.Errorf("no line matches %s:\n%s", say, stdout.String())
				}
			}
		})
	}
}
