package rediscache

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/overblik/overblik/aggregator"
)

// schemaVersion is the version of the timeline JSON that releases before
// the packed form (packed.go) stored, and that still reads; a newer version
// is a miss, so a rolling deploy rebuilds instead of misreading.
// 2: conflicts carry facts (need_ns, need_known, days) instead of sentences;
// a version 1 timeline still reads, its facts taken from its sentences.
const schemaVersion = 2

// A stored value starts with a byte that says how it is written, so every
// release reads what earlier ones wrote, and a value from a later release
// is a miss rather than a misreading:
//
//	'{'          the JSON itself (timelineV1, changeV1), as releases before
//	             compression wrote every value; still read
//	formatZstd   the JSON compressed with zstd: a 50-entry timeline takes
//	             about 6 KB in Redis instead of 41 KB; still read
//	formatPacked the packed form (packed.go) compressed with zstd; still read
//	formatS2     the packed form compressed with S2 (klauspost/compress), as
//	             timelines are written now: packing and compressing a
//	             50-entry timeline takes under half of zstd's time
//	             (BenchmarkTimelineEncoding), which cut 0.4 ms of a changed
//	             patient's build in the region rows, for a quarter more
//	             bytes (4.4 KB per 50 entries there against 3.5; 8 KB is
//	             the bound)
//	formatSealed a nonce and the AES-256-GCM ciphertext of a value of one of
//	             the forms above, bound to its Redis key (see codec.sealed)
//
// Anything else was written by a newer release.
const (
	formatJSON   = '{'
	formatZstd   = 0x02
	formatSealed = 0x03
	formatPacked = 0x04
	formatS2     = 0x05
)

// maxDecoded bounds what one stored value may decompress to (a timeline of
// thousands of entries is a few MB), so a damaged value cannot make a
// replica allocate without limit.
const maxDecoded = 64 << 20

// MinSealKey is the shortest Options.SealKey accepted.
const MinSealKey = 32

var (
	// errEncode marks errors of our own encoding, which say nothing about
	// whether Redis is reachable.
	errEncode = errors.New("encode for Redis")
	// errNewerSchema is a value written by a newer release.
	errNewerSchema = errors.New("timeline written by a newer schema")
	// errUnsealed is a value that cannot be opened with this cache's seal
	// key: sealed under another key, altered, copied from another key, or
	// not sealed at all while a seal key is set.
	errUnsealed = errors.New("value not sealed under this cache's key for this key name")
)

// codec turns timelines and changes into stored values and back: JSON,
// compressed (timelines), and sealed when the cache has a seal key. One
// codec is shared by all of a Cache's calls; its zstd decoder, for what
// earlier releases wrote, keeps its state across calls and is safe for
// concurrent use.
type codec struct {
	zdec *zstd.Decoder
	seal []byte // key the per-key subkeys are derived from; nil: values are stored in the clear
}

func newCodec(sealKey []byte) (*codec, error) {
	zdec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxDecoded))
	if err != nil {
		return nil, fmt.Errorf("rediscache: zstd decoder: %w", err)
	}
	c := &codec{zdec: zdec}
	if len(sealKey) > 0 {
		if len(sealKey) < MinSealKey {
			return nil, fmt.Errorf("rediscache: seal key is %d bytes, want at least %d", len(sealKey), MinSealKey)
		}
		// Whatever the operator's file holds (hex, base64, raw), the AES key
		// is 32 uniform bytes derived from it.
		c.seal, err = hkdf.Key(sha256.New, sealKey, nil, "overblik rediscache seal key", 32)
		if err != nil {
			return nil, fmt.Errorf("rediscache: seal key: %w", err)
		}
	}
	return c, nil
}

// encodeTimeline is the stored value of t under the Redis key name: its
// packed form compressed (formatS2; no dictionary, so every value stands
// alone), and then sealed when the codec has a key.
func (c *codec) encodeTimeline(t *aggregator.Timeline, name string) []byte {
	bp := packBufs.Get().(*[]byte)
	p := appendPacked((*bp)[:0], t)
	// Compressed into a pooled buffer of the size s2 may need, then copied
	// out at its own: the fallback and the near cache keep the value.
	zp := packBufs.Get().(*[]byte)
	z := s2.Encode(slices.Grow((*zp)[:0], max(0, s2.MaxEncodedLen(len(p)))), p)
	b := make([]byte, 1+len(z))
	b[0] = formatS2
	copy(b[1:], z)
	putPackBuf(bp, p)
	putPackBuf(zp, z)
	return c.sealed(b, name)
}

