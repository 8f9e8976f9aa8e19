package rediscache

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
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

// The JSON inside every stored timeline is a contract with every timeline
// already in Redis: a change that makes them unreadable turns a deploy into
// a mass rebuild. Run with -update only for an intended change, and bump
// schemaVersion when old readers would misread the new form.
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

// demoTimelineV1 is the stored value, byte for byte, of a 50-entry timeline
// as releases before compression wrote it: 45 entries of the first demo
// patient and 5 of the third, built from testdata.Demo through fhirsim and
// the FHIR connector, with their conflicts and sources.
const demoTimelineV1 = "testdata/timeline-v1-demo50.json"

func demoTimeline(tb testing.TB) (*aggregator.Timeline, []byte) {
	tb.Helper()
	b, err := os.ReadFile(demoTimelineV1)
	if err != nil {
		tb.Fatal(err)
	}
	tl, err := decode(b)
	if err != nil {
		tb.Fatal(err)
	}
	if len(tl.Entries) != 50 {
		tb.Fatalf("%s has %d entries, want 50", demoTimelineV1, len(tl.Entries))
	}
	return tl, b
}

// sameTimeline fails unless got and want store the same JSON, which holds
// every field the cache keeps.
func sameTimeline(tb testing.TB, got, want *aggregator.Timeline) {
	tb.Helper()
	g, err := encode(got)
	if err != nil {
		tb.Fatal(err)
	}
	w, err := encode(want)
	if err != nil {
		tb.Fatal(err)
	}
	if !bytes.Equal(g, w) {
		tb.Errorf("timeline read back differs:\n got %.300s...\nwant %.300s...", g, w)
	}
}

// compressed is a value in format 2 holding js.
func compressed(tb testing.TB, js string) []byte {
	tb.Helper()
	c, err := newCodec()
	if err != nil {
		tb.Fatal(err)
	}
	return c.zenc.EncodeAll([]byte(js), []byte{formatZstd})
}

// A timeline a release before compression stored reads as it was.
func TestTimelineWrittenBeforeCompressionStillReads(t *testing.T) {
	ctx := context.Background()
	want, old := demoTimeline(t)
	for _, near := range []int{0, -1} {
		t.Run(fmt.Sprintf("near cache %d", near), func(t *testing.T) {
			c := newTestCache(t, "", Options{NearCache: near})
			if err := c.rdb.Set(ctx, c.timelineKey("p1"), old, time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
			got, ok, err := c.Get(ctx, "p1")
			if err != nil || !ok {
				t.Fatalf("Get = %v, %v; want the old timeline", ok, err)
			}
			sameTimeline(t, got, want)
		})
	}
}

// TestStoredTimelineFitsInEightKB stores a 50-entry demo timeline and asks
// the real Redis what it takes (MEMORY USAGE of its keys). Issue 15's
// budget is 8 KB; the JSON alone took 41 KB.
func TestStoredTimelineFitsInEightKB(t *testing.T) {
	const budget = 8 << 10
	ctx := context.Background()
	tl, old := demoTimeline(t)
	usage := func(c *Cache, keys ...string) int64 {
		t.Helper()
		var n int64
		for _, k := range keys {
			u, err := c.rdb.MemoryUsage(ctx, k).Result()
			if err != nil {
				t.Fatalf("MEMORY USAGE %s: %v", k, err)
			}
			n += u
		}
		return n
	}
	for _, tc := range []struct {
		name string
	}{{"compressed"}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCache(t, "", Options{})
			if err := c.rdb.Set(ctx, c.timelineKey("old"), old, time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
			if err := c.Put(ctx, "p1", tl); err != nil {
				t.Fatal(err)
			}
			b, err := c.rdb.Get(ctx, c.timelineKey("p1")).Bytes()
			if err != nil {
				t.Fatal(err)
			}
			before, after := usage(c, c.timelineKey("old")), usage(c, c.timelineKey("p1"), c.stampKey("p1"))
			t.Logf("50 entries: %d bytes of JSON took %d in Redis; stored now %d bytes, %d in Redis with its stamp", len(old), before, len(b), after)
			if after > budget {
				t.Errorf("a stored 50-entry timeline takes %d bytes of Redis memory, want at most %d", after, budget)
			}
			got, ok, err := newTestCache(t, c.prefix, Options{}).Get(ctx, "p1")
			if err != nil || !ok {
				t.Fatalf("Get = %v, %v", ok, err)
			}
			sameTimeline(t, got, tl)
		})
	}
}

// BenchmarkTimelineEncoding is the CPU a 50-entry demo timeline costs per
// Put (encode) and per read of a changed one (decode; an unchanged one
// comes from the near cache), in the old JSON and as stored now.
func BenchmarkTimelineEncoding(b *testing.B) {
	tl, _ := demoTimeline(b)
	for _, bc := range []struct {
		name string
		enc  func() ([]byte, error)
		dec  func([]byte) (*aggregator.Timeline, error)
	}{
		{name: "json (before)", enc: func() ([]byte, error) { return encode(tl) }, dec: decode},
	} {
		run(b, bc.name, bc.enc, bc.dec)
	}
	c, err := newCodec()
	if err != nil {
		b.Fatal(err)
	}
	run(b, "zstd", func() ([]byte, error) { return c.encodeTimeline(tl) }, c.decodeTimeline)
}

func run(b *testing.B, name string, enc func() ([]byte, error), dec func([]byte) (*aggregator.Timeline, error)) {
	v, err := enc()
	if err != nil {
		b.Fatal(err)
	}
	b.Run(name+"/encode", func(b *testing.B) {
		for b.Loop() {
			if _, err := enc(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(v)), "stored-bytes")
	})
	b.Run(name+"/decode", func(b *testing.B) {
		for b.Loop() {
			if _, err := dec(v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
