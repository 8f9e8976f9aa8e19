package rediscache

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/overblik/overblik/aggregator"
)

// The packed form is a contract with every timeline in Redis, as the JSON
// was: a change that makes them unreadable turns a deploy into a mass
// rebuild. Run with -update only for an intended change, and bump
// packedVersion when old readers would misread the new form.
func TestPackedGolden(t *testing.T) {
	path := filepath.Join("testdata", "timeline-packed-v1.hex")
	got := appendPacked(nil, goldenTimeline())
	dump := hex.Dump(got)
	if *update {
		if err := os.WriteFile(path, []byte(dump), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if dump != string(want) {
		t.Errorf("packed form changed (go test -update to accept):\n got\n%s\nwant\n%s", dump, want)
	}
	back, err := unpack(got)
	if err != nil {
		t.Fatal(err)
	}
	sameTimeline(t, back, goldenTimeline())
	// Offsets are kept, as RFC 3339 kept them.
	if _, off := back.Entries[0].Start.Zone(); off != 3600 {
		t.Errorf("start read back at offset %d, want 3600", off)
	}
	if back.GeneratedAt.Location() != time.UTC {
		t.Errorf("a UTC time read back in %v", back.GeneratedAt.Location())
	}
}

// Times JSON could not hold (RFC 3339 has four-digit years) pack and read
// back as the same instants.
func TestPackedTimesBeyondRFC3339(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999_999_999, time.FixedZone("", -3600)),
	} {
		back, err := unpack(appendPacked(nil, &aggregator.Timeline{Patient: "p1", GeneratedAt: at}))
		if err != nil {
			t.Fatalf("%v: %v", at, err)
		}
		if !back.GeneratedAt.Equal(at) {
			t.Errorf("packed %v, read back %v", at, back.GeneratedAt)
		}
	}
}

// A damaged or cut value is an error, never a panic or a partly read
// timeline; a newer version is errNewerSchema, which Get treats as a miss.
func TestPackedDamage(t *testing.T) {
	good := appendPacked(nil, goldenTimeline())
	for n := range len(good) {
		if _, err := unpack(good[:n]); !errors.Is(err, errPacked) {
			t.Fatalf("unpack of the first %d of %d bytes: err = %v, want errPacked", n, len(good), err)
		}
	}
	if _, err := unpack(append(bytes.Clone(good), 0)); !errors.Is(err, errPacked) {
		t.Errorf("unpack with a byte after the timeline: err = %v, want errPacked", err)
	}
	huge := []byte{packedVersion, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f} // a billion entries in 11 bytes
	if _, err := unpack(huge); !errors.Is(err, errPacked) || !strings.Contains(err.Error(), "count") {
		t.Errorf("unpack of a count beyond the value: err = %v, want errPacked about the count", err)
	}
	newer := bytes.Clone(good)
	newer[0] = packedVersion + 1
	if _, err := unpack(newer); !errors.Is(err, errNewerSchema) {
		t.Errorf("unpack of version %d: err = %v, want errNewerSchema", packedVersion+1, err)
	}
}

// A replica of an older release reading a newer release's packed timeline
// treats it as a miss, so it rebuilds instead of misreading.
func TestNewerPackedVersionIsAMiss(t *testing.T) {
	ctx := context.Background()
	c := newTestCache(t, "", Options{NearCache: -1})
	p := appendPacked(nil, goldenTimeline())
	p[0] = packedVersion + 1
	v := append([]byte{formatS2}, s2.Encode(nil, p)...)
	if err := c.rdb.Set(ctx, c.timelineKey("p1"), v, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := c.Get(ctx, "p1"); ok || err != nil {
		t.Errorf("Get of a newer packed version = %v, ok %v, err %v; want a miss", got, ok, err)
	}
}

// FuzzUnpack: no input panics or allocates beyond its size's worth, and
// what reads packs again to a value that reads the same.
func FuzzUnpack(f *testing.F) {
	f.Add(appendPacked(nil, goldenTimeline()))
	f.Add(appendPacked(nil, &aggregator.Timeline{Patient: "p1"}))
	tl, _ := demoTimeline(f)
	f.Add(appendPacked(nil, tl))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := unpack(b)
		if err != nil {
			return
		}
		again := appendPacked(nil, got)
		back, err := unpack(again)
		if err != nil {
			t.Fatalf("a value that read does not read after packing again: %v", err)
		}
		if !bytes.Equal(appendPacked(nil, back), again) {
			t.Errorf("packing is not stable over a read")
		}
	})
}

// Timelines the releases before S2 stored (the packed form compressed with
// zstd, sealed or not) still read, so a deploy does not rebuild them all.
func TestZstdPackedTimelinesStillRead(t *testing.T) {
	ctx := context.Background()
	for name, key := range map[string][]byte{"clear": nil, "sealed": testSealKey} {
		t.Run(name, func(t *testing.T) {
			c := newTestCache(t, "", Options{NearCache: -1, SealKey: key})
			v := c.codec.sealed(zstdValue(t, formatPacked, appendPacked(nil, goldenTimeline())), c.timelineKey("p1"))
			if err := c.rdb.Set(ctx, c.timelineKey("p1"), v, time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
			got, ok, err := c.Get(ctx, "p1")
			if err != nil || !ok {
				t.Fatalf("Get of a zstd-packed timeline = %v, %v", ok, err)
			}
			sameTimeline(t, got, goldenTimeline())
		})
	}
}
