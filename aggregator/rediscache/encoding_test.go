package rediscache

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/redis/go-redis/v9"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/cachetest"
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
			ServiceCodes: []string{"urn:sks|BVAA1"}, PartOf: []string{"h/Appointment/0"}, Replaces: []string{"h/Appointment/7"},
			Stale: true, FetchedAt: gen.Add(-2 * time.Hour),
		}},
		Sources: []aggregator.SourceStatus{{
			Name: "h", Display: "Hospital", Phone: "0000 1000", Sector: aggregator.SectorHospital, OK: false,
			Error: "source h: timeout", ErrorKind: aggregator.Timeout, LastSuccess: gen.Add(-2 * time.Hour),
			Entries: 1, Skipped: 2, Duration: 10*time.Second + 5*time.Millisecond,
		}},
		Conflicts: []aggregator.Conflict{{
			ID: "c1", Rule: aggregator.RuleDuringAdmission, Severity: aggregator.SeverityHigh, Day: "2026-11-25",
			Entries: []string{"h/Appointment/1", "m/Appointment/2"}, Need: 16 * time.Minute, NeedKnown: true, Days: 7,
		}},
	}
}

// The JSON inside every stored timeline is a contract with every timeline
// already in Redis: a change that makes them unreadable turns a deploy into
// a mass rebuild. Run with -update only for an intended change, and bump
// schemaVersion when old readers would misread the new form.
func TestEncodingGolden(t *testing.T) {
	path := filepath.Join("testdata", "timeline-v2.json")
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

// A version 1 timeline (conflicts with sentences) still reads: the facts
// version 2 keeps are taken from its sentences.
func TestVersion1StillReads(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "timeline-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	old, err := decode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := goldenTimeline()
	want.Conflicts[0].Need, want.Conflicts[0].NeedKnown, want.Conflicts[0].Days = 0, false, 0 // not in version 1
	want.Sources[0].Phone = ""                                                                // nor phones
	want.Entries[0].Replaces = nil                                                            // nor this
	sameTimeline(t, old, want)

	demo, _ := demoTimeline(t)
	for _, c := range demo.Conflicts {
		switch c.Rule {
		case aggregator.RuleTravel:
			if c.Need <= 0 {
				t.Errorf("the version 1 travel conflict lost its journey time: %+v", c)
			}
		case aggregator.RuleNothingAfterDischarge:
			if c.Days != 7 {
				t.Errorf("the version 1 nothing-after-discharge conflict has days %d, want 7", c.Days)
			}
		}
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
	return zstdValue(tb, formatZstd, []byte(js))
}

// zstdValue is b compressed with zstd as releases before S2 wrote it, led
// by the format byte.
func zstdValue(tb testing.TB, format byte, b []byte) []byte {
	tb.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		tb.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(b, []byte{format})
}

// sealedValue is a compressed empty timeline sealed under key for the Redis key name.
func sealedValue(tb testing.TB, key []byte, name string) []byte {
	tb.Helper()
	c, err := newCodec(key)
	if err != nil {
		tb.Fatal(err)
	}
	return c.encodeTimeline(&aggregator.Timeline{Patient: "p1"}, name)
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
		seal []byte
	}{{"compressed", nil}, {"compressed and sealed", testSealKey}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCache(t, "", Options{SealKey: tc.seal})
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
			got, ok, err := newTestCache(t, c.prefix, Options{SealKey: tc.seal}).Get(ctx, "p1")
			if err != nil || !ok {
				t.Fatalf("Get = %v, %v", ok, err)
			}
			sameTimeline(t, got, tl)
		})
	}
}

