package fhir

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// examplesDir holds real FHIR documents (MedCom, Synthea) laid beside the
// clone, in CI too; a missing folder is a failure, not a skip.
const examplesDir = "../../shared/fhir-examples"

const (
	cprSystem  = "urn:oid:1.2.208.176.1.2"
	ecprSystem = "urn:oid:1.2.208.176.1.6.1.1"
)

// exampleFile is one parsed document from examplesDir.
type exampleFile struct {
	name      string // relative to examplesDir
	resources []json.RawMessage
}

func loadExamples(t testing.TB) []exampleFile {
	t.Helper()
	var files []exampleFile
	for _, dir := range []string{"medcom-dk", "synthea"} {
		paths, err := filepath.Glob(filepath.Join(examplesDir, dir, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		if len(paths) == 0 {
			t.Fatalf("no examples in %s: the shared fhir-examples folder must lie beside the clone", filepath.Join(examplesDir, dir))
		}
		for _, p := range paths {
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			rs, err := Resources(raw)
			if err != nil {
				t.Fatalf("Resources(%s): %v", p, err)
			}
			files = append(files, exampleFile{name: dir + "/" + filepath.Base(p), resources: rs})
		}
	}
	return files
}

func TestExamplesParse(t *testing.T) {
	files := loadExamples(t)
	if got, want := len(files), 33; got != want {
		t.Errorf("files = %d, want %d (README lists 33)", got, want)
	}
	// Entry counts from the README.
	wantCounts := map[string]int{
		"medcom-dk/hospitalnotification-Bundle-a5e5b880-c087-4055-b9ec-99108695f81d.json": 6,
		"medcom-dk/hospitalnotification-Bundle-e94de8ee-bd94-475e-b454-b8fbbef8a685.json": 8,
		"medcom-dk/hospitalnotification-Bundle-n73ccf30-80b9-4bd2-bf50-1ac1914498f0.json": 6,
		"synthea/Clemente_Kreiger_1484a42d-0eaf-4654-9cbf-6b050a5cd73b.json":              70,
	}
	for _, f := range files {
		t.Run(f.name, func(t *testing.T) {
			want, ok := wantCounts[f.name]
			if !ok {
				want = 1
			}
			if got := len(f.resources); got != want {
				t.Errorf("resources = %d, want %d", got, want)
			}
			for i, r := range f.resources {
				if _, err := ResourceType(r); err != nil {
					t.Errorf("resource %d: %v", i, err)
				}
			}
		})
	}
}

func TestExamplesDecode(t *testing.T) {
	files := loadExamples(t)
	encounters := map[string]*Encounter{} // by id; bundle copies must agree with the files
	patients := map[string]*r4.Patient{}
	var nEnc, nPat int
	for _, f := range files {
		for i, r := range f.resources {
			rt, err := ResourceType(r)
			if err != nil {
				t.Fatal(err)
			}
			switch rt {
			case "Encounter":
				e, err := DecodeEncounter(r)
				if err != nil {
					t.Fatalf("%s[%d]: %v", f.name, i, err)
				}
				if !e.KnownStatus || e.Status.Code() != e.RawStatus || len(e.Dropped) > 0 {
					t.Errorf("%s[%d]: status %q known=%v dropped=%q", f.name, i, e.RawStatus, e.KnownStatus, e.Dropped)
				}
				nEnc++
				encounters[*e.Id] = e
			case "Patient":
				p, err := DecodePatient(r)
				if err != nil {
					t.Fatalf("%s[%d]: %v", f.name, i, err)
				}
				nPat++
				patients[*p.Id] = p
			default:
				// Other types must be refused by the typed decoders.
				if _, err := DecodeEncounter(r); err == nil {
					t.Errorf("%s[%d]: DecodeEncounter accepted a %s", f.name, i, rt)
				}
				if _, err := DecodePatient(r); err == nil {
					t.Errorf("%s[%d]: DecodePatient accepted a %s", f.name, i, rt)
				}
			}
		}
	}
	// medcom: 13 Encounter files + 3 in the message Bundles; synthea: 3.
	// medcom: 16 Patient files + 3 in the message Bundles; synthea: 1.
	if nEnc != 19 || nPat != 20 {
		t.Errorf("decoded %d Encounters, %d Patients; want 19, 20", nEnc, nPat)
	}

	str := func(p *string) string {
		if p == nil {
			return "<nil>"
		}
		return *p
	}
	encTests := []struct {
		id, status, class, start, end string
	}{
		{"a790f964-88d3-4652-bbc8-81d2f3d035f8", "in-progress", "IMP", "2022-12-07T12:00:00+02:00", "<nil>"},
		{"c9782061-ce63-41b5-8be6-655812d23332", "entered-in-error", "IMP", "2022-12-07T12:00:00+02:00", "<nil>"},
		{"d56e9c54-23d2-43a4-816e-951d2a6e3281", "onleave", "IMP", "2022-12-07T12:00:00+02:00", "<nil>"},
		{"f405ba2d-467a-4e92-9acc-9dc2a629760f", "finished", "IMP", "2022-12-07T12:00:00+02:00", "2022-12-18T09:45:30+02:00"},
		{"h2cb16ce-af8c-46f3-be9e-89406ef3e7b5", "in-progress", "EMER", "2022-12-01T10:00:04+02:00", "<nil>"},
		{"ne70f2b8-a924-11ed-afa1-0242ac120002", "in-progress", "IMP", "2022-12-07T12:00:00+02:00", "<nil>"},
		{"6220b42d-c4fd-4c77-bae7-78e7d890dc8d", "planned", "AMB", "<nil>", "<nil>"},
		{"afcee359-ffbb-4ae0-b54f-547eb3c58e68", "finished", "AMB", "2012-09-10T15:29:24+00:00", "2012-09-10T15:44:24+00:00"},
	}
	for _, tt := range encTests {
		t.Run("Encounter/"+tt.id, func(t *testing.T) {
			e, ok := encounters[tt.id]
			if !ok {
				t.Fatal("not found")
			}
			var start, end *string
			if e.Period != nil {
				start, end = e.Period.Start, e.Period.End
			}
			got := []string{e.RawStatus, e.Status.Code(), str(e.Class.Code), str(start), str(end)}
			want := []string{tt.status, tt.status, tt.class, tt.start, tt.end}
			if !slices.Equal(got, want) {
				t.Errorf("status, code, class, start, end = %q, want %q", got, want)
			}
		})
	}
	if e := encounters["a790f964-88d3-4652-bbc8-81d2f3d035f8"]; e != nil && str(e.Subject.Reference) != "Patient/t33cef33-3626-422b-955d-d506aaa65fe1" {
		t.Errorf("a790f964 subject = %q", str(e.Subject.Reference))
	}

	identifier := func(p *r4.Patient, system string) string {
		for _, id := range p.Identifier {
			if str(id.System) == system {
				return str(id.Value)
			}
		}
		return ""
	}
	var elmer []string
	for id, p := range patients {
		if identifier(p, cprSystem) == "2509479989" {
			elmer = append(elmer, id)
		}
	}
	if len(elmer) != 13 {
		t.Errorf("Elmer (CPR 2509479989) under %d ids, want 13: %q", len(elmer), elmer)
	}
	if p := patients["t33cef33-3626-422b-955d-d506aaa65fe1"]; p == nil || len(p.Name) == 0 || str(p.Name[0].Family) != "Elmer" {
		t.Errorf("t33cef33 (from the message Bundle too) is not Elmer: %+v", p)
	}
	if p := patients["ded1fc9a-aa93-4162-aaec-7145a8ac951f"]; p == nil || identifier(p, ecprSystem) != "0703921VJ4" || identifier(p, cprSystem) != "" {
		t.Errorf("eCPR patient: %+v", p)
	}
	if p := patients["382fb8a3-6725-41e2-a615-2b1cfcfe9931"]; p == nil || len(p.Name) == 0 ||
		str(p.Name[0].Family) != "Østergård" || strings.Join(p.Name[0].Given, " ") != "Cæcar Test" {
		t.Errorf("Danish letters: %+v", p)
	}
	if p := patients["d78af07c-9cb9-4f31-9b11-c45a28f2eec8"]; p == nil || p.Gender == nil || p.Gender.Code() != "male" || str(p.BirthDate) != "1984-07-02" {
		t.Errorf("Synthea patient: %+v", p)
	}
}
