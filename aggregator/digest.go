package aggregator

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
)

// digestOf is a digest of parts, each length-prefixed so that no two lists
// of parts run together into the same bytes.
func digestOf(parts ...string) string {
	h := xxhash.New()
	var n [8]byte
	for _, p := range parts {
		binary.LittleEndian.PutUint64(n[:], uint64(len(p)))
		_, _ = h.Write(n[:])
		_, _ = h.WriteString(p)
	}
	return fmt.Sprintf("%016x", h.Sum64())
}
