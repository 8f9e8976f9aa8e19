package fhirsource

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/fhir"
	"github.com/overblik/overblik/fhir/fhirsim"
)

func TestMedium(t *testing.T) {
	s := testSource(t)
	s.refs.put("Location/vroom", party{Type: "Location", Name: "Videorum", Virtual: true, VideoURL: "https://video.example.dk/r/7"})
	const actCode = `"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode"`
	tests := []struct {
		name      string
		appt      string // fields added to a booked Appointment
		encounter string // or to a finished Encounter
		want      aggregator.Medium
		wantURL   string
	}{
		{name: "plain", appt: `"participant":[]`, want: aggregator.MediumInPerson},
		{name: "video service type code", appt: `"serviceType":[{"coding":[{` + actCode + `,"code":"VR"}]}],"participant":[]`, want: aggregator.MediumVideo},
		{name: "video in the service text", appt: `"serviceType":[{"text":"Videokonsultation"}],"participant":[]`, want: aggregator.MediumVideo},
		{name: "video in a coding display", appt: `"appointmentType":{"coding":[{"code":"x","display":"Video consultation"}]},"participant":[]`, want: aggregator.MediumVideo},
		{name: "virtual service extension", appt: `"extension":[{"url":"http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.virtualService","extension":[{"url":"addressUrl","valueUrl":"https://v.example/1"}]}],"participant":[]`,
			want: aggregator.MediumVideo, wantURL: "https://v.example/1"},
		{name: "virtual room location with a URL in telecom", appt: `"participant":[{"actor":{"reference":"Location/vroom"},"status":"accepted"}]`,
			want: aggregator.MediumVideo, wantURL: "https://video.example.dk/r/7"},
		{name: "contained virtual room", appt: `"contained":[{"resourceType":"Location","id":"v","name":"Online","physicalType":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/location-physical-type","code":"vi"}]},"telecom":[{"system":"url","value":"https://meet.example/x"}]}],
			"participant":[{"actor":{"reference":"#v"},"status":"accepted"}]`, want: aggregator.MediumVideo, wantURL: "https://meet.example/x"},
		{name: "javascript in the virtual service extension", appt: `"extension":[{"url":"http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.virtualService","extension":[{"url":"addressUrl","valueUrl":"javascript:alert(document.domain)"}]}],"participant":[]`,
			want: aggregator.MediumVideo},
		{name: "an unsafe link in the extension gives way to the room's", appt: `"extension":[{"url":"http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.virtualService","extension":[{"url":"addressUrl","valueUrl":"http://v.example/plain"}]}],
			"participant":[{"actor":{"reference":"Location/vroom"},"status":"accepted"}]`, want: aggregator.MediumVideo, wantURL: "https://video.example.dk/r/7"},
		{name: "credentials in a contained room's URL", appt: `"contained":[{"resourceType":"Location","id":"v","physicalType":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/location-physical-type","code":"vi"}]},"telecom":[{"system":"url","value":"https://user:pw@meet.example/x"}]}],
			"participant":[{"actor":{"reference":"#v"},"status":"accepted"}]`, want: aggregator.MediumVideo},
		{name: "phone by text", appt: `"appointmentType":{"text":"Telefonkonsultation"},"participant":[]`, want: aggregator.MediumPhone},
		{name: "home visit by service", appt: `"serviceType":[{"text":"Hjemmebesøg af sygeplejerske"}],"participant":[]`, want: aggregator.MediumHomeVisit},
		{name: "home visit by code", appt: `"appointmentType":{"coding":[{` + actCode + `,"code":"HH"}]},"participant":[]`, want: aggregator.MediumHomeVisit},
		{name: "encounter in a virtual room", encounter: `"location":[{"location":{"reference":"Location/vroom"}}]`, want: aggregator.MediumVideo, wantURL: "https://video.example.dk/r/7"},
		{name: "encounter with virtual service extension", encounter: `"extension":[{"url":"http://hl7.org/fhir/5.0/StructureDefinition/extension-Encounter.virtualService","extension":[{"url":"addressUrl","valueUrl":"https://v.example/2"}]}]`,
			want: aggregator.MediumVideo, wantURL: "https://v.example/2"},
		{name: "encounter with a data: link", encounter: `"extension":[{"url":"http://hl7.org/fhir/5.0/StructureDefinition/extension-Encounter.virtualService","extension":[{"url":"addressUrl","valueUrl":"data:text/html,<script>alert(1)</script>"}]}]`,
			want: aggregator.MediumVideo},
		{name: "encounter by phone type", encounter: `"type":[{"text":"Telefonkonsultation"}]`, want: aggregator.MediumPhone},
		{name: "encounter home health class", encounter: `"class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"HH"}`, want: aggregator.MediumHomeVisit},
	}
	n := normaliser{src: s, loc: cph}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e aggregator.Entry
			var err error
			if tc.appt != "" {
				a, derr := fhir.DecodeAppointment([]byte(`{"resourceType":"Appointment","id":"m","status":"booked","start":"2026-12-01T10:00:00Z",` + tc.appt + `}`))
				if derr != nil {
					t.Fatal(derr)
				}
				e, err = n.appointment(a)
			} else {
				class := `"class":{"code":"AMB"},`
				if strings.Contains(tc.encounter, `"class"`) {
					class = ""
				}
				enc, derr := fhir.DecodeEncounter([]byte(`{"resourceType":"Encounter","id":"m","status":"finished",` + class + `"period":{"start":"2026-12-01T10:00:00Z"},` + tc.encounter + `}`))
				if derr != nil {
					t.Fatal(derr)
				}
				e, err = n.encounter(enc)
			}
			if err != nil {
				t.Fatal(err)
			}
			check(t, "medium", e.Medium, tc.want)
			check(t, "video url", e.VideoURL, tc.wantURL)
			if tc.want == aggregator.MediumVideo && e.Place.Name != "" {
				t.Errorf("place = %q: a virtual room is no place", e.Place.Name)
			}
		})
	}
}