// packBufs holds the buffers timelines are packed into before they are
// compressed, and decompressed into before they are read (35 KB for 90
// entries), which were otherwise allocated, cleared and grown anew each
// time. What a buffer held is never read again: each use appends from its
// start, and only copies leave (the compressed value; the strings and
// fields unpack and decode make).
var packBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledPack bounds the buffers kept: a rare huge timeline's is let go.
const maxPooledPack = 1 << 20

// putPackBuf returns bp to packBufs holding b, what was last made in it.
func putPackBuf(bp *[]byte, b []byte) {
	if cap(b) <= maxPooledPack {
		*bp = b[:0]
		packBufs.Put(bp)
	}
}

// decodeTimeline reads a value encodeTimeline (or an earlier release) stored
// under name.
func (c *codec) decodeTimeline(b []byte, name string) (*aggregator.Timeline, error) {
	b, err := c.opened(b, name)
	if err != nil {
		return nil, err
	}
	switch {
	case len(b) == 0:
		return nil, errors.New("empty value")
	case b[0] == formatJSON:
		return decode(b)
	case b[0] == formatS2:
		n, err := s2.DecodedLen(b[1:])
		switch {
		case err != nil:
			return nil, fmt.Errorf("decompress: %w", err)
		case n > maxDecoded:
			return nil, fmt.Errorf("decompress: %d bytes, more than %d", n, maxDecoded)
		}
		// Into a pooled buffer: unpack copies what it keeps.
		bp := packBufs.Get().(*[]byte)
		raw, err := s2.Decode(slices.Grow((*bp)[:0], n)[:n], b[1:])
		defer putPackBuf(bp, raw)
		if err != nil {
			return nil, fmt.Errorf("decompress: %w", err)
		}
		return unpack(raw)
	case b[0] == formatZstd, b[0] == formatPacked:
		// Into a pooled buffer: both readers copy what they keep.
		bp := packBufs.Get().(*[]byte)
		raw, err := c.zdec.DecodeAll(b[1:], (*bp)[:0])
		defer putPackBuf(bp, raw)
		if err != nil {
			return nil, fmt.Errorf("decompress: %w", err)
		}
		if b[0] == formatZstd {
			return decode(raw)
		}
		return unpack(raw)
	}
	return nil, fmt.Errorf("%w: format byte %#x", errNewerSchema, b[0])
}

// sealed seals b to name when the codec has a key, and returns b otherwise.
//
// Each Redis key gets a subkey of its own (HMAC of its name): GCM's random
// 96-bit nonces are safe for about 2^32 values per key, which a region
// refreshing 20,000 timelines a minute would write in some five months
// under one key; per key name that takes millennia. The name is the
// associated data too, so a value copied to another patient's key does not
// open there.
func (c *codec) sealed(b []byte, name string) []byte {
	if c.seal == nil {
		return b
	}
	aead := c.aead(name)
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(b)+aead.Overhead())
	out[0] = formatSealed
	rand.Read(out[1:]) // never fails since Go 1.24
	return aead.Seal(out, out[1:], b, []byte(name))
}

// opened is the inverse of sealed. With a seal key, only a value sealed to
// name under it opens: a value in the clear might have been put there by
// anyone who can write to Redis, so it is a miss too (each timeline is
// rebuilt once after sealing is switched on). Without one, a sealed value
// cannot be read.
func (c *codec) opened(b []byte, name string) ([]byte, error) {
	sealed := len(b) > 0 && b[0] == formatSealed
	switch {
	case c.seal == nil && sealed:
		return nil, fmt.Errorf("%w: the value is sealed and this cache has no seal key", errUnsealed)
	case c.seal == nil:
		return b, nil
	case !sealed:
		return nil, fmt.Errorf("%w: the value is in the clear", errUnsealed)
	}
	aead := c.aead(name)
	n := 1 + aead.NonceSize()
	if len(b) < n+aead.Overhead() {
		return nil, fmt.Errorf("%w: too short", errUnsealed)
	}
	plain, err := aead.Open(nil, b[1:n], b[n:], []byte(name))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUnsealed, err)
	}
	return plain, nil
}

