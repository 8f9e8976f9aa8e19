package fhirsource

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/fhir"
)

var cph = mustZone("Europe/Copenhagen")

func mustZone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

func testSource(t *testing.T) *Source {
	t.Helper()
	s, err := New(Config{Name: "hosp", Sector: aggregator.SectorHospital, BaseURL: "https://fhir.example.dk/r4", Location: cph}, nil)
	if err != nil {
		t.Fatal(err)
	}
	lat, lon := 56.19, 10.17
	s.refs.put("Location/auh", party{Type: "Location", Name: "Aarhus Universitetshospital, Øjenafdelingen", Address: "Palle Juul-Jensens Boulevard 99, 8200 Aarhus N", Lat: &lat, Lon: &lon})
	s.refs.put("Location/home", party{Type: "Location", Name: "Borgerens hjem", Home: true})
	s.refs.put("Practitioner/p1", party{Type: "Practitioner", Name: "Læge Hanne Sørensen", Phone: "+45 1234 5678"})
	return s
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestNormaliseAppointment(t *testing.T) {
	tests := []struct {
		name string
		json string
		want func(t *testing.T, e aggregator.Entry)
		err  string
	}{
		{
			name: "booked with end, referenced names",
			json: `{"resourceType":"Appointment","id":"a1","meta":{"versionId":"3","lastUpdated":"2026-11-20T08:00:00Z"},"status":"booked",
				"serviceType":[{"coding":[{"display":"Øjensygdomme"}]}],"description":"Kontrol hos øjenlæge","patientInstruction":"Mød fastende",
				"start":"2026-12-01T10:00:00+01:00","end":"2026-12-01T10:30:00+01:00",
				"participant":[{"actor":{"reference":"Patient/p"},"status":"accepted"},{"actor":{"reference":"Location/auh"},"status":"accepted"},{"actor":{"reference":"Practitioner/p1"},"status":"accepted"}]}`,
			want: func(t *testing.T, e aggregator.Entry) {
				check(t, "id", e.ID, "hosp/Appointment/a1")
				check(t, "status", e.Status, aggregator.StatusBooked)
				check(t, "fhir status", e.FHIRStatus, "booked")
				check(t, "kind", e.Kind, aggregator.KindAppointment)
				check(t, "title", e.Title, "Kontrol hos øjenlæge")
				check(t, "description", e.Description, "Øjensygdomme")
				check(t, "instruction", e.Instruction, "Mød fastende")
				check(t, "place", e.Place.Name, "Aarhus Universitetshospital, Øjenafdelingen")
				check(t, "address", e.Place.Address, "Palle Juul-Jensens Boulevard 99, 8200 Aarhus N")
				if e.Place.Lat == nil || *e.Place.Lat != 56.19 {
					t.Errorf("lat = %v, want 56.19", e.Place.Lat)
				}
				check(t, "people", strings.Join(e.People, ","), "Læge Hanne Sørensen")
				check(t, "contact", e.Contact, "+45 1234 5678")
				check(t, "medium", e.Medium, aggregator.MediumInPerson)
				check(t, "start", e.Start, ts("2026-12-01T10:00:00+01:00"))
				check(t, "end", e.End, ts("2026-12-01T10:30:00+01:00"))
				check(t, "updated", e.Updated, ts("2026-11-20T08:00:00Z"))
				check(t, "all day", e.AllDay, false)
				check(t, "sensitivity", e.Sensitivity, aggregator.SensitivityNormal)
				if !slices.Equal(e.Provenance, []aggregator.Provenance{{Source: "hosp", Type: "Appointment", ID: "a1", Version: "3"}}) {
					t.Errorf("provenance = %+v", e.Provenance)
				}
			},
		},
		{
			name: "without description the service is the title",
			json: `{"resourceType":"Appointment","id":"a20","status":"booked","start":"2026-12-01T10:00:00Z","participant":[],"serviceType":[{"text":"Blodprøvetagning"}]}`,
			want: func(t *testing.T, e aggregator.Entry) {
				check(t, "title", e.Title, "Blodprøvetagning")
				check(t, "description", e.Description, "")
			},
		},
		{
			name: "service codes for the booked-twice rule",
			json: `{"resourceType":"Appointment","id":"a21","status":"booked","start":"2026-12-01T10:00:00Z","participant":[],
				"serviceType":[{"coding":[{"system":"http://snomed.info/sct","code":"396550006"},{"display":"no code"}]},{"coding":[{"system":"urn:x","code":"B1"}]}]}`,
			want: func(t *testing.T, e aggregator.Entry) {
				check(t, "service codes", strings.Join(e.ServiceCodes, ","), "http://snomed.info/sct|396550006,urn:x|B1")
			},
		},
		{
			name: "offset kept as given",
			json: `{"resourceType":"Appointment","id":"a2","status":"booked","start":"2022-12-07T12:00:00+02:00","end":"2022-12-07T13:00:00+02:00","participant":[]}`,
			want: func(t *testing.T, e aggregator.Entry) {
				check(t, "start", e.Start, ts("2022-12-07T10:00:00Z"))
				if _, off := e.Start.Zone(); off != 2*3600 {
					t.Errorf("offset = %d, want +02:00 as given", off)
				}
			},
		},
		{
			name: "missing end uses minutesDuration",
			json: `{"resourceType":"Appointment","id":"a3","status":"booked","start":"2026-12-01T10:00:00Z","minutesDuration":45,"participant":[]}`,
			want: func(t *testing.T, e aggregator.Entry) { check(t, "end", e.End, ts("2026-12-01T10:45:00Z")) },
		},
		{
			name: "missing end and duration is a point in time",
			json: `{"resourceType":"Appointment","id":"a4","status":"booked","start":"2026-12-01T10:00:00Z","participant":[]}`,
			want: func(t *testing.T, e aggregator.Entry) { check(t, "end", e.End, ts("2026-12-01T10:00:00Z")) },
		},
		{
			name: "date-only start and end is all day in the configured zone, end inclusive",
			json: `{"resourceType":"Appointment","id":"a5","status":"booked","start":"2026-12-01","end":"2026-12-02","participant":[]}`,
			want: func(t *testing.T, e aggregator.Entry) {
				check(t, "all day", e.AllDay, true)
				check(t, "start", e.Start, time.Date(2026, 12, 1, 0, 0, 0, 0, cph))
				check(t, "end", e.End, time.Date(2026, 12, 3, 0, 0, 0, 0, cph))
			},
		},
		{
			name: "cancelled stays with its status",
			json: `{"resourceType":"Appointment","id":"a6","status":"cancelled","start":"2026-12-01T10:00:00Z","participant":[]}`,
			want: func(t *testing.T, e aggregator.Entry) { check(t, "status", e.Status, aggregator.StatusCancelled) },
		},
		{
			name: "proposed is tentative",
			json: `{"resourceType":"Appointment","id":"a7","status":"proposed","start":"2026-12-01T10:00:00Z","participant":[]}`,
			want: func(t *testing.T, e aggregator.Entry) { check(t, "status", e.Status, aggregator.StatusTentative) },
		},
		{
			name: "fulfilled is completed, noshow is no-show",
			json: `{"resourceType":"Appointment","id":"a8","status":"noshow","start":"2026-12-01T10:00:00Z","participant":[]}`,
			want: func(t *testing.T, e aggregator.Entry) { check(t, "status", e.Status, aggregator.StatusNoShow) },
		},
		{
			name: "entered-in-error is marked for the merge to drop",
			json: `{"resourceType":"Appointment","id":"a9","status":"entered-in-error","start":"2026-12-01T10:00:00Z","participant":[]}`,
			want: func(t *testing.T, e aggregator.Entry) { check(t, "status", e.Status, aggregator.StatusEnteredInError) },
		},
		{
			name: "status from a newer FHIR version is unknown, not lost",
			json: `{"resourceType":"Appointment","id":"a10","status":"scheduled","start":"2026-12-01T10:00:00Z","participant":[]}`,
			want: func(t *testing.T, e aggregator.Entry) {
				check(t, "status", e.Status, aggregator.StatusUnknown)
				check(t, "fhir status", e.FHIRStatus, "scheduled")
			},
		},
		{
			name: "contained location and practitioner",
			json: `{"resourceType":"Appointment","id":"a11","status":"booked","start":"2026-12-01T10:00:00Z",
				"contained":[{"resourceType":"Location","id":"l","name":"Sundhedshuset","address":{"line":["Vestergade 1"],"postalCode":"8000","city":"Aarhus C"}},
				             {"resourceType":"Practitioner","id":"d","name":[{"given":["Mette"],"family":"Holm"}]}],
				"participant":[{"actor":{"reference":"#l"},"status":"accepted"},{"actor":{"reference":"#d","display":"ignored"},"status":"accepted"}]}`,
			want: func(t *testing.T, e aggregator.Entry) {
				check(t, "place", e.Place.Name, "Sundhedshuset")
				check(t, "address", e.Place.Address, "Vestergade 1, 8000 Aarhus C")
				check(t, "people", strings.Join(e.People, ","), "Mette Holm")
			},
		},
		{
			name: "unresolved reference falls back to its display",
			json: `{"resourceType":"Appointment","id":"a12","status":"booked","start":"2026-12-01T10:00:00Z",
				"participant":[{"actor":{"reference":"Location/unknown","display":"Skejby, indgang J"},"status":"accepted"},{"actor":{"display":"Sygeplejerske Ole"},"status":"accepted"}]}`,
			want: func(t *testing.T, e aggregator.Entry) {
				check(t, "place", e.Place.Name, "Skejby, indgang J")
				check(t, "people", strings.Join(e.People, ","), "Sygeplejerske Ole")
			},
		},
		{
			name: "video by appointment type with a virtual service link",
			json: `{"resourceType":"Appointment","id":"a13","status":"booked","start":"2026-12-01T10:00:00Z",
				"appointmentType":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"VR"}]},
				"extension":[{"url":"http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.virtualService","extension":[{"url":"addressUrl","valueUrl":"https://video.example.dk/room/42"}]}],
				"participant":[]}`,
			want: func(t *testing.T, e aggregator.Entry) {
				check(t, "medium", e.Medium, aggregator.MediumVideo)
				check(t, "video url", e.VideoURL, "https://video.example.dk/room/42")
			},
		},
		{
			name: "booked again in place of a cancelled time",
			json: `{"resourceType":"Appointment","id":"a16","status":"booked","start":"2026-12-08T13:30:00+01:00","participant":[],
				"extension":[{"url":"http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.replaces","valueReference":{"reference":"Appointment/a9"}},
				             {"url":"http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.replaces","valueReference":{"reference":"https://other.example.dk/r4/Appointment/x"}}]}`,
			want: func(t *testing.T, e aggregator.Entry) {
				check(t, "replaces", strings.Join(e.Replaces, ","), "hosp/Appointment/a9")
			},
		},
		{
			name: "home visit at the patient's residence",
			json: `{"resourceType":"Appointment","id":"a14","status":"booked","start":"2026-12-01T08:00:00Z","participant":[{"actor":{"reference":"Location/home"},"status":"accepted"}]}`,
			want: func(t *testing.T, e aggregator.Entry) { check(t, "medium", e.Medium, aggregator.MediumHomeVisit) },
		},
		{
			name: "restricted by meta.security",
			json: `{"resourceType":"Appointment","id":"a15","status":"booked","start":"2026-12-01T08:00:00Z","participant":[],
				"meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]}}`,
			want: func(t *testing.T, e aggregator.Entry) {
				check(t, "sensitivity", e.Sensitivity, aggregator.SensitivityRestricted)
			},
		},
		{
			name: "no start is an error",
			json: `{"resourceType":"Appointment","id":"a16","status":"proposed","participant":[]}`,
			err:  "no start",
		},
		{
			name: "end before start is an error",
			json: `{"resourceType":"Appointment","id":"a17","status":"booked","start":"2026-12-01T10:00:00Z","end":"2026-12-01T09:00:00Z","participant":[]}`,
			err:  "before it starts",
		},
		{
			name: "malformed start is an error",
			json: `{"resourceType":"Appointment","id":"a18","status":"booked","start":"1. december","participant":[]}`,
			err:  "start",
		},
		{
			name: "business identifiers with a system, for the merge across sources",
			json: `{"resourceType":"Appointment","id":"a20","status":"booked","start":"2026-12-01T10:00:00+01:00","participant":[],
				"identifier":[{"system":"urn:oid:1.2.208.176.1.99","value":"møde-42"},{"value":"no-system"},{"system":"urn:x"}]}`,
			want: func(t *testing.T, e aggregator.Entry) {
				check(t, "identifiers", strings.Join(e.Identifiers, ","), "urn:oid:1.2.208.176.1.99|møde-42")
			},
		},
		{
			name: "impossible date is an error",
			json: `{"resourceType":"Appointment","id":"a19","status":"booked","start":"2026-02-30","participant":[]}`,
			err:  "no such date",
		},
	}
	s := testSource(t)
	n := normaliser{src: s, loc: cph}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := fhir.DecodeAppointment([]byte(tc.json))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			e, err := n.appointment(a)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.want(t, e)
		})
	}
}

