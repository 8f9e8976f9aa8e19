package medcom

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds the parser the published examples and whatever the
// fuzzer makes of them: it must never panic, a message it accepts must have
// everything a stay needs, what it refuses must say why without quoting
// the CPR number, and either way the acknowledgement must be JSON.
func FuzzParse(f *testing.F) {
	for _, ex := range examples {
		f.Add(exampleBytes(f, ex))
	}
	f.Add([]byte(`{"resourceType":"Bundle","type":"message","entry":[{"resource":{"resourceType":"MessageHeader","id":"x"}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := Parse(body)
		code, issues := AckOK, []Issue(nil)
		if err != nil {
			var p *Problem
			if !errors.As(err, &p) || len(p.Issues) == 0 {
				t.Fatalf("refused without issues: %v", err)
			}
			code, issues = AckFatalError, p.Issues
			for _, is := range p.Issues {
				if is.Text == "" || is.Code == "" {
					t.Errorf("issue without code or text: %+v", is)
				}
				if m.Patient.Value != "" && strings.Contains(is.Text, m.Patient.Value) {
					t.Errorf("issue quotes the patient's identifier: %q", is.Text)
				}
			}
		} else {
			fa := m.Facts
			switch {
			case m.HeaderID == "" || m.BundleID == "" || m.Patient.Value == "":
				t.Fatalf("accepted without ids or patient: %+v", m)
			case !slices.Contains(activities, fa.Activity) || statuses[fa.Status] == "" && fa.Status != "entered-in-error":
				t.Fatalf("accepted with activity %q status %q", fa.Activity, fa.Status)
			case fa.Start.IsZero() || fa.Occurred.IsZero() || len(fa.Episodes) == 0:
				t.Fatalf("accepted without start, time or episode: %+v", fa)
			}
			for _, s := range stays([]Facts{fa}) {
				s.entries(sender) // folds without panicking
			}
		}
		b, aerr := acknowledgement(m, code, issues, "https://overblik.example/fhir", time.Unix(0, 0))
		if aerr != nil || !json.Valid(b) {
			t.Fatalf("acknowledgement: %v: %s", aerr, b)
		}
	})
}