func (c *codec) aead(name string) cipher.AEAD {
	m := hmac.New(sha256.New, c.seal)
	m.Write([]byte(name))
	block, _ := aes.NewCipher(m.Sum(nil)) // 32 bytes: AES-256, never fails
	aead, _ := cipher.NewGCM(block)       // the standard nonce and tag sizes never fail
	return aead
}

// encodeChange is the stored form of one change record under the Redis key
// name: JSON, sealed when the codec has a key. A change is a few hundred
// bytes, too small for compression to pay.
func (c *codec) encodeChange(d changeV1, name string) ([]byte, error) {
	b, err := jsonv2.Marshal(d, storedJSON)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errEncode, err)
	}
	return c.sealed(b, name), nil
}

func (c *codec) decodeChange(b []byte, name string) (changeV1, error) {
	b, err := c.opened(b, name)
	if err != nil {
		return changeV1{}, err
	}
	var d changeV1
	if !bytes.HasPrefix(b, []byte{formatJSON}) {
		return d, fmt.Errorf("%w: change record format %q", errNewerSchema, b[:min(len(b), 1)])
	}
	if err := jsonv2.Unmarshal(b, &d, storedJSON); err != nil {
		return d, err
	}
	return d, nil
}

// The DTOs below are the storage format, kept apart from the domain types so
// a change in package aggregator cannot silently change what is in Redis.
// cachetest's every-field round trip fails when a new domain field is not
// carried here.

type timelineV1 struct {
	V           int          `json:"v"`
	Patient     string       `json:"patient"`
	GeneratedAt time.Time    `json:"generated_at,omitzero"`
	Version     int64        `json:"version,omitempty"` // added within schema 1: older timelines read as version 0
	WindowFrom  time.Time    `json:"window_from,omitzero"`
	WindowTo    time.Time    `json:"window_to,omitzero"`
	Entries     []entryV1    `json:"entries,omitempty"`
	Sources     []sourceV1   `json:"sources,omitempty"`
	Conflicts   []conflictV1 `json:"conflicts,omitempty"`
}

type entryV1 struct {
	ID           string         `json:"id"`
	Source       string         `json:"source,omitempty"`
	Sector       string         `json:"sector,omitempty"`
	Kind         string         `json:"kind,omitempty"`
	Status       string         `json:"status,omitempty"`
	FHIRStatus   string         `json:"fhir_status,omitempty"`
	Start        time.Time      `json:"start,omitzero"`
	End          time.Time      `json:"end,omitzero"`
	AllDay       bool           `json:"all_day,omitempty"`
	Title        string         `json:"title,omitempty"`
	Description  string         `json:"description,omitempty"`
	Instruction  string         `json:"instruction,omitempty"`
	Place        placeV1        `json:"place,omitzero"`
	People       []string       `json:"people,omitempty"`
	Organization string         `json:"organization,omitempty"`
	Contact      string         `json:"contact,omitempty"`
	Medium       string         `json:"medium,omitempty"`
	VideoURL     string         `json:"video_url,omitempty"`
	Sensitivity  string         `json:"sensitivity,omitempty"`
	Generic      bool           `json:"generic,omitempty"`
	Updated      time.Time      `json:"updated,omitzero"`
	Provenance   []provenanceV1 `json:"provenance,omitempty"`
	ServiceCodes []string       `json:"service_codes,omitempty"`
	PartOf       []string       `json:"part_of,omitempty"`
	Stale        bool           `json:"stale,omitempty"`
	FetchedAt    time.Time      `json:"fetched_at,omitzero"`
	// Added within schema 1: older timelines read without them.
	Identifiers []string `json:"identifiers,omitempty"`
	Parts       []partV1 `json:"parts,omitempty"`
	Died        bool     `json:"died,omitempty"`
	Replaces    []string `json:"replaces,omitempty"`
}

