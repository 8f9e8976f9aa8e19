package fhirsource

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"

	"github.com/cespare/xxhash/v2"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/fhir"
	"github.com/overblik/overblik/internal/buildid"
)

// digest names a read by what its normalised batch depends on: the
// connector's settings, the query (the patient and the window), which
// records are the patient's, whether parties came included, and every
// resource the searches answered, in order. Parties that came from the
// reference cache or a read of their own are not in it; the window moves
// every day, and with it the query, so such a party is looked at again at
// least daily (as the reference cache's own bound has it, roughly).
func (s *Source) digest(q url.Values, pat patient, f found) string {
	h := s.readHasher(q, pat, f.include)
	h.str("Appointment")
	for _, raw := range f.appts.Resources {
		h.bytes(raw)
	}
	h.str("Encounter")
	for _, raw := range f.encs.Resources {
		h.bytes(raw)
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// hasher writes each piece with its length before it, so no two lists of
// pieces hash alike by where one ends and the next begins.
type hasher struct {
	*xxhash.Digest
	n [8]byte
}

func (h *hasher) uint(v uint64) {
	binary.LittleEndian.PutUint64(h.n[:], v)
	_, _ = h.Write(h.n[:])
}

func (h *hasher) length(n int) { h.uint(uint64(n)) }

func (h *hasher) bytes(b []byte) {
	h.length(len(b))
	_, _ = h.Write(b)
}

func (h *hasher) str(s string) {
	h.length(len(s))
	_, _ = h.WriteString(s)
}

// readHasher starts a digest with what every resource of a read rests on:
// the settings, the query (its names sorted, as url.Values.Encode has
// them, but not escaped: the lengths keep them apart), whether parties came
// included, and the patient's records.
func (s *Source) readHasher(q url.Values, pat patient, include bool) *hasher {
	h := &hasher{Digest: xxhash.New()}
	h.str(s.settings)
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names)
	h.length(len(names))
	for _, name := range names {
		h.str(name)
		h.length(len(q[name]))
		for _, v := range q[name] {
			h.str(v)
		}
	}
	h.str(strconv.FormatBool(include))
	h.str(pat.id)
	for _, id := range sortedKeys(pat.same) {
		h.str(id)
	}
	return h
}

// settings is what the normalised entries depend on besides what was
// read: cfg, and this build of the normaliser (internal/buildid).
func settings(cfg Config) string {
	return fmt.Sprintf("%q %q %q %q %q %q", buildid.Fingerprint(), cfg.Name, cfg.Sector, cfg.BaseURL, cfg.Location.String(), cfg.Detail)
}

// resourceDigests names each Appointment the Appointment search answered
// (by index; "" for the resources of other types) by its bytes and all its
// entry rests on besides: the settings, the query, the patient's records,
// and every party either search brought along (an Appointment's lookup may
// find a party the Encounter search included). The Encounters themselves
// are not among them: an Appointment's entry does not read them.
func (s *Source) resourceDigests(pat patient, f found) []string {
	types := func(rs []json.RawMessage) []string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i], _ = fhir.ResourceType(r)
		}
		return out
	}
	at, et := types(f.appts.Resources), types(f.encs.Resources)
	h := s.readHasher(f.q, pat, f.include)
	for i, r := range f.appts.Resources {
		if at[i] != "Appointment" {
			h.bytes(r)
		}
	}
	for i, r := range f.encs.Resources {
		if et[i] != "Encounter" {
			h.bytes(r)
		}
	}
	around := h.Sum64()
	out := make([]string, len(f.appts.Resources))
	for i, r := range f.appts.Resources {
		if at[i] == "Appointment" {
			h.Reset()
			h.uint(around)
			h.bytes(r)
			out[i] = fmt.Sprintf("%016x", h.Sum64())
		}
	}
	return out
}

// keptByDigest indexes this source's entries in last that came from one
// Appointment alone, with a digest, and so may be kept when it reads the
// same. It points into last, which is never changed: an entry is copied
// only when it is kept.
func (s *Source) keptByDigest(last []aggregator.Entry) map[string]*aggregator.Entry {
	var out map[string]*aggregator.Entry
	for i := range last {
		e := &last[i]
		if e.Source != s.cfg.Name || len(e.Provenance) != 1 || len(e.Parts) != 0 {
			continue // merged with another: not what the resource alone gives
		}
		p := e.Provenance[0]
		if p.Type != "Appointment" || p.Digest == "" {
			continue
		}
		if _, known := appointmentStatus[e.FHIRStatus]; !known {
			continue
		}
		if out == nil {
			out = make(map[string]*aggregator.Entry, len(last))
		}
		out[p.Digest] = e
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