func TestSecurityLabels(t *testing.T) {
	tests := []struct {
		code string
		want aggregator.Sensitivity
	}{
		{"R", aggregator.SensitivityRestricted},
		{"V", aggregator.SensitivityRestricted},
		{"N", aggregator.SensitivityNormal},
		{"M", aggregator.SensitivityNormal},
	}
	n := normaliser{src: testSource(t), loc: cph}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			a, err := fhir.DecodeAppointment([]byte(`{"resourceType":"Appointment","id":"s","status":"booked","start":"2026-12-01T10:00:00Z","participant":[],
				"meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"` + tc.code + `"}]}}`))
			if err != nil {
				t.Fatal(err)
			}
			e, err := n.appointment(a)
			if err != nil {
				t.Fatal(err)
			}
			check(t, "sensitivity", e.Sensitivity, tc.want)
		})
	}
}

func TestUnknownStatusIsAWarning(t *testing.T) {
	res := append([]string{
		`{"resourceType":"Appointment","id":"newer","status":"in-review","start":"2026-12-05T09:00:00+01:00","participant":[{"actor":{"reference":"Patient/pat-1"},"status":"accepted"}]}`,
	}, fixture...)
	_, base := startSim(t, res, fhirsim.Options{TimeZone: cph})
	b, err := newSource(t, base, 50).Fetch(context.Background(), anna, window)
	if err != nil {
		t.Fatal(err)
	}
	var got aggregator.Status
	for _, e := range b.Entries {
		if e.ID == "auh/Appointment/newer" {
			got = e.Status
		}
	}
	check(t, "status", got, aggregator.StatusUnknown)
	check(t, "warnings", b.Warnings, 1)
	check(t, "skipped", b.Skipped, 0)
	if len(b.Notes) != 1 || !strings.Contains(b.Notes[0], "in-review") {
		t.Errorf("notes = %q, want one naming the status", b.Notes)
	}
}

