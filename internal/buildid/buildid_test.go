package buildid

import (
	"os"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// The fingerprint is the executable's digest, not a random or constant value.
func TestFingerprintIsTheExecutablesDigest(t *testing.T) {
	path, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := xxhash.Sum64(b)
	got := Fingerprint()
	if got == "" || got != Fingerprint() {
		t.Fatalf("Fingerprint() = %q, not stable", got)
	}
	if got != fmtHex(want) {
		t.Fatalf("Fingerprint() = %q, want the executable's xxhash %s", got, fmtHex(want))
	}
}

func fmtHex(v uint64) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 16)
	for i := 15; i >= 0; i-- {
		b[i] = digits[v&15]
		v >>= 4
	}
	return string(b)
}