// TestSealedTimelineOpensOnlyWhereItBelongs: a value that does not open
// under the reader's key for that Redis key is a miss, never an error and
// never another patient's timeline, and the rebuilt timeline replaces it.
func TestSealedTimelineOpensOnlyWhereItBelongs(t *testing.T) {
	ctx := context.Background()
	tl := &aggregator.Timeline{Patient: "p1", GeneratedAt: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), Version: 4,
		Entries: []aggregator.Entry{{ID: "h/Appointment/1", Title: "Kontrol i hjerteambulatoriet"}}}
	tests := []struct {
		name                 string
		writerKey, readerKey []byte
		// tamper changes what the writer stored for p1, and returns the handle to read.
		tamper  func(t *testing.T, c *Cache) string
		wantHit bool
	}{
		{name: "same key", writerKey: testSealKey, readerKey: testSealKey, wantHit: true},
		{name: "another key", writerKey: otherSealKey, readerKey: testSealKey},
		{name: "sealed, read without a key", writerKey: testSealKey},
		{name: "in the clear, read with a key", readerKey: testSealKey},
		{name: "altered", writerKey: testSealKey, readerKey: testSealKey, tamper: func(t *testing.T, c *Cache) string {
			b, err := c.rdb.Get(ctx, c.timelineKey("p1")).Bytes()
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 1
			if err := c.rdb.Set(ctx, c.timelineKey("p1"), b, time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
			return "p1"
		}},
		{name: "copied to another patient", writerKey: testSealKey, readerKey: testSealKey, tamper: func(t *testing.T, c *Cache) string {
			if err := c.rdb.Copy(ctx, c.timelineKey("p1"), c.timelineKey("p2"), 0, true).Err(); err != nil {
				t.Fatal(err)
			}
			return "p2"
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prefix := testPrefix(t)
			writer := newTestCache(t, prefix, Options{SealKey: tc.writerKey})
			reader := newTestCache(t, prefix, Options{SealKey: tc.readerKey})
			if err := writer.Put(ctx, "p1", tl); err != nil {
				t.Fatal(err)
			}
			handle := "p1"
			if tc.tamper != nil {
				handle = tc.tamper(t, writer)
			}
			got, ok, err := reader.Get(ctx, handle)
			if err != nil || ok != tc.wantHit {
				t.Fatalf("Get = %+v, %v, %v; want hit %v without error", got, ok, err, tc.wantHit)
			}
			if tc.wantHit {
				sameTimeline(t, got, tl)
				return
			}
			if err := reader.Put(ctx, handle, tl); err != nil {
				t.Fatal(err)
			}
			if _, ok, err := reader.Get(ctx, handle); !ok || err != nil {
				t.Errorf("Get after the rebuild = %v, %v", ok, err)
			}
		})
	}
}

// TestSealedChangesOpenOnlyWhereTheyBelong: change records sealed under
// another key, or copied from another patient, are skipped.
func TestSealedChangesOpenOnlyWhereTheyBelong(t *testing.T) {
	ctx := context.Background()
	noticed := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	changes := []aggregator.Change{{Version: 2, Noticed: noticed, EntryID: "h/Appointment/1", Kind: aggregator.ChangeMoved,
		Title: "Kontrol i hjerteambulatoriet", OldStart: noticed.Add(24 * time.Hour)}}
	prefix := testPrefix(t)
	c := newTestCache(t, prefix, Options{SealKey: testSealKey})
	if err := c.AddChanges(ctx, "p1", changes, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Changes(ctx, "p1", time.Time{}); err != nil || len(got) != 1 || got[0].Title != changes[0].Title {
		t.Fatalf("Changes with the same key = %+v, %v", got, err)
	}
	if err := c.rdb.Copy(ctx, c.changesKey("p1"), c.changesKey("p2"), 0, true).Err(); err != nil {
		t.Fatal(err)
	}
	plain := newTestCache(t, prefix, Options{})
	if err := plain.AddChanges(ctx, "p3", changes, time.Time{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		reader *Cache
		handle string
	}{
		{"another key", newTestCache(t, prefix, Options{SealKey: otherSealKey}), "p1"},
		{"no key", plain, "p1"},
		{"copied to another patient", c, "p2"},
		{"in the clear, read with a key", c, "p3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.reader.Changes(ctx, tc.handle, time.Time{})
			if err != nil || len(got) != 0 {
				t.Errorf("Changes = %+v, %v; want none and no error", got, err)
			}
		})
	}
}

// TestNoPersonalDataInRedisWhenSealed stores what a patient's visit leaves
// in Redis (the directory entry, a timeline whose source wrote the CPR number
// into a description, changes, the schedule, a lease) and reads back every
// key and value under the prefix: with a seal key none holds a CPR number or
// any text of an entry, even decompressed. Without one the same sweep finds
// them, which shows that it looks.
func TestNoPersonalDataInRedisWhenSealed(t *testing.T) {
	ctx := context.Background()
	const cpr, cprDashed = "3002410148", "300241-0148"
	demo, _ := demoTimeline(t)
	secrets := []string{cpr, cprDashed}
	for _, e := range demo.Entries {
		for _, s := range append([]string{e.Title, e.Description, e.Instruction, e.Place.Address, e.Contact}, e.People...) {
			if len(s) >= 6 {
				secrets = append(secrets, s)
			}
		}
	}
	for _, tc := range []struct {
		name     string
		seal     []byte
		wantSeen bool
	}{{"sealed", testSealKey, false}, {"not sealed", nil, true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCache(t, "", Options{SealKey: tc.seal})
			pats, err := aggregator.NewPatients([]byte("handle secret of the test, 32 bytes"), c)
			if err != nil {
				t.Fatal(err)
			}
			p, err := pats.Register(ctx, aggregator.Identifier{System: "urn:oid:1.2.208.176.1.2", Value: cpr})
			if err != nil {
				t.Fatal(err)
			}
			tl := *demo
			tl.Patient = p.Handle
			tl.Entries = append([]aggregator.Entry(nil), demo.Entries...)
			tl.Entries[0].Description += " (CPR " + cprDashed + ")"
			if err := c.Put(ctx, p.Handle, &tl); err != nil {
				t.Fatal(err)
			}
			var changes []aggregator.Change
			for i, e := range tl.Entries[:10] {
				changes = append(changes, aggregator.Change{Version: 2, Noticed: tl.GeneratedAt, EntryID: e.ID, Kind: aggregator.ChangeMoved,
					Title: e.Title, OldStart: e.Start.Add(-time.Duration(i) * time.Hour), OldPlace: e.Place})
			}
			if err := c.AddChanges(ctx, p.Handle, changes, time.Time{}); err != nil {
				t.Fatal(err)
			}
			if err := c.Schedule().Viewed(ctx, p.Handle, tl.GeneratedAt, tl.GeneratedAt.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			release, ok, err := c.Acquire(ctx, p.Handle, time.Minute)
			if err != nil || !ok {
				t.Fatalf("Acquire = %v, %v", ok, err)
			}
			defer release(ctx)

			seen := map[string]string{}
			look := func(where string, b []byte) {
				views := [][]byte{b}
				// A member of a changes set is version:index:value.
				if parts := bytes.SplitN(b, []byte(":"), 3); len(parts) == 3 {
					views = append(views, parts[2])
				}
				for _, v := range views {
					switch {
					case len(v) > 0 && (v[0] == formatZstd || v[0] == formatPacked):
						if js, err := c.codec.zdec.DecodeAll(v[1:], nil); err == nil {
							views = append(views, js)
						}
					case len(v) > 0 && v[0] == formatS2:
						if p, err := s2.Decode(nil, v[1:]); err == nil {
							views = append(views, p)
						}
					}
				}
				for _, v := range views {
					for _, s := range secrets {
						if bytes.Contains(v, []byte(s)) {
							seen[s] = where
						}
					}
				}
			}
			keys, err := c.rdb.Keys(ctx, c.prefix+"*").Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				look("key "+k, []byte(k))
				for _, v := range redisValues(t, c.rdb, k) {
					look("value of "+k, v)
				}
			}
			if tc.wantSeen {
				if len(seen) == 0 {
					t.Error("without a seal key the sweep found no entry text: it does not look where the data is")
				}
				return
			}
			for s, where := range seen {
				t.Errorf("%q is in the %s", s, where)
			}
		})
	}
}