func TestGenericDetail(t *testing.T) {
	res := append([]string{
		`{"resourceType":"Practitioner","id":"gp","name":[{"text":"Læge Jens Hansen"}]}`,
		`{"resourceType":"Appointment","id":"g1","status":"booked","description":"Samtale om depression","patientInstruction":"Tag medicinlisten med",
		  "serviceType":[{"text":"Psykiatrisk samtale"}],"start":"2026-12-05T09:00:00+01:00","end":"2026-12-05T09:15:00+01:00",
		  "participant":[{"actor":{"reference":"Patient/pat-1"},"status":"accepted"},{"actor":{"reference":"Location/clinic"},"status":"accepted"},
		                 {"actor":{"reference":"Practitioner/gp"},"status":"accepted"}]}`,
	}, fixture...)
	_, base := startSim(t, res, fhirsim.Options{TimeZone: cph})
	tests := []struct {
		detail      Detail
		wantGeneric bool
		wantTitle   string
	}{
		{DetailFull, false, "Samtale om depression"},
		{"", false, "Samtale om depression"},
		{DetailGeneric, true, ""},
	}
	for _, tc := range tests {
		t.Run(string(tc.detail), func(t *testing.T) {
			s, err := New(Config{Name: "gp", Sector: aggregator.SectorGP, BaseURL: base, Location: cph, Detail: tc.detail}, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := s.Fetch(context.Background(), anna, window)
			if err != nil {
				t.Fatal(err)
			}
			var e aggregator.Entry
			for _, x := range b.Entries {
				if x.ID == "gp/Appointment/g1" {
					e = x
				}
			}
			check(t, "generic", e.Generic, tc.wantGeneric)
			check(t, "title", e.Title, tc.wantTitle)
			check(t, "start", e.Start, ts("2026-12-05T09:00:00+01:00"))
			check(t, "end", e.End, ts("2026-12-05T09:15:00+01:00"))
			check(t, "place", e.Place.Name, "Øjenklinikken")
			if tc.wantGeneric {
				if e.Description != "" || e.Instruction != "" || len(e.People) != 0 || e.Organization != "" || e.Contact != "" {
					t.Errorf("generic entry keeps details: %+v", e)
				}
			} else if e.Instruction == "" || len(e.People) != 1 {
				t.Errorf("full entry lost details: %+v", e)
			}
		})
	}
	if _, err := New(Config{Name: "x", BaseURL: base, Detail: "some"}, nil); err == nil {
		t.Error("New accepted detail \"some\"")
	}
}

const ecprSystem = "urn:oid:1.2.208.176.1.6.1.1"

func TestPatientMatching(t *testing.T) {
	appt := func(id, patient string) string {
		return `{"resourceType":"Appointment","id":"` + id + `","status":"booked","start":"2026-12-01T10:00:00+01:00","participant":[{"actor":{"reference":"Patient/` + patient + `"},"status":"accepted"}]}`
	}
	medcom, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "fhir-examples", "medcom-dk", "core-Patient-ded1fc9a-aa93-4162-aaec-7145a8ac951f.json"))
	if err != nil {
		t.Fatalf("the shared FHIR examples are required: %v", err)
	}
	birgit := aggregator.Identifier{System: ecprSystem, Value: "0703921VJ4"}
	tests := []struct {
		name      string
		resources []string
		id        aggregator.Identifier
		want      string // the one entry id, or "" for an error
		wantKind  aggregator.ErrorKind
	}{
		{name: "eCPR, MedCom example", id: birgit, want: "auh/Appointment/b1",
			resources: []string{string(medcom), appt("b1", "ded1fc9a-aa93-4162-aaec-7145a8ac951f")}},
		{name: "eCPR held under an issuer's sub-OID", id: birgit, want: "auh/Appointment/b1",
			resources: []string{`{"resourceType":"Patient","id":"p","identifier":[{"system":"urn:oid:1.2.208.176.1.6.1.1.7","value":"0703921VJ4"}]}`, appt("b1", "p")}},
		{name: "the eCPR's value in another system is another person", id: birgit, wantKind: aggregator.NotFound,
			resources: []string{`{"resourceType":"Patient","id":"p","identifier":[{"system":"urn:oid:1.2.208.176.1.2","value":"0703921VJ4"}]}`, appt("b1", "p")}},
		{name: "an eCPR record replaced by a CPR record", id: birgit, want: "auh/Appointment/new",
			resources: []string{
				`{"resourceType":"Patient","id":"old","active":false,"identifier":[{"system":"urn:oid:1.2.208.176.1.6.1.1","value":"0703921VJ4"}],"link":[{"other":{"reference":"Patient/cur"},"type":"replaced-by"}]}`,
				`{"resourceType":"Patient","id":"cur","identifier":[{"system":"urn:oid:1.2.208.176.1.2","value":"0703921234"}],"link":[{"other":{"reference":"Patient/old"},"type":"replaces"}]}`,
				appt("stale", "old"), appt("new", "cur")}},
		{name: "two records of one CPR, one replaced by the other", id: anna.Identifier, want: "auh/Appointment/new",
			resources: []string{
				`{"resourceType":"Patient","id":"dup","identifier":[{"system":"urn:oid:1.2.208.176.1.2","value":"3002991234"}],"link":[{"other":{"reference":"Patient/cur"},"type":"replaced-by"}]}`,
				`{"resourceType":"Patient","id":"cur","identifier":[{"system":"urn:oid:1.2.208.176.1.2","value":"3002991234"}]}`,
				appt("new", "cur")}},
		{name: "replaced-by links in a loop", id: anna.Identifier, wantKind: aggregator.Invalid,
			resources: []string{
				`{"resourceType":"Patient","id":"a","identifier":[{"system":"urn:oid:1.2.208.176.1.2","value":"3002991234"}],"link":[{"other":{"reference":"Patient/b"},"type":"replaced-by"}]}`,
				`{"resourceType":"Patient","id":"b","link":[{"other":{"reference":"Patient/a"},"type":"replaced-by"}]}`}},
		{name: "two live records are never a guess", id: anna.Identifier, wantKind: aggregator.Invalid,
			resources: []string{
				`{"resourceType":"Patient","id":"a","identifier":[{"system":"urn:oid:1.2.208.176.1.2","value":"3002991234"}]}`,
				`{"resourceType":"Patient","id":"b","identifier":[{"system":"urn:oid:1.2.208.176.1.2","value":"3002991234"}]}`}},
		{name: "an inactive record alone is not the patient", id: anna.Identifier, wantKind: aggregator.NotFound,
			resources: []string{`{"resourceType":"Patient","id":"a","active":false,"identifier":[{"system":"urn:oid:1.2.208.176.1.2","value":"3002991234"}]}`, appt("x", "a")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, base := startSim(t, tc.resources, fhirsim.Options{TimeZone: cph})
			b, err := newSource(t, base, 50).Fetch(context.Background(), aggregator.PatientRef{Handle: "h", Identifier: tc.id}, window)
			if tc.want == "" {
				var se *aggregator.SourceError
				if !errors.As(err, &se) || se.Kind != tc.wantKind {
					t.Fatalf("err = %v, want kind %s", err, tc.wantKind)
				}
				if strings.Contains(err.Error(), tc.id.Value) {
					t.Errorf("error %q holds the identifier", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(b.Entries) != 1 || b.Entries[0].ID != tc.want {
				var ids []string
				for _, e := range b.Entries {
					ids = append(ids, e.ID)
				}
				t.Errorf("entries %v, want [%s]", ids, tc.want)
			}
		})
	}
}

func TestPractitionerRole(t *testing.T) {
	withActor := func(id, actor string) string {
		return `{"resourceType":"Appointment","id":"` + id + `","status":"booked","start":"2026-12-01T10:00:00+01:00",
		  "participant":[{"actor":{"reference":"Patient/pat-1"},"status":"accepted"},{"actor":` + actor + `,"status":"accepted"}]}`
	}
	res := append([]string{
		`{"resourceType":"Practitioner","id":"p9","name":[{"prefix":["Overlæge"],"given":["Mette"],"family":"Kjær"}]}`,
		`{"resourceType":"PractitionerRole","id":"r1","practitioner":{"reference":"Practitioner/p9"},"code":[{"text":"Overlæge"}]}`,
		`{"resourceType":"PractitionerRole","id":"r2","practitioner":{"reference":"Practitioner/p9","display":"Dr. Kjær"}}`,
		`{"resourceType":"PractitionerRole","id":"r3","code":[{"text":"Sygeplejerske"}]}`,
		withActor("via-read", `{"reference":"PractitionerRole/r1"}`),
		withActor("role-display", `{"reference":"PractitionerRole/r2"}`),
		withActor("role-text", `{"reference":"PractitionerRole/r3"}`),
		withActor("ref-display", `{"reference":"PractitionerRole/r3","display":"Sygeplejerske Ole"}`),
	}, fixture[0])
	_, base := startSim(t, res, fhirsim.Options{TimeZone: cph})
	b, err := newSource(t, base, 50).Fetch(context.Background(), anna, window)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range b.Entries {
		got[strings.TrimPrefix(e.ID, "auh/Appointment/")] = strings.Join(e.People, ",")
	}
	for id, want := range map[string]string{
		"via-read":     "Overlæge Mette Kjær", // the role, then its practitioner
		"role-display": "Dr. Kjær",
		"role-text":    "Sygeplejerske",
		"ref-display":  "Sygeplejerske Ole",
	} {
		check(t, id, got[id], want)
	}
}

// TestPatientIDIsLookedUpAgainDaily: a merge of records (replaced-by) is
// noticed within FullReread.
func TestPatientIDIsLookedUpAgainDaily(t *testing.T) {
	sim := simHandler(t, fixture)
	var lookups atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/Patient" {
			lookups.Add(1)
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	s, err := New(Config{Name: "auh", BaseURL: srv.URL, Location: cph, Now: func() time.Time { return now }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		advance time.Duration
		want    int64
	}{{0, 1}, {time.Hour, 1}, {23 * time.Hour, 2}, {time.Hour, 2}} {
		now = now.Add(step.advance)
		if _, err := s.Fetch(context.Background(), anna, window); err != nil {
			t.Fatal(err)
		}
		check(t, "look-ups", lookups.Load(), step.want)
	}
}

func TestNotesAreBounded(t *testing.T) {
	res := []string{fixture[0]}
	for i := range 30 {
		res = append(res, `{"resourceType":"Appointment","id":"bad`+strconv.Itoa(i)+`","status":"booked","start":"2026-12-01T10:00:00+01:00","end":"2026-12-01T09:00:00+01:00",
		  "participant":[{"actor":{"reference":"Patient/pat-1"},"status":"accepted"}]}`)
	}
	_, base := startSim(t, res, fhirsim.Options{TimeZone: cph})
	b, err := newSource(t, base, 100).Fetch(context.Background(), anna, window)
	if err != nil {
		t.Fatal(err)
	}
	if b.Skipped != 30 || len(b.Notes) != aggregator.MaxNotes+1 {
		t.Errorf("skipped %d with %d notes; want 30 counted and %d notes", b.Skipped, len(b.Notes), aggregator.MaxNotes+1)
	}
}
