package fhirsource

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/fhir"
	"github.com/overblik/overblik/fhir/fhirsim"
	"github.com/overblik/overblik/sources/sourcetest"
)

func TestConformance(t *testing.T) { sourcetest.Run(t, harness{}) }

// harness serves the suite's data from fhirsim, with faults in the
// Appointment search after a good patient look-up.
type harness struct{}

const harnessLimit = 256 << 10

func (harness) NewSource(t testing.TB, name, baseURL string) aggregator.Source {
	t.Helper()
	s, err := New(Config{Name: name, Sector: aggregator.SectorHospital, BaseURL: baseURL, PageSize: 10,
		MaxBodyBytes: harnessLimit, Location: cph, Client: fhir.Options{MaxAttempts: 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (harness) Serve(t testing.TB, p aggregator.PatientRef, w aggregator.Window, n int) http.Handler {
	t.Helper()
	res := []string{
		patientJSON("p1", p.Identifier),
		patientJSON("p2", aggregator.Identifier{System: p.Identifier.System, Value: "0202027777"}),
		apptJSON("before", "p1", "Før", w.From.Add(-48*time.Hour)),
		apptJSON("after", "p1", "Efter", w.To.Add(time.Hour)),
		apptJSON("other", "p2", "En andens", sourcetest.Start(w, 0)),
	}
	for i := range n {
		res = append(res, apptJSON(fmt.Sprintf("a%d", i), "p1", sourcetest.Title(i), sourcetest.Start(w, i)))
	}
	return simHandler(t, res)
}

func (h harness) Fault(t testing.TB, p aggregator.PatientRef, w aggregator.Window, f sourcetest.Fault) http.Handler {
	t.Helper()
	good := h.Serve(t, p, w, 1)
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/Appointment" {
			good.ServeHTTP(rw, r)
			return
		}
		rw.Header().Set("Content-Type", "application/fhir+json")
		switch f {
		case sourcetest.Malformed:
			rw.Write([]byte(`{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Appoin`))
		case sourcetest.WrongContent:
			rw.Write([]byte(patientJSON("p1", p.Identifier)))
		case sourcetest.Huge:
			var b strings.Builder
			b.WriteString(`{"resourceType":"Bundle","type":"searchset","entry":[`)
			for i := 0; b.Len() <= 2*harnessLimit; i++ {
				if i > 0 {
					b.WriteString(",")
				}
				b.WriteString(`{"resource":` + apptJSON(fmt.Sprintf("h%d", i), "p1", "x", sourcetest.Start(w, 0)) + `}`)
			}
			b.WriteString(`]}`)
			rw.Write([]byte(b.String()))
		}
	})
}

func patientJSON(id string, ident aggregator.Identifier) string {
	b, _ := json.Marshal(map[string]any{"resourceType": "Patient", "id": id,
		"identifier": []map[string]string{{"system": ident.System, "value": ident.Value}}})
	return string(b)
}

func apptJSON(id, patient, title string, start time.Time) string {
	b, _ := json.Marshal(map[string]any{"resourceType": "Appointment", "id": id, "status": "booked", "description": title,
		"start": start.Format(time.RFC3339), "end": start.Add(sourcetest.Duration).Format(time.RFC3339),
		"participant": []map[string]any{{"actor": map[string]string{"reference": "Patient/" + patient}, "status": "accepted"}}})
	return string(b)
}

func simHandler(t testing.TB, resources []string) http.Handler {
	t.Helper()
	var raws []json.RawMessage
	for _, r := range resources {
		raws = append(raws, json.RawMessage(r))
	}
	sim, err := fhirsim.New(raws, fhirsim.Options{TimeZone: cph})
	if err != nil {
		t.Fatal(err)
	}
	return sim
}