// redisValues returns what key holds, whatever its type.
func redisValues(t *testing.T, rdb redis.UniversalClient, key string) [][]byte {
	t.Helper()
	ctx := context.Background()
	typ, err := rdb.Type(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	var vals []string
	switch typ {
	case "string":
		var v string
		v, err = rdb.Get(ctx, key).Result()
		vals = []string{v}
	case "zset":
		vals, err = rdb.ZRange(ctx, key, 0, -1).Result()
	case "hash":
		var m map[string]string
		m, err = rdb.HGetAll(ctx, key).Result()
		for f, v := range m {
			vals = append(vals, f, v)
		}
	case "set":
		vals, err = rdb.SMembers(ctx, key).Result()
	case "list":
		vals, err = rdb.LRange(ctx, key, 0, -1).Result()
	default:
		t.Fatalf("key %s has type %s, which the sweep does not read", key, typ)
	}
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]byte, len(vals))
	for i, v := range vals {
		out[i] = []byte(v)
	}
	return out
}

func TestNewRejectsAShortSealKey(t *testing.T) {
	_, err := New(newTestClient(t), Options{SealKey: []byte("too short")})
	if err == nil || !strings.Contains(err.Error(), "seal key") {
		t.Errorf("New with a 9-byte seal key: err = %v, want one about the seal key", err)
	}
}

