package rediscache

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
)

var update = flag.Bool("update", false, "rewrite the golden encodings in testdata/")

// goldenTimeline sets every field the v1 encoding carries.
func goldenTimeline() *aggregator.Timeline {
	cet := time.FixedZone("", 3600)
	gen := time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC)
	lat, lon := 56.1629, 0.0
	return &aggregator.Timeline{
		Patient: "k5w2q4", GeneratedAt: gen,
		Window: aggregator.Window{From: time.Date(2026, 8, 28, 0, 0, 0, 0, cet), To: time.Date(2027, 5, 26, 0, 0, 0, 0, cet)},
		Entries: []aggregator.Entry{{
			ID: "h/Appointment/1", Source: "h", Sector: aggregator.SectorHospital, Kind: aggregator.KindAdmission,
			Status: aggregator.StatusInProgress, FHIRStatus: "arrived",
			Start: time.Date(2026, 11, 25, 8, 30, 0, 0, cet), AllDay: false,
			Title: "Indlæggelse", Description: "Medicinsk afdeling", Instruction: "Medbring medicinliste",
			Place:  aggregator.Place{Name: "AUH", Address: "Palle Juul-Jensens Blvd. 99", Lat: &lat, Lon: &lon},
			People: []string{"Læge A"}, Organization: "Region Midt", Contact: "+45 7845 0000",
			Medium: aggregator.MediumVideo, VideoURL: "https://video.example/r/1", Sensitivity: aggregator.SensitivityRestricted,
			Generic: true, Updated: gen.Add(-time.Hour),
			Provenance:   []aggregator.Provenance{{Source: "h", Type: "Appointment", ID: "1", Version: "3"}, {Source: "h", Type: "Encounter", ID: "9"}},
			ServiceCodes: []string{"urn:sks|BVAA1"}, PartOf: []string{"h/Appointment/0"},
			Stale: true, FetchedAt: gen.Add(-2 * time.Hour),
		}},
		Sources: []aggregator.SourceStatus{{
			Name: "h", Display: "Hospital", Sector: aggregator.SectorHospital, OK: false,
			Error: "source h: timeout", ErrorKind: aggregator.Timeout, LastSuccess: gen.Add(-2 * time.Hour),
			Entries: 1, Skipped: 2, Duration: 10*time.Second + 5*time.Millisecond,
		}},
		Conflicts: []aggregator.Conflict{{
			ID: "c1", Rule: aggregator.RuleDuringAdmission, Severity: aggregator.SeverityHigh, Day: "2026-11-25",
			Entries: []string{"h/Appointment/1", "m/Appointment/2"}, Message: aggregator.Message{Da: "Besøg under indlæggelse", En: "Visit during admission"},
		}},
	}
}

// The stored format is a contract with every timeline already in Redis: a
// change that makes them unreadable turns a deploy into a mass rebuild. Run
// with -update only for an intended change, and bump schemaVersion when old
// readers would misread the new form.
func TestEncodingV1Golden(t *testing.T) {
	path := filepath.Join("testdata", "timeline-v1.json")
	got, err := encode(goldenTimeline())
	if err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	if *update {
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("encoding changed (go test -update to accept):\n got %s\nwant %s", pretty.Bytes(), want)
	}
	// What is stored decodes to the same timeline, offsets included.
	back, err := decode(want)
	if err != nil {
		t.Fatal(err)
	}
	again, err := encode(back)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, got) {
		t.Errorf("decode then encode of the golden file differs:\n got %s\nwant %s", again, got)
	}
}
