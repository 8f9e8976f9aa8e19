package fhir

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

const apptBooked = `{
  "resourceType": "Appointment",
  "id": "a1",
  "status": "booked",
  "description": "Kontrol",
  "start": "2026-03-02T09:00:00+01:00",
  "end": "2026-03-02T09:30:00+01:00",
  "participant": [
    {"actor": {"reference": "Patient/p1"}, "status": "accepted", "required": "required"},
    {"actor": {"reference": "Practitioner/d1"}, "status": "tentative"}
  ]
}`

// withField returns doc with one top-level member replaced (or removed when
// value is ""), so variants are derived from one valid document.
func withField(t testing.TB, doc, key, value string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatalf("withField: %v", err)
	}
	if value == "" {
		delete(m, key)
	} else {
		m[key] = json.RawMessage(value)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("withField: %v", err)
	}
	return string(b)
}

func TestDecodeAppointment(t *testing.T) {
	participants := func(p string) string { return withField(t, apptBooked, "participant", p) }
	tests := []struct {
		name        string
		doc         string
		wantErr     error
		wantRaw     string
		wantKnown   bool
		wantStatus  r4.AppointmentStatus
		wantDropped []string
	}{
		{name: "valid booked", doc: apptBooked, wantRaw: "booked", wantKnown: true, wantStatus: r4.AppointmentStatusBooked},
		{name: "valid cancelled", doc: withField(t, apptBooked, "status", `"cancelled"`), wantRaw: "cancelled", wantKnown: true, wantStatus: r4.AppointmentStatusCancelled},
		{name: "entered-in-error", doc: withField(t, apptBooked, "status", `"entered-in-error"`), wantRaw: "entered-in-error", wantKnown: true, wantStatus: r4.AppointmentStatusEnteredInError},
		{name: "known code written with escapes", doc: withField(t, apptBooked, "status", `"book\u0065d"`), wantRaw: "booked", wantKnown: true, wantStatus: r4.AppointmentStatusBooked},
		{name: "unknown status keeps the resource", doc: withField(t, apptBooked, "status", `"scheduled"`), wantRaw: "scheduled"},
		{name: "unknown participant status", doc: participants(`[{"actor":{"reference":"Patient/p1"},"status":"maybe"},{"actor":{"reference":"Practitioner/d1"},"status":"accepted"}]`),
			wantRaw: "booked", wantKnown: true, wantStatus: r4.AppointmentStatusBooked, wantDropped: []string{"participant[0].status"}},
		{name: "missing participant status", doc: participants(`[{"actor":{"reference":"Patient/p1"}},{"actor":{"reference":"Practitioner/d1"},"status":"accepted"}]`),
			wantRaw: "booked", wantKnown: true, wantStatus: r4.AppointmentStatusBooked, wantDropped: []string{"participant[0].status"}},
		{name: "unknown participant required and unknown status", doc: withField(t, participants(`[{"actor":{"reference":"Patient/p1"},"status":"accepted","required":"sometimes"},{"actor":{"reference":"Practitioner/d1"},"status":"accepted"}]`), "status", `"scheduled"`),
			wantRaw: "scheduled", wantDropped: []string{"participant[0].required"}},
		{name: "participant codes written with escapes", doc: participants(`[{"actor":{"reference":"Patient/p1"},"status":"accept\u0065d","required":"requir\u0065d"},{"actor":{"reference":"Practitioner/d1"},"status":"accepted"}]`),
			wantRaw: "booked", wantKnown: true, wantStatus: r4.AppointmentStatusBooked},
		{name: "wrong resourceType", doc: withField(t, apptBooked, "resourceType", `"Encounter"`), wantErr: ErrInvalid},
		{name: "missing resourceType", doc: withField(t, apptBooked, "resourceType", ""), wantErr: ErrInvalid},
		{name: "missing status", doc: withField(t, apptBooked, "status", ""), wantErr: ErrInvalid},
		{name: "empty status", doc: withField(t, apptBooked, "status", `""`), wantErr: ErrInvalid},
		{name: "null status", doc: withField(t, apptBooked, "status", `null`), wantErr: ErrInvalid},
		{name: "status not a string", doc: withField(t, apptBooked, "status", `7`), wantErr: ErrInvalid},
		{name: "malformed JSON", doc: apptBooked[:40], wantErr: ErrInvalid},
		{name: "not an object", doc: `[]`, wantErr: ErrInvalid},
		{name: "other field of wrong type", doc: withField(t, apptBooked, "start", `12`), wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeAppointment([]byte(tt.doc))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got.RawStatus != tt.wantRaw || got.KnownStatus != tt.wantKnown {
				t.Errorf("RawStatus, KnownStatus = %q, %v; want %q, %v", got.RawStatus, got.KnownStatus, tt.wantRaw, tt.wantKnown)
			}
			if tt.wantKnown && got.Status != tt.wantStatus {
				t.Errorf("Status = %v, want %v", got.Status, tt.wantStatus)
			}
			if !slices.Equal(got.Dropped, tt.wantDropped) {
				t.Errorf("Dropped = %q, want %q", got.Dropped, tt.wantDropped)
			}
			// The rest of the resource survives whatever was dropped.
			if got.Id == nil || *got.Id != "a1" || got.Start == nil || *got.Start != "2026-03-02T09:00:00+01:00" {
				t.Errorf("id/start lost: %+v", got.Appointment)
			}
			if len(got.Participant) != 2 || got.Participant[0].Actor == nil || *got.Participant[0].Actor.Reference != "Patient/p1" {
				t.Errorf("participants lost: %+v", got.Participant)
			}
			// A participant's known codes are the model's values: the codes
			// the document says (escapes read), unless dropped.
			var doc struct {
				Participant []struct{ Status, Required *string }
			}
			if err := json.Unmarshal([]byte(tt.doc), &doc); err != nil {
				t.Fatal(err)
			}
			for i, p := range doc.Participant {
				if p.Status != nil && !slices.Contains(got.Dropped, fmt.Sprintf("participant[%d].status", i)) && got.Participant[i].Status.Code() != *p.Status {
					t.Errorf("participant[%d].status = %v, want %s", i, got.Participant[i].Status, *p.Status)
				}
				if p.Required != nil && !slices.Contains(got.Dropped, fmt.Sprintf("participant[%d].required", i)) &&
					(got.Participant[i].Required == nil || got.Participant[i].Required.Code() != *p.Required) {
					t.Errorf("participant[%d].required = %v, want %s", i, got.Participant[i].Required, *p.Required)
				}
			}
		})
	}
}