type partV1 struct {
	Source       string `json:"source,omitempty"`
	Sector       string `json:"sector,omitempty"`
	Organization string `json:"organization,omitempty"`
	Status       string `json:"status,omitempty"`
	Stale        bool   `json:"stale,omitempty"`
}

type placeV1 struct {
	Name    string   `json:"name,omitempty"`
	Address string   `json:"address,omitempty"`
	Lat     *float64 `json:"lat,omitempty"` // a pointer: 0 is a valid coordinate, nil is none
	Lon     *float64 `json:"lon,omitempty"`
}

type provenanceV1 struct {
	Source  string `json:"source,omitempty"`
	Type    string `json:"type,omitempty"`
	ID      string `json:"id,omitempty"`
	Version string `json:"version,omitempty"`
	Digest  string `json:"digest,omitempty"` // absent before entries were kept by digest: made anew once
}

type conflictV1 struct {
	ID       string   `json:"id"`
	Rule     string   `json:"rule,omitempty"`
	Severity string   `json:"severity,omitempty"`
	Day      string   `json:"day,omitempty"`
	Entries  []string `json:"entries,omitempty"`
	// Facts beyond the entries (aggregator.Conflict), since version 2.
	NeedNS    int64 `json:"need_ns,omitempty"`
	NeedKnown bool  `json:"need_known,omitempty"`
	Days      int   `json:"days,omitempty"`
	// Version 1 stored the sentence instead; only read (legacyFacts).
	MessageDa string `json:"message_da,omitempty"`
}

// Version 1's Danish sentences hold the numbers version 2 keeps as facts.
var (
	legacyJourney = regexp.MustCompile(`turen tager omkring (\d+) minutter`)
	legacyAtLeast = regexp.MustCompile(`mindst være (\d+) minutter`)
	legacyDays    = regexp.MustCompile(`i de (\d+) dage efter`)
)

// legacyFacts fills the facts of a version 1 conflict from its sentence.
func legacyFacts(c *aggregator.Conflict, da string) {
	num := func(re *regexp.Regexp) (int, bool) {
		m := re.FindStringSubmatch(da)
		if m == nil {
			return 0, false
		}
		n, err := strconv.Atoi(m[1])
		return n, err == nil
	}
	switch c.Rule {
	case aggregator.RuleTravel:
		if n, ok := num(legacyJourney); ok {
			c.Need, c.NeedKnown = time.Duration(n)*time.Minute, true
		} else if n, ok := num(legacyAtLeast); ok {
			c.Need = time.Duration(n) * time.Minute
		}
	case aggregator.RuleNothingAfterDischarge:
		if n, ok := num(legacyDays); ok {
			c.Days = n
		}
	}
}

type sourceV1 struct {
	Name        string        `json:"name"`
	Display     string        `json:"display,omitempty"`
	Phone       string        `json:"phone,omitempty"` // absent before sources had phones: none
	Sector      string        `json:"sector,omitempty"`
	OK          bool          `json:"ok,omitempty"`
	Error       string        `json:"error,omitempty"`
	ErrorKind   string        `json:"error_kind,omitempty"`
	LastSuccess time.Time     `json:"last_success,omitzero"`
	Entries     int           `json:"entries,omitempty"`
	Skipped     int           `json:"skipped,omitempty"`
	Warnings    int           `json:"warnings,omitempty"`
	Duration    time.Duration `json:"duration_ns,omitempty"`
	FeedMark    int64         `json:"feed_mark,omitempty"` // absent before change-feed marks were counted: 0
	Digest      string        `json:"digest,omitempty"`    // absent before reads had digests: the next read normalises
}

// storedJSON are the options of the stored form: the two parts of
// encoding/json's semantics it depends on (omitempty omits false and 0,
// durations are nanoseconds) on the plain v2 coder, which reads and writes
// it in about half the time of all of them. Duplicate names and invalid
// UTF-8 are accepted, as they were; names match exactly, as every release
// wrote them.
var storedJSON = jsonv2.JoinOptions(jsonv1.OmitEmptyWithLegacySemantics(true), jsonv1.FormatDurationAsNano(true),
	jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))

