// Package buildid names the build of overblik that is running, so that
// what one build derived and stored (a digest of what a source said) is
// trusted only by the same build: a release that normalises or merges
// differently must not keep the entries an older one made.
package buildid

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/cespare/xxhash/v2"
)

var fingerprint = sync.OnceValue(func() string {
	s, err := fromExecutable()
	if err != nil {
		// No build to name: trust nothing another process stored.
		var b [8]byte
		_, _ = rand.Read(b[:])
		return "random-" + hex.EncodeToString(b[:])
	}
	return s
})

// Fingerprint is a digest of the running executable: the same for every
// replica started from one image, different for any other build (a
// version string would not change with a rebuilt dirty tree). Computed
// once, at the first call.
func Fingerprint() string { return fingerprint() }

func fromExecutable() (string, error) {
	path, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("buildid: %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("buildid: %w", err)
	}
	defer f.Close()
	h := xxhash.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("buildid: read executable: %w", err)
	}
	return fmt.Sprintf("%016x", h.Sum64()), nil
}