func TestNormaliseEncounter(t *testing.T) {
	tests := []struct {
		name string
		json string
		want func(t *testing.T, e aggregator.Entry)
		err  string
	}{
		{
			name: "inpatient is an admission with its period",
			json: `{"resourceType":"Encounter","id":"e1","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},
				"period":{"start":"2026-11-02T14:00:00+01:00","end":"2026-11-05T11:00:00+01:00"},"location":[{"location":{"reference":"Location/auh"}}]}`,
			want: func(t *testing.T, e aggregator.Entry) {
				check(t, "kind", e.Kind, aggregator.KindAdmission)
				check(t, "status", e.Status, aggregator.StatusCompleted)
				check(t, "start", e.Start, ts("2026-11-02T14:00:00+01:00"))
				check(t, "end", e.End, ts("2026-11-05T11:00:00+01:00"))
				check(t, "place", e.Place.Name, "Aarhus Universitetshospital, Øjenafdelingen")
			},
		},
		{
			name: "an emergency stay counts as an admission",
			json: `{"resourceType":"Encounter","id":"e10","status":"in-progress","class":{"code":"EMER"},"period":{"start":"2022-12-01T10:00:04+02:00"},
				"serviceType":{"coding":[{"system":"urn:oid:1.2.208.176.2.1","code":"D50"}]}}`,
			want: func(t *testing.T, e aggregator.Entry) {
				check(t, "kind", e.Kind, aggregator.KindAdmission)
				check(t, "service codes", strings.Join(e.ServiceCodes, ","), "urn:oid:1.2.208.176.2.1|D50")
			},
		},
		{
			name: "the stay's identifier",
			json: `{"resourceType":"Encounter","id":"e11","status":"in-progress","class":{"code":"IMP"},"period":{"start":"2026-11-24T09:00:00+01:00"},
				"identifier":[{"system":"https://www.esundhed.dk/Registre/Landspatientregisteret","value":"urn:uuid:fc60e762-b13b-5773-865e-67f3907bdcc7"}]}`,
			want: func(t *testing.T, e aggregator.Entry) {
				check(t, "identifiers", strings.Join(e.Identifiers, ","), "https://www.esundhed.dk/Registre/Landspatientregisteret|urn:uuid:fc60e762-b13b-5773-865e-67f3907bdcc7")
			},
		},
		{
			name: "open admission in progress has no end",
			json: `{"resourceType":"Encounter","id":"e2","status":"in-progress","class":{"code":"IMP"},"period":{"start":"2026-11-24T09:00:00+01:00"}}`,
			want: func(t *testing.T, e aggregator.Entry) {
				check(t, "status", e.Status, aggregator.StatusInProgress)
				if !e.End.IsZero() {
					t.Errorf("end = %v, want open", e.End)
				}
			},
		},
		{
			name: "on leave",
			json: `{"resourceType":"Encounter","id":"e3","status":"onleave","class":{"code":"IMP"},"period":{"start":"2026-11-24T09:00:00+01:00"}}`,
			want: func(t *testing.T, e aggregator.Entry) { check(t, "status", e.Status, aggregator.StatusOnLeave) },
		},
		{
			name: "outpatient encounter refers to its appointment",
			json: `{"resourceType":"Encounter","id":"e4","status":"finished","class":{"code":"AMB"},"period":{"start":"2026-11-10T10:02:00+01:00","end":"2026-11-10T10:25:00+01:00"},
				"appointment":[{"reference":"Appointment/a1"}],"participant":[{"individual":{"reference":"Practitioner/p1"}}]}`,
			want: func(t *testing.T, e aggregator.Entry) {
				check(t, "kind", e.Kind, aggregator.KindEncounter)
				check(t, "part of", strings.Join(e.PartOf, ","), "hosp/Appointment/a1")
				check(t, "people", strings.Join(e.People, ","), "Læge Hanne Sørensen")
			},
		},
		{
			name: "absolute appointment reference under the base",
			json: `{"resourceType":"Encounter","id":"e5","status":"finished","class":{"code":"AMB"},"period":{"start":"2026-11-10T10:00:00Z"},
				"appointment":[{"reference":"https://fhir.example.dk/r4/Appointment/a9"}]}`,
			want: func(t *testing.T, e aggregator.Entry) {
				check(t, "part of", strings.Join(e.PartOf, ","), "hosp/Appointment/a9")
			},
		},
		{
			name: "partial date period is all day",
			json: `{"resourceType":"Encounter","id":"e6","status":"finished","class":{"code":"AMB"},"period":{"start":"2026-11","end":"2026-11"}}`,
			want: func(t *testing.T, e aggregator.Entry) {
				check(t, "all day", e.AllDay, true)
				check(t, "start", e.Start, time.Date(2026, 11, 1, 0, 0, 0, 0, cph))
				check(t, "end", e.End, time.Date(2026, 12, 1, 0, 0, 0, 0, cph))
			},
		},
		{
			name: "home health class is a home visit",
			json: `{"resourceType":"Encounter","id":"e7","status":"planned","class":{"code":"HH"},"period":{"start":"2026-12-01T08:00:00+01:00","end":"2026-12-01T08:30:00+01:00"}}`,
			want: func(t *testing.T, e aggregator.Entry) {
				check(t, "medium", e.Medium, aggregator.MediumHomeVisit)
				check(t, "status", e.Status, aggregator.StatusBooked)
			},
		},
		{
			name: "newer status code is unknown",
			json: `{"resourceType":"Encounter","id":"e8","status":"completed","class":{"code":"AMB"},"period":{"start":"2026-11-10T10:00:00Z"}}`,
			want: func(t *testing.T, e aggregator.Entry) {
				check(t, "status", e.Status, aggregator.StatusUnknown)
				check(t, "fhir status", e.FHIRStatus, "completed")
			},
		},
		{
			name: "no period is an error",
			json: `{"resourceType":"Encounter","id":"e9","status":"planned","class":{"code":"AMB"}}`,
			err:  "no start",
		},
	}
	s := testSource(t)
	n := normaliser{src: s, loc: cph}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := fhir.DecodeEncounter([]byte(tc.json))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			e, err := n.encounter(enc)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.want(t, e)
		})
	}
}

func check[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if tm, ok := any(got).(time.Time); ok {
		if !tm.Equal(any(want).(time.Time)) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
		return
	}
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}