// decode reads a timeline's JSON. A newer schema version gives errNewerSchema.
func decode(b []byte) (*aggregator.Timeline, error) {
	var d timelineV1
	if err := jsonv2.Unmarshal(b, &d, storedJSON); err != nil {
		// A newer schema may have changed a field's type: its version says so.
		var v struct {
			V int `json:"v"`
		}
		if json.Unmarshal(b, &v) == nil && v.V > schemaVersion {
			return nil, fmt.Errorf("%w: version %d", errNewerSchema, v.V)
		}
		return nil, err
	}
	switch {
	case d.V > schemaVersion:
		return nil, fmt.Errorf("%w: version %d", errNewerSchema, d.V)
	case d.V < 1:
		return nil, fmt.Errorf("no schema version (v=%d)", d.V)
	}
	t := &aggregator.Timeline{Patient: d.Patient, GeneratedAt: d.GeneratedAt, Version: d.Version,
		Window: aggregator.Window{From: d.WindowFrom, To: d.WindowTo}}
	if len(d.Entries) > 0 {
		t.Entries = make([]aggregator.Entry, len(d.Entries))
		for i, e := range d.Entries {
			t.Entries[i] = aggregator.Entry{
				ID: e.ID, Source: e.Source, Sector: aggregator.Sector(e.Sector), Kind: aggregator.Kind(e.Kind),
				Status: aggregator.Status(e.Status), FHIRStatus: e.FHIRStatus, Start: e.Start, End: e.End,
				AllDay: e.AllDay, Title: e.Title, Description: e.Description, Instruction: e.Instruction,
				Place:  aggregator.Place{Name: e.Place.Name, Address: e.Place.Address, Lat: e.Place.Lat, Lon: e.Place.Lon},
				People: e.People, Organization: e.Organization, Contact: e.Contact, Medium: aggregator.Medium(e.Medium),
				VideoURL: e.VideoURL, Sensitivity: aggregator.Sensitivity(e.Sensitivity), Generic: e.Generic, Updated: e.Updated,
				ServiceCodes: e.ServiceCodes, PartOf: e.PartOf, Stale: e.Stale, FetchedAt: e.FetchedAt,
				Identifiers: e.Identifiers, Died: e.Died, Replaces: e.Replaces,
			}
			for _, p := range e.Parts {
				t.Entries[i].Parts = append(t.Entries[i].Parts, aggregator.Part{Source: p.Source, Sector: aggregator.Sector(p.Sector),
					Organization: p.Organization, Status: aggregator.Status(p.Status), Stale: p.Stale})
			}
			if len(e.Provenance) > 0 {
				ps := make([]aggregator.Provenance, len(e.Provenance))
				for j, p := range e.Provenance {
					ps[j] = aggregator.Provenance(p)
				}
				t.Entries[i].Provenance = ps
			}
		}
	}
	if len(d.Sources) > 0 {
		t.Sources = make([]aggregator.SourceStatus, len(d.Sources))
		for i, s := range d.Sources {
			t.Sources[i] = aggregator.SourceStatus{Name: s.Name, Display: s.Display, Phone: s.Phone, Sector: aggregator.Sector(s.Sector),
				OK: s.OK, Error: s.Error, ErrorKind: aggregator.ErrorKind(s.ErrorKind), LastSuccess: s.LastSuccess,
				Entries: s.Entries, Skipped: s.Skipped, Warnings: s.Warnings, Duration: s.Duration, FeedMark: s.FeedMark, Digest: s.Digest}
		}
	}
	if len(d.Conflicts) > 0 {
		t.Conflicts = make([]aggregator.Conflict, len(d.Conflicts))
		for i, c := range d.Conflicts {
			t.Conflicts[i] = aggregator.Conflict{ID: c.ID, Rule: aggregator.Rule(c.Rule), Severity: aggregator.Severity(c.Severity),
				Day: c.Day, Entries: c.Entries, Need: time.Duration(c.NeedNS), NeedKnown: c.NeedKnown, Days: c.Days}
			if d.V < 2 {
				legacyFacts(&t.Conflicts[i], c.MessageDa)
			}
		}
	}
	return t, nil
}
