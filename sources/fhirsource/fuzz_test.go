package fhirsource

import (
	"testing"

	"github.com/overblik/overblik/fhir"
)

// FuzzNormalise: no Appointment or Encounter a server sends may panic the
// normaliser (contained parties, references, times, codes).
func FuzzNormalise(f *testing.F) {
	for _, seed := range fixture {
		f.Add([]byte(seed))
	}
	f.Add([]byte(`{"resourceType":"Appointment","id":"x","status":"booked","start":"2026-12-01","end":"2026-12","minutesDuration":-5,
		"contained":[{"resourceType":"Location","id":"v","physicalType":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/location-physical-type","code":"vi"}]},"position":{"latitude":1e999,"longitude":"x"}},
		             {"resourceType":"PractitionerRole","id":"r","practitioner":{"reference":"Practitioner/#"}}],
		"participant":[{"actor":{"reference":"#v"},"status":"accepted"},{"actor":{"reference":"#r"},"status":"accepted"},{"actor":{"reference":"PractitionerRole/r"},"status":"accepted"}]}`))
	f.Add([]byte(`{"resourceType":"Encounter","id":"e","status":"finished","class":{"code":"IMP"},"period":{"start":"2026-12-01T10:00:00+14:00","end":"2026"},
		"location":[{"location":{"reference":"Location/vroom"}}],"appointment":[{"reference":"Appointment/a/_history/2"}],
		"extension":[{"url":"http://hl7.org/fhir/5.0/StructureDefinition/extension-Encounter.virtualService"}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := New(Config{Name: "f", BaseURL: "https://fhir.example/r4", Location: cph}, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.refs.put("PractitionerRole/r", party{Type: "PractitionerRole", Practitioner: "Practitioner/p"})
		s.refs.put("Location/vroom", party{Type: "Location", Virtual: true})
		n := normaliser{src: s, loc: cph}
		if a, err := fhir.DecodeAppointment(raw); err == nil {
			_, _ = n.appointment(a)
		}
		if e, err := fhir.DecodeEncounter(raw); err == nil {
			_, _ = n.encounter(e)
		}
	})
}