// BenchmarkTimelineEncoding is the CPU a 50-entry demo timeline costs per
// Put (encode) and per read of a changed one (decode; an unchanged one
// comes from the near cache), in the old JSON and as stored now.
func BenchmarkTimelineEncoding(b *testing.B) {
	tl, _ := demoTimeline(b)
	const name = "overblik:{p1}:timeline"
	for _, bc := range []struct {
		name string
		enc  func() ([]byte, error)
		dec  func([]byte) (*aggregator.Timeline, error)
	}{
		{name: "json (before)", enc: func() ([]byte, error) { return encode(tl) }, dec: decode},
	} {
		run(b, bc.name, bc.enc, bc.dec)
	}
	for _, bc := range []struct {
		name string
		key  []byte
	}{{"packed+s2", nil}, {"packed+s2+sealed", testSealKey}} {
		c, err := newCodec(bc.key)
		if err != nil {
			b.Fatal(err)
		}
		run(b, bc.name, func() ([]byte, error) { return c.encodeTimeline(tl, name), nil },
			func(v []byte) (*aggregator.Timeline, error) { return c.decodeTimeline(v, name) })
	}
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

// Every field of a timeline survives its stored form, sealed or not: the
// conformance suite's round trip reads back what Put left in the near
// cache, never the stored bytes.
func TestStoredFormKeepsEveryField(t *testing.T) {
	for name, key := range map[string][]byte{"clear": nil, "sealed": bytes.Repeat([]byte("k"), MinSealKey)} {
		t.Run(name, func(t *testing.T) {
			c, err := newCodec(key)
			if err != nil {
				t.Fatal(err)
			}
			cachetest.RunCodec(t, func(tl *aggregator.Timeline) (*aggregator.Timeline, error) {
				return c.decodeTimeline(c.encodeTimeline(tl, "k1"), "k1")
			})
		})
	}
}

// encode is t in the JSON releases before the packed form stored (at
// schemaVersion), so tests can write what those releases left in Redis.
func encode(t *aggregator.Timeline) ([]byte, error) {
	d := timelineV1{V: schemaVersion, Patient: t.Patient, GeneratedAt: t.GeneratedAt, Version: t.Version,
		WindowFrom: t.Window.From, WindowTo: t.Window.To}
	if len(t.Entries) > 0 {
		d.Entries = make([]entryV1, len(t.Entries))
		for i, e := range t.Entries {
			d.Entries[i] = entryV1{
				ID: e.ID, Source: e.Source, Sector: string(e.Sector), Kind: string(e.Kind),
				Status: string(e.Status), FHIRStatus: e.FHIRStatus, Start: e.Start, End: e.End, AllDay: e.AllDay,
				Title: e.Title, Description: e.Description, Instruction: e.Instruction,
				Place:  placeV1{Name: e.Place.Name, Address: e.Place.Address, Lat: e.Place.Lat, Lon: e.Place.Lon},
				People: e.People, Organization: e.Organization, Contact: e.Contact, Medium: string(e.Medium),
				VideoURL: e.VideoURL, Sensitivity: string(e.Sensitivity), Generic: e.Generic, Updated: e.Updated,
				ServiceCodes: e.ServiceCodes, PartOf: e.PartOf, Stale: e.Stale, FetchedAt: e.FetchedAt,
				Identifiers: e.Identifiers, Died: e.Died, Replaces: e.Replaces,
			}
			for _, p := range e.Parts {
				d.Entries[i].Parts = append(d.Entries[i].Parts, partV1{Source: p.Source, Sector: string(p.Sector),
					Organization: p.Organization, Status: string(p.Status), Stale: p.Stale})
			}
			if len(e.Provenance) > 0 {
				ps := make([]provenanceV1, len(e.Provenance))
				for j, p := range e.Provenance {
					ps[j] = provenanceV1(p)
				}
				d.Entries[i].Provenance = ps
			}
		}
	}
	if len(t.Sources) > 0 {
		d.Sources = make([]sourceV1, len(t.Sources))
		for i, s := range t.Sources {
			d.Sources[i] = sourceV1{Name: s.Name, Display: s.Display, Phone: s.Phone, Sector: string(s.Sector), OK: s.OK,
				Error: s.Error, ErrorKind: string(s.ErrorKind), LastSuccess: s.LastSuccess,
				Entries: s.Entries, Skipped: s.Skipped, Warnings: s.Warnings, Duration: s.Duration, FeedMark: s.FeedMark, Digest: s.Digest}
		}
	}
	if len(t.Conflicts) > 0 {
		d.Conflicts = make([]conflictV1, len(t.Conflicts))
		for i, c := range t.Conflicts {
			d.Conflicts[i] = conflictV1{ID: c.ID, Rule: string(c.Rule), Severity: string(c.Severity), Day: c.Day,
				Entries: c.Entries, NeedNS: int64(c.Need), NeedKnown: c.NeedKnown, Days: c.Days}
		}
	}
	b, err := jsonv2.Marshal(d, storedJSON)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errEncode, err)
	}
	return b, nil
}

// An S2 value says what it decodes to before it is decoded: a damaged or
// hostile one that says 1 GiB is refused before anything that size is
// allocated.
func TestS2LengthIsBoundedBeforeDecoding(t *testing.T) {
	c, err := newCodec(nil)
	if err != nil {
		t.Fatal(err)
	}
	v := append([]byte{formatS2}, 0x80, 0x80, 0x80, 0x80, 0x04) // a varint of 1 GiB, and no data
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = c.decodeTimeline(v, "k")
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("a value that says it decodes to 1 GiB decoded")
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > maxDecoded {
		t.Errorf("decoding it allocated %d bytes, more than the %d a value may decode to", got, maxDecoded)
	}
}
