package fhirsource

import (
	"encoding/binary"
	"fmt"
	"net/url"
	"slices"
	"strconv"

	"github.com/cespare/xxhash/v2"
)

// digest names a read by what its normalised batch depends on: the
// connector's settings, the query (the patient and the window), which
// records are the patient's, whether parties came included, and every
// resource the searches answered, in order. Parties that came from the
// reference cache or a read of their own are not in it; the window moves
// every day, and with it the query, so such a party is looked at again at
// least daily (as the reference cache's own bound has it, roughly).
func (s *Source) digest(q url.Values, pat patient, f found) string {
	h := xxhash.New()
	var n [8]byte
	write := func(b []byte) {
		binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
		_, _ = h.Write(n[:])
		_, _ = h.Write(b)
	}
	write([]byte(s.settings))
	write([]byte(q.Encode()))
	write([]byte(strconv.FormatBool(f.include)))
	write([]byte(pat.id))
	same := make([]string, 0, len(pat.same))
	for id := range pat.same {
		same = append(same, id)
	}
	slices.Sort(same)
	for _, id := range same {
		write([]byte(id))
	}
	write([]byte("Appointment"))
	for _, raw := range f.appts.Resources {
		write(raw)
	}
	write([]byte("Encounter"))
	for _, raw := range f.encs.Resources {
		write(raw)
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// settings is what of cfg the normalised entries depend on.
func settings(cfg Config) string {
	return fmt.Sprintf("%q %q %q %q %q", cfg.Name, cfg.Sector, cfg.BaseURL, cfg.Location.String(), cfg.Detail)
}
