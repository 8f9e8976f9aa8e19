package fhirsource

import (
	"context"
	"testing"

	"github.com/overblik/overblik/fhir/fhirsim"
)

// The name a source holds for the patient comes back with each fetch, for
// the clinician's patient banner: the official one first, then the usual,
// then any; remembered with the patient's id.
func TestPatientName(t *testing.T) {
	tests := []struct {
		name  string
		names string
		want  string
	}{
		{"official before nickname", `[{"use":"nickname","given":["Bibbe"]},{"use":"official","family":"Madsen","given":["Birthe","Østergaard"]}]`, "Birthe Østergaard Madsen"},
		{"usual when no official", `[{"use":"old","family":"Jensen","given":["Birthe"]},{"use":"usual","text":"Birthe Madsen"}]`, "Birthe Madsen"},
		{"the first that says something", `[{"use":"maiden"},{"family":"Madsen","given":["Birthe"]}]`, "Birthe Madsen"},
		{"none", `[]`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			patient := `{"resourceType":"Patient","id":"pat-1","identifier":[{"system":"urn:oid:1.2.208.176.1.2","value":"3002991234"}],"name":` + tt.names + `}`
			_, base := startSim(t, []string{patient, fixture[3]}, fhirsim.Options{TimeZone: cph})
			s := newSource(t, base, 50)
			for i := range 2 { // the second fetch reads the remembered patient
				b, err := s.Fetch(context.Background(), anna, window)
				if err != nil {
					t.Fatal(err)
				}
				if b.PatientName != tt.want {
					t.Errorf("fetch %d: name %q, want %q", i+1, b.PatientName, tt.want)
				}
			}
		})
	}
}