const encInProgress = `{
  "resourceType": "Encounter",
  "id": "e1",
  "status": "in-progress",
  "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
  "period": {"start": "2022-12-07T12:00:00+02:00"},
  "statusHistory": [{"status": "arrived", "period": {"start": "2022-12-07T11:00:00+02:00"}}],
  "location": [{"location": {"reference": "Location/l1"}, "status": "active"}]
}`

func TestDecodeEncounter(t *testing.T) {
	tests := []struct {
		name        string
		doc         string
		wantErr     error
		wantRaw     string
		wantKnown   bool
		wantStatus  r4.EncounterStatus
		wantDropped []string
	}{
		{name: "valid in-progress", doc: encInProgress, wantRaw: "in-progress", wantKnown: true, wantStatus: r4.EncounterStatusInProgress},
		{name: "valid finished", doc: withField(t, encInProgress, "status", `"finished"`), wantRaw: "finished", wantKnown: true, wantStatus: r4.EncounterStatusFinished},
		{name: "R5 completed is unknown but kept", doc: withField(t, encInProgress, "status", `"completed"`), wantRaw: "completed"},
		{name: "R5 discharged in statusHistory", doc: withField(t, encInProgress, "statusHistory", `[{"status":"arrived","period":{}},{"status":"discharged","period":{}}]`),
			wantRaw: "in-progress", wantKnown: true, wantStatus: r4.EncounterStatusInProgress, wantDropped: []string{"statusHistory[1].status"}},
		{name: "statusHistory without status", doc: withField(t, encInProgress, "statusHistory", `[{"period":{}}]`),
			wantRaw: "in-progress", wantKnown: true, wantStatus: r4.EncounterStatusInProgress, wantDropped: []string{"statusHistory[0].status"}},
		{name: "unknown location status", doc: withField(t, encInProgress, "location", `[{"location":{"reference":"Location/l1"},"status":"moved"}]`),
			wantRaw: "in-progress", wantKnown: true, wantStatus: r4.EncounterStatusInProgress, wantDropped: []string{"location[0].status"}},
		{name: "wrong resourceType", doc: withField(t, encInProgress, "resourceType", `"Appointment"`), wantErr: ErrInvalid},
		{name: "missing status", doc: withField(t, encInProgress, "status", ""), wantErr: ErrInvalid},
		{name: "malformed JSON", doc: encInProgress + "}", wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeEncounter([]byte(tt.doc))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got.RawStatus != tt.wantRaw || got.KnownStatus != tt.wantKnown {
				t.Errorf("RawStatus, KnownStatus = %q, %v; want %q, %v", got.RawStatus, got.KnownStatus, tt.wantRaw, tt.wantKnown)
			}
			if tt.wantKnown && got.Status != tt.wantStatus {
				t.Errorf("Status = %v, want %v", got.Status, tt.wantStatus)
			}
			if !slices.Equal(got.Dropped, tt.wantDropped) {
				t.Errorf("Dropped = %q, want %q", got.Dropped, tt.wantDropped)
			}
			if got.Class.Code == nil || *got.Class.Code != "IMP" || got.Period == nil || *got.Period.Start != "2022-12-07T12:00:00+02:00" {
				t.Errorf("class/period lost: %+v", got.Encounter)
			}
		})
	}
}

