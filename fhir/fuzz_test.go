package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode: nothing a server sends may panic the decoders; a failure is
// always ErrInvalid and its text holds no CPR-shaped number (servers put
// identifiers anywhere); a decoded resource is of the type asked for, with a
// consistent status; and Resources returns valid JSON that does not alias its
// input. Seeds: every resource of the shared MedCom and Synthea examples and
// this package's test documents.
func FuzzDecode(f *testing.F) {
	for _, file := range loadExamples(f) {
		for _, r := range file.resources {
			f.Add([]byte(r))
		}
		if len(file.resources) > 1 && len(file.resources) < 10 { // the message Bundles, whole
			b, err := os.ReadFile(filepath.Join(examplesDir, file.name))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	for _, seed := range []string{
		apptBooked,
		withField(f, apptBooked, "status", `"scheduled"`),
		withField(f, apptBooked, "status", ""),
		withField(f, apptBooked, "resourceType", `"Encounter"`),
		withField(f, apptBooked, "participant", `[{"status":"maybe","required":"x"},{}]`),
		withField(f, apptBooked, "priority", `1010012345.5`),
		`{"resourceType":"Appointment","status":"booked","participant":null}`,
		`{"resourceType":"Appointment","status":"booked","participant":[null]}`,
		`{}`, `"x"`, ``,
		withField(f, apptBooked, "status", `"waitlist-r5"`),
		withField(f, apptBooked, "participant", `[{"actor":{"reference":"Patient/p1"}},{"status":"nope","required":"maybe"}]`),
		withField(f, apptBooked, "contained", `[{"resourceType":"Location","id":"v"}]`),
		`{"resourceType":"Bundle","type":"searchset","entry":[{"resource":` + apptBooked + `},{"resource":null},{}]}`,
		`{"resourceType":"Encounter","id":"e","status":"in-progress","class":{"code":"IMP"},"statusHistory":[{"status":"planned-x"},{}],"location":[{"status":"gone"}],"period":{"start":"2026"}}`,
		`{"resourceType":"Patient","id":"p","identifier":[{"system":"urn:oid:1.2.208.176.1.2","value":"0101017777"}],"link":[{"other":{"reference":"Patient/q"},"type":"replaced-by"}]}`,
		`{"id":"x","resourceType":"Appointment","status":""}`,
		`[]`, `null`, `{"resourceType":7}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		orig := bytes.Clone(raw)
		if rs, err := Resources(raw); err == nil {
			kept := make([][]byte, len(rs))
			for i, r := range rs {
				if !json.Valid(r) {
					t.Fatalf("Resources returned invalid JSON %q", r)
				}
				kept[i] = bytes.Clone(r)
			}
			for i := range raw {
				raw[i] = 'x'
			}
			for i, r := range rs {
				if !bytes.Equal(r, kept[i]) {
					t.Fatal("Resources' result aliases its input")
				}
			}
			copy(raw, orig)
		} else if !errors.Is(err, ErrInvalid) {
			t.Fatalf("Resources: %v is not ErrInvalid", err)
		}
		if _, err := ResourceType(raw); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("ResourceType: %v is not ErrInvalid", err)
		}
		failed := func(what string, err error) {
			t.Helper()
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("%s: %v is not ErrInvalid", what, err)
			}
			if msg := err.Error(); redactCPR(msg) != msg {
				t.Fatalf("%s: error text holds a CPR-shaped number: %v", what, err)
			}
		}
		// The type the decoder saw: ResourceType stops at the first
		// member, encoding/json keeps the last of duplicate keys.
		decodedType := func() string {
			var p struct {
				ResourceType string `json:"resourceType"`
			}
			_ = json.Unmarshal(raw, &p)
			return p.ResourceType
		}
		if a, err := DecodeAppointment(raw); err == nil {
			if a.RawStatus == "" || a.KnownStatus && a.Status.Code() != a.RawStatus {
				t.Fatalf("Appointment status %q, known %v, code %q", a.RawStatus, a.KnownStatus, a.Status.Code())
			}
			if rt := decodedType(); rt != "Appointment" {
				t.Fatalf("DecodeAppointment decoded a %q", rt)
			}
		} else {
			failed("DecodeAppointment", err)
		}
		if e, err := DecodeEncounter(raw); err == nil {
			if e.RawStatus == "" || e.KnownStatus && e.Status.Code() != e.RawStatus {
				t.Fatalf("Encounter status %q, known %v, code %q", e.RawStatus, e.KnownStatus, e.Status.Code())
			}
			if rt := decodedType(); rt != "Encounter" {
				t.Fatalf("DecodeEncounter decoded a %q", rt)
			}
		} else {
			failed("DecodeEncounter", err)
		}
		if _, err := DecodePatient(raw); err == nil {
			if rt := decodedType(); rt != "Patient" {
				t.Fatalf("DecodePatient decoded a %q", rt)
			}
		} else {
			failed("DecodePatient", err)
		}
		if !bytes.Equal(raw, orig) {
			t.Fatal("a decoder changed its input")
		}
	})
}
