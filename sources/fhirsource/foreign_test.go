package fhirsource

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/fhir/fhirsim"
)

// TestOtherPatientsAreDropped: a server that ignores patient= answers with
// everyone's appointments; only the patient's own (under any of the records
// that stand for them) may come back, and the rest are counted with a note.
func TestOtherPatientsAreDropped(t *testing.T) {
	stranger := []string{
		`{"resourceType":"Appointment","id":"p999-appt","status":"booked","description":"Andens aftale","start":"2026-12-03T10:00:00+01:00",
		  "participant":[{"actor":{"reference":"Patient/p999"},"status":"accepted"},{"actor":{"reference":"Location/clinic"},"status":"accepted"}]}`,
		`{"resourceType":"Encounter","id":"p999-enc","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p999"},
		  "period":{"start":"2026-12-04T10:00:00+01:00","end":"2026-12-04T11:00:00+01:00"}}`,
		`{"resourceType":"Encounter","id":"nobodys","status":"finished","class":{"code":"AMB"},"period":{"start":"2026-12-05T10:00:00+01:00"}}`,
		`{"resourceType":"Appointment","id":"by-identifier","status":"booked","start":"2026-12-06T10:00:00+01:00",
		  "participant":[{"actor":{"identifier":{"system":"urn:oid:1.2.208.176.1.2","value":"0101017777"}},"status":"accepted"}]}`,
	}
	own := []string{
		`{"resourceType":"Appointment","id":"absolute","status":"booked","start":"2026-12-07T10:00:00+01:00",
		  "participant":[{"actor":{"reference":"https://internal.example/fhir/Patient/pat-1"},"status":"accepted"}]}`,
		`{"resourceType":"Encounter","id":"versioned","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/pat-1/_history/3"},
		  "period":{"start":"2026-12-08T10:00:00+01:00","end":"2026-12-08T11:00:00+01:00"}}`,
	}
	// The fixture's own: a1, a2, e2; pat-2's "other" is a stranger's too.
	wantOwn := []string{"auh/Appointment/a2", "auh/Appointment/a1", "auh/Appointment/absolute", "auh/Encounter/e2", "auh/Encounter/versioned"}
	resources := append(append(append([]string{}, fixture...), stranger...), own...)

	tests := []struct {
		name string
		cfg  Config
	}{
		{"window read", Config{}},
		{"with _include", Config{Include: true}},
		{"incremental", Config{Incremental: true}},
		{"paged", Config{PageSize: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, base := startSim(t, resources, fhirsim.Options{TimeZone: cph, IgnorePatient: true})
			cfg := tc.cfg
			cfg.Name, cfg.Sector, cfg.BaseURL, cfg.Location = "auh", aggregator.SectorHospital, base, cph
			s, err := New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			for fetch := range 2 { // the second one incremental, when so configured
				b, err := s.Fetch(context.Background(), anna, window)
				if err != nil {
					t.Fatalf("fetch %d: %v", fetch, err)
				}
				var got []string
				for _, e := range b.Entries {
					got = append(got, e.ID)
					if strings.Contains(e.Title, "Andens") {
						t.Errorf("fetch %d: another patient's appointment %s is in the timeline", fetch, e.ID)
					}
				}
				if strings.Join(slices.Sorted(slices.Values(got)), " ") != strings.Join(slices.Sorted(slices.Values(wantOwn)), " ") {
					t.Errorf("fetch %d: entries %v, want %v", fetch, got, wantOwn)
				}
				// other (pat-2), the four strangers; nostart is anna's and
				// outside any date search.
				if b.Skipped != 5 || b.Warnings != 0 {
					t.Errorf("fetch %d: skipped %d, warnings %d (%q); want 5 and 0", fetch, b.Skipped, b.Warnings, b.Notes)
				}
				if len(b.Notes) == 0 || !strings.HasPrefix(b.Notes[0], "5 resources dropped as belonging to another patient") {
					t.Errorf("fetch %d: notes %q, want the first to say 5 were another patient's", fetch, b.Notes)
				}
			}
		})
	}
}

// TestLinkedRecordsAreThePatient: resources of a record the patient's
// replaced, or that it links to, are the patient's; a stranger's are not.
func TestLinkedRecordsAreThePatient(t *testing.T) {
	appt := func(id, patient string) string {
		return `{"resourceType":"Appointment","id":"` + id + `","status":"booked","start":"2026-12-01T10:00:00+01:00","participant":[{"actor":{"reference":"Patient/` + patient + `"},"status":"accepted"}]}`
	}
	resources := []string{
		`{"resourceType":"Patient","id":"old","active":false,"identifier":[{"system":"urn:oid:1.2.208.176.1.2","value":"3002991234"}],"link":[{"other":{"reference":"Patient/cur"},"type":"replaced-by"}]}`,
		`{"resourceType":"Patient","id":"cur","identifier":[{"system":"urn:oid:1.2.208.176.1.2","value":"3002991234"}],"link":[{"other":{"reference":"Patient/alias"},"type":"seealso"}]}`,
		`{"resourceType":"Patient","id":"alias"}`,
		`{"resourceType":"Patient","id":"p999"}`,
		appt("of-old", "old"), appt("of-cur", "cur"), appt("of-alias", "alias"), appt("of-p999", "p999"),
	}
	_, base := startSim(t, resources, fhirsim.Options{TimeZone: cph, IgnorePatient: true})
	b, err := newSource(t, base, 50).Fetch(context.Background(), anna, window)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range b.Entries {
		got = append(got, e.ID)
	}
	want := []string{"auh/Appointment/of-alias", "auh/Appointment/of-cur", "auh/Appointment/of-old"}
	if strings.Join(slices.Sorted(slices.Values(got)), " ") != strings.Join(want, " ") || b.Skipped != 1 {
		t.Errorf("entries %v, skipped %d (%q); want %v and of-p999 dropped", got, b.Skipped, b.Notes, want)
	}
}

func TestPatientRef(t *testing.T) {
	tests := []struct {
		ref, want string
		ok        bool
	}{
		{"Patient/p1", "p1", true},
		{"Patient/p1/_history/2", "p1", true},
		{"https://fhir.example/r4/Patient/p1", "p1", true},
		{"https://fhir.example/r4/Patient/p1/_history/2", "p1", true},
		{"Practitioner/p1", "", false},
		{"#p1", "", false},
		{"p1", "", false},
		{"Patient/", "", false},
		{"x/Patient/p1", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		got, ok := patientRef(tc.ref)
		if got != tc.want || ok != tc.ok {
			t.Errorf("patientRef(%q) = %q, %v; want %q, %v", tc.ref, got, ok, tc.want, tc.ok)
		}
	}
}