func TestDecodePatient(t *testing.T) {
	const pat = `{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:oid:1.2.208.176.1.2","value":"0101001234"}]}`
	tests := []struct {
		name    string
		doc     string
		wantErr error
	}{
		{name: "valid", doc: pat},
		{name: "wrong resourceType", doc: withField(t, pat, "resourceType", `"Practitioner"`), wantErr: ErrInvalid},
		{name: "missing resourceType", doc: withField(t, pat, "resourceType", ""), wantErr: ErrInvalid},
		{name: "malformed", doc: `{"resourceType":"Patient",`, wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodePatient([]byte(tt.doc))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got.Id == nil || *got.Id != "p1" || len(got.Identifier) != 1 || *got.Identifier[0].Value != "0101001234" {
				t.Errorf("got %+v", got)
			}
		})
	}
}

func TestDecodeErrorsHideCPR(t *testing.T) {
	// encoding/json quotes a number it cannot place in a numeric field; a
	// CPR sent there must not reach the error text.
	doc := withField(t, apptBooked, "priority", `1010012345.5`)
	_, err := DecodeAppointment([]byte(doc))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	if strings.Contains(err.Error(), "1010012345") {
		t.Errorf("error text leaks the number: %v", err)
	}
}

func TestResourceType(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		want    string
		wantErr bool
	}{
		{name: "first member", doc: `{"resourceType":"Appointment","id":"x"}`, want: "Appointment"},
		{name: "later member", doc: `{"id":"x","meta":{"resourceType":"no"},"contained":[{"resourceType":"Patient"}],"resourceType":"Encounter"}`, want: "Encounter"},
		{name: "first member, pretty", doc: "{\n  \"resourceType\" : \"Appointment\",\n  \"id\": \"x\"\n}", want: "Appointment"},
		{name: "first member, escaped", doc: `{"resourceTyp\u0065":"Appoint\u006dent"}`, want: "Appointment"},
		{name: "first member null", doc: `{"resourceType":null,"id":"x"}`, wantErr: true},
		{name: "missing", doc: `{"id":"x"}`, wantErr: true},
		{name: "not a string", doc: `{"resourceType":1}`, wantErr: true},
		{name: "empty", doc: `{"resourceType":""}`, wantErr: true},
		{name: "array", doc: `[{"resourceType":"Patient"}]`, wantErr: true},
		{name: "garbage", doc: `resourceType`, wantErr: true},
		{name: "empty input", doc: ``, wantErr: true},
		{name: "broken before the member", doc: `{"id":"x",,"resourceType":"Patient"}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResourceType([]byte(tt.doc))
			if tt.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestResources(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		want    []string // resourceType of each result
		wantErr bool
	}{
		{name: "single resource", doc: apptBooked, want: []string{"Appointment"}},
		{name: "bundle", doc: `{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Appointment","id":"1","status":"booked"}},{"fullUrl":"x"},{"resource":null},{"resource":{"resourceType":"Patient"}}]}`,
			want: []string{"Appointment", "Patient"}},
		{name: "empty bundle", doc: `{"resourceType":"Bundle","type":"searchset"}`, want: []string{}},
		{name: "nested bundle returned whole", doc: `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient"}}]}}]}`,
			want: []string{"Bundle"}},
		{name: "malformed single", doc: `{"resourceType":"Patient","id":`, wantErr: true},
		{name: "malformed bundle", doc: `{"resourceType":"Bundle","entry":{}}`, wantErr: true},
		{name: "no resourceType", doc: `{"entry":[]}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resources([]byte(tt.doc))
			if tt.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			types := []string{}
			for _, r := range got {
				rt, err := ResourceType(r)
				if err != nil {
					t.Fatal(err)
				}
				types = append(types, rt)
			}
			if !slices.Equal(types, tt.want) {
				t.Errorf("got %q, want %q", types, tt.want)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct {
		name, in string
		secrets  []string
		want     string
	}{
		{name: "ten digits", in: "no patient 0101001234 here", want: "no patient *** here"},
		{name: "with dash", in: "cpr 010100-1234.", want: "cpr ***."},
		{name: "after system bar", in: "urn:oid:1.2.208.176.1.2|0101001234", want: "urn:oid:1.2.208.176.1.2|***"},
		{name: "other lengths kept", in: "sor 265161000016000, page 12, 123456789", want: "sor 265161000016000, page 12, 123456789"},
		{name: "secret name", in: "no patient named Jensen", secrets: []string{"Jensen"}, want: "no patient named ***"},
		{name: "an empty secret is no secret", in: "HTTP 404", secrets: []string{""}, want: "HTTP 404"},
		{name: "longest secret first", in: "id sys|abc", secrets: []string{"abc", "sys|abc"}, want: "id ***"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Redact(tt.in, tt.secrets...); got != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecodeKeepsContained(t *testing.T) {
	raw := []byte(`{"resourceType":"Appointment","status":"booked","contained":[{"resourceType":"Location","id":"loc1","name":"Ambulatorium"}],"participant":[{"actor":{"reference":"#loc1"},"status":"accepted"}]}`)
	a, err := DecodeAppointment(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Contained) != 1 || !strings.Contains(string(a.Contained[0]), `"Ambulatorium"`) {
		t.Errorf("Appointment.Contained = %s, want the contained Location", a.Contained)
	}
	e, err := DecodeEncounter([]byte(`{"resourceType":"Encounter","status":"finished","class":{"code":"AMB"},"contained":[{"resourceType":"Practitioner","id":"p"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Contained) != 1 {
		t.Errorf("Encounter.Contained has %d resources, want 1", len(e.Contained))
	}
}

// TestUnmarshalNumbersAsEncodingJSON: the models keep decimals as
// encoding/json's Number; the faster decoder reads them as it did.
func TestUnmarshalNumbersAsEncodingJSON(t *testing.T) {
	for _, in := range []string{`{"n":1.50}`, `{"n":"2.5"}`, `{"n":null}`, `{"n":"x"}`, `{"n":true}`, `{"n":"1e3"}`} {
		var want, got struct{ N json.Number }
		wantErr := json.Unmarshal([]byte(in), &want)
		gotErr := Unmarshal([]byte(in), &got)
		if (wantErr == nil) != (gotErr == nil) || got.N != want.N {
			t.Errorf("%s: got %q, %v; encoding/json %q, %v", in, got.N, gotErr, want.N, wantErr)
		}
	}
}

// The code tables agree with samply's own decoders, have every R4 code,
// and not the placeholder samply gives values past the last.
func TestKnownCodesAreSamplys(t *testing.T) {
	check := func(name string, codes map[string]int, want int, unmarshal func(code string) (int, error)) {
		t.Helper()
		if len(codes) != want {
			t.Errorf("%s: %d codes, want %d: %v", name, len(codes), want, codes)
		}
		if _, ok := codes["<unknown>"]; ok {
			t.Errorf("%s: the placeholder is taken for a code", name)
		}
		for c, v := range codes {
			got, err := unmarshal(c)
			if err != nil || got != v {
				t.Errorf("%s %q: samply says %d (%v), the table %d", name, c, got, err, v)
			}
		}
	}
	un := func(u json.Unmarshaler, v func() int) func(string) (int, error) {
		return func(c string) (int, error) {
			b, _ := json.Marshal(c)
			err := u.UnmarshalJSON(b)
			return v(), err
		}
	}
	var as r4.AppointmentStatus
	check("AppointmentStatus", codesOf[r4.AppointmentStatus](), 10, un(&as, func() int { return int(as) }))
	var ps r4.ParticipationStatus
	check("ParticipationStatus", codesOf[r4.ParticipationStatus](), 4, un(&ps, func() int { return int(ps) }))
	var pr r4.ParticipantRequired
	check("ParticipantRequired", codesOf[r4.ParticipantRequired](), 3, un(&pr, func() int { return int(pr) }))
	var es r4.EncounterStatus
	check("EncounterStatus", codesOf[r4.EncounterStatus](), 9, un(&es, func() int { return int(es) }))
	var ls r4.EncounterLocationStatus
	check("EncounterLocationStatus", codesOf[r4.EncounterLocationStatus](), 4, un(&ls, func() int { return int(ls) }))
	if _, ok := known[r4.AppointmentStatus]("Booked"); ok {
		t.Error("codes are case-sensitive")
	}
}
