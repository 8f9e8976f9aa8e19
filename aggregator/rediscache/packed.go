package rediscache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// The packed form is how timelines are stored since JSON's reflective
// coder became most of a refresh's CPU (a changed patient's previous
// timeline decoded, the new one encoded: about half of it at region
// scale). It is the timeline's fields in a fixed order, with nothing
// between them:
//
//	value    = version timeline                    (version: packedVersion)
//	string   = uvarint length, then the bytes
//	int      = zigzag varint
//	count    = uvarint; then that many items
//	time     = uvarint 0 (zero time) | 1 (UTC) | 2, varint offset in seconds;
//	           then, unless zero, varint Unix seconds and uvarint nanoseconds
//	flags    = uvarint of the bools named at each fields list below
//
// The order of the fields is the contract with every timeline in Redis:
// TestPackedGolden holds it. A new field goes at the end of its struct,
// with packedVersion bumped, and the reader of the new version reads the
// old one without it.
const packedVersion = 1

// Flags of an entry and of a source.
const (
	entryAllDay = 1 << iota
	entryGeneric
	entryDied
	entryStale
	entryHasLat
	entryHasLon
)

const sourceOK = 1

const conflictNeedKnown = 1

// appendPacked appends the packed form of t to b.
func appendPacked(b []byte, t *aggregator.Timeline) []byte {
	b = binary.AppendUvarint(b, packedVersion)
	b = appendString(b, t.Patient)
	b = appendTime(b, t.GeneratedAt)
	b = binary.AppendVarint(b, t.Version)
	b = appendTime(b, t.Window.From)
	b = appendTime(b, t.Window.To)

	b = binary.AppendUvarint(b, uint64(len(t.Entries)))
	for i := range t.Entries {
		b = appendEntry(b, &t.Entries[i])
	}

	b = binary.AppendUvarint(b, uint64(len(t.Sources)))
	for i := range t.Sources {
		s := &t.Sources[i]
		b = appendString(b, s.Name)
		b = appendString(b, s.Display)
		b = appendString(b, s.Phone)
		b = appendString(b, string(s.Sector))
		b = binary.AppendUvarint(b, bit(s.OK, sourceOK))
		b = appendString(b, s.Error)
		b = appendString(b, string(s.ErrorKind))
		b = appendTime(b, s.LastSuccess)
		b = binary.AppendVarint(b, int64(s.Entries))
		b = binary.AppendVarint(b, int64(s.Skipped))
		b = binary.AppendVarint(b, int64(s.Warnings))
		b = binary.AppendVarint(b, int64(s.Duration))
		b = binary.AppendVarint(b, s.FeedMark)
		b = appendString(b, s.Digest)
	}

	b = binary.AppendUvarint(b, uint64(len(t.Conflicts)))
	for i := range t.Conflicts {
		c := &t.Conflicts[i]
		b = appendString(b, c.ID)
		b = appendString(b, string(c.Rule))
		b = appendString(b, string(c.Severity))
		b = appendString(b, c.Day)
		b = appendStrings(b, c.Entries)
		b = binary.AppendVarint(b, int64(c.Need))
		b = binary.AppendUvarint(b, bit(c.NeedKnown, conflictNeedKnown))
		b = binary.AppendVarint(b, int64(c.Days))
	}
	return b
}

func appendEntry(b []byte, e *aggregator.Entry) []byte {
	b = binary.AppendUvarint(b, bit(e.AllDay, entryAllDay)|bit(e.Generic, entryGeneric)|bit(e.Died, entryDied)|
		bit(e.Stale, entryStale)|bit(e.Place.Lat != nil, entryHasLat)|bit(e.Place.Lon != nil, entryHasLon))
	b = appendString(b, e.ID)
	b = appendString(b, e.Source)
	b = appendString(b, string(e.Sector))
	b = appendString(b, string(e.Kind))
	b = appendString(b, string(e.Status))
	b = appendString(b, e.FHIRStatus)
	b = appendTime(b, e.Start)
	b = appendTime(b, e.End)
	b = appendString(b, e.Title)
	b = appendString(b, e.Description)
	b = appendString(b, e.Instruction)
	b = appendString(b, e.Place.Name)
	b = appendString(b, e.Place.Address)
	if e.Place.Lat != nil {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(*e.Place.Lat))
	}
	if e.Place.Lon != nil {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(*e.Place.Lon))
	}
	b = appendStrings(b, e.People)
	b = appendString(b, e.Organization)
	b = appendString(b, e.Contact)
	b = appendString(b, string(e.Medium))
	b = appendString(b, e.VideoURL)
	b = appendString(b, string(e.Sensitivity))
	b = appendTime(b, e.Updated)
	b = binary.AppendUvarint(b, uint64(len(e.Provenance)))
	for _, p := range e.Provenance {
		b = appendString(b, p.Source)
		b = appendString(b, p.Type)
		b = appendString(b, p.ID)
		b = appendString(b, p.Version)
		b = appendString(b, p.Digest)
	}
	b = appendStrings(b, e.ServiceCodes)
	b = appendStrings(b, e.PartOf)
	b = appendStrings(b, e.Identifiers)
	b = appendStrings(b, e.Replaces)
	b = binary.AppendUvarint(b, uint64(len(e.Parts)))
	for _, p := range e.Parts {
		b = appendString(b, p.Source)
		b = appendString(b, string(p.Sector))
		b = appendString(b, p.Organization)
		b = appendString(b, string(p.Status))
		b = binary.AppendUvarint(b, bit(p.Stale, 1))
	}
	b = appendTime(b, e.FetchedAt)
	return b
}

func bit(set bool, b uint64) uint64 {
	if set {
		return b
	}
	return 0
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

// Time tags.
const (
	timeZero = iota
	timeUTC
	timeOffset
)

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendUvarint(b, timeZero)
	}
	// As in RFC 3339, the offset is kept and the zone's name is not;
	// offset 0 reads as UTC.
	if _, off := t.Zone(); off != 0 {
		b = binary.AppendUvarint(b, timeOffset)
		b = binary.AppendVarint(b, int64(off))
	} else {
		b = binary.AppendUvarint(b, timeUTC)
	}
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

// errPacked is a packed value that does not read: damaged, or cut short.
var errPacked = errors.New("packed timeline unreadable")

// unpack reads a packed timeline. A value of a newer packedVersion gives
// errNewerSchema.
func unpack(b []byte) (*aggregator.Timeline, error) {
	// One string holds all of the value's text; every string of the
	// timeline is a piece of it, so decoding allocates once for them all.
	r := &reader{s: string(b)}
	if v := r.uvarint(); r.err == nil && v > packedVersion {
		return nil, fmt.Errorf("%w: packed version %d", errNewerSchema, v)
	} else if r.err == nil && v < 1 {
		return nil, fmt.Errorf("%w: packed version %d", errPacked, v)
	}
	t := &aggregator.Timeline{}
	t.Patient = r.string()
	t.GeneratedAt = r.time()
	t.Version = r.varint()
	t.Window.From = r.time()
	t.Window.To = r.time()

	if n := r.count(); n > 0 {
		t.Entries = make([]aggregator.Entry, n)
		for i := range t.Entries {
			r.entry(&t.Entries[i])
		}
	}

	if n := r.count(); n > 0 {
		t.Sources = make([]aggregator.SourceStatus, n)
		for i := range t.Sources {
			s := &t.Sources[i]
			s.Name = r.string()
			s.Display = r.string()
			s.Phone = r.string()
			s.Sector = aggregator.Sector(r.string())
			s.OK = r.uvarint()&sourceOK != 0
			s.Error = r.string()
			s.ErrorKind = aggregator.ErrorKind(r.string())
			s.LastSuccess = r.time()
			s.Entries = int(r.varint())
			s.Skipped = int(r.varint())
			s.Warnings = int(r.varint())
			s.Duration = time.Duration(r.varint())
			s.FeedMark = r.varint()
			s.Digest = r.string()
		}
	}

	if n := r.count(); n > 0 {
		t.Conflicts = make([]aggregator.Conflict, n)
		for i := range t.Conflicts {
			c := &t.Conflicts[i]
			c.ID = r.string()
			c.Rule = aggregator.Rule(r.string())
			c.Severity = aggregator.Severity(r.string())
			c.Day = r.string()
			c.Entries = r.strings()
			c.Need = time.Duration(r.varint())
			c.NeedKnown = r.uvarint()&conflictNeedKnown != 0
			c.Days = int(r.varint())
		}
	}
	if r.err == nil && r.off != len(r.s) {
		r.fail("%d bytes after the timeline", len(r.s)-r.off)
	}
	if r.err != nil {
		return nil, r.err
	}
	return t, nil
}

func (r *reader) entry(e *aggregator.Entry) {
	flags := r.uvarint()
	e.AllDay, e.Generic, e.Died, e.Stale = flags&entryAllDay != 0, flags&entryGeneric != 0, flags&entryDied != 0, flags&entryStale != 0
	e.ID = r.string()
	e.Source = r.string()
	e.Sector = aggregator.Sector(r.string())
	e.Kind = aggregator.Kind(r.string())
	e.Status = aggregator.Status(r.string())
	e.FHIRStatus = r.string()
	e.Start = r.time()
	e.End = r.time()
	e.Title = r.string()
	e.Description = r.string()
	e.Instruction = r.string()
	e.Place.Name = r.string()
	e.Place.Address = r.string()
	if flags&entryHasLat != 0 {
		e.Place.Lat = r.float()
	}
	if flags&entryHasLon != 0 {
		e.Place.Lon = r.float()
	}
	e.People = r.strings()
	e.Organization = r.string()
	e.Contact = r.string()
	e.Medium = aggregator.Medium(r.string())
	e.VideoURL = r.string()
	e.Sensitivity = aggregator.Sensitivity(r.string())
	e.Updated = r.time()
	if n := r.count(); n > 0 {
		e.Provenance = make([]aggregator.Provenance, n)
		for i := range e.Provenance {
			p := &e.Provenance[i]
			p.Source, p.Type, p.ID, p.Version, p.Digest = r.string(), r.string(), r.string(), r.string(), r.string()
		}
	}
	e.ServiceCodes = r.strings()
	e.PartOf = r.strings()
	e.Identifiers = r.strings()
	e.Replaces = r.strings()
	if n := r.count(); n > 0 {
		e.Parts = make([]aggregator.Part, n)
		for i := range e.Parts {
			p := &e.Parts[i]
			p.Source = r.string()
			p.Sector = aggregator.Sector(r.string())
			p.Organization = r.string()
			p.Status = aggregator.Status(r.string())
			p.Stale = r.uvarint()&1 != 0
		}
	}
	e.FetchedAt = r.time()
}

// reader reads a packed value. The first error sticks: every later read
// returns zero values, and unpack reports the first.
type reader struct {
	s   string
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w at byte %d: %s", errPacked, r.off, fmt.Sprintf(format, args...))
	}
	r.off = len(r.s)
}

func (r *reader) uvarint() uint64 {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if r.off >= len(r.s) {
			r.fail("cut short")
			return 0
		}
		c := r.s[r.off]
		r.off++
		if c < 0x80 {
			if shift == 63 && c > 1 {
				break
			}
			return v | uint64(c)<<shift
		}
		v |= uint64(c&0x7f) << shift
	}
	r.fail("varint overflows 64 bits")
	return 0
}

func (r *reader) varint() int64 {
	u := r.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

// count is a number of items to follow. Each item takes at least a byte,
// so a count beyond the bytes left is damage, not a reason to allocate.
func (r *reader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.s)-r.off) {
		r.fail("count %d beyond the %d bytes left", n, len(r.s)-r.off)
		return 0
	}
	return int(n)
}

func (r *reader) string() string {
	n := r.uvarint()
	if n > uint64(len(r.s)-r.off) {
		r.fail("string of %d bytes beyond the %d left", n, len(r.s)-r.off)
		return ""
	}
	s := r.s[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

func (r *reader) strings() []string {
	n := r.count()
	if n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = r.string()
	}
	return ss
}

func (r *reader) float() *float64 {
	if len(r.s)-r.off < 8 {
		r.fail("cut short")
		return nil
	}
	var u uint64
	for i := range 8 {
		u |= uint64(r.s[r.off+i]) << (8 * i)
	}
	r.off += 8
	f := math.Float64frombits(u)
	return &f
}

// maxOffset bounds a time's offset to the ±23:59 RFC 3339 allows.
const maxOffset = 24*3600 - 60

func (r *reader) time() time.Time {
	var loc *time.Location
	switch tag := r.uvarint(); tag {
	case timeZero:
		return time.Time{}
	case timeUTC:
		loc = time.UTC
	case timeOffset:
		off := r.varint()
		if off == 0 || off < -maxOffset || off > maxOffset {
			r.fail("time offset %d", off)
			return time.Time{}
		}
		loc = fixedZone(int(off))
	default:
		r.fail("time tag %d", tag)
		return time.Time{}
	}
	sec, nsec := r.varint(), r.uvarint()
	if nsec >= 1e9 {
		r.fail("nanoseconds %d", nsec)
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).In(loc)
}

// zones holds one *time.Location per offset read: a timeline's times share
// a few offsets, and time.FixedZone allocates.
var zones sync.Map // int -> *time.Location

func fixedZone(off int) *time.Location {
	if l, ok := zones.Load(off); ok {
		return l.(*time.Location)
	}
	l, _ := zones.LoadOrStore(off, time.FixedZone("", off))
	return l.(*time.Location)
}
