package aggregator

import (
	"strings"
	"testing"
	"unicode"
)

// refNormalise is normalise as it was first written, rune by rune over
// strings.ToLower: the fast path must fold every title the same way.
func refNormalise(s string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteRune(r)
			space = false
		} else {
			space = true
		}
	}
	return b.String()
}

func FuzzNormalise(f *testing.F) {
	for _, s := range []string{"", "Blodprøve.", "  blodprøve  ", "Kontrol, 2. gang", "ÆBLE-ØST/Å", "İstanbul", "ǅ", "\xff\xfeA", "a\u00a0b", "Ⅻ", "١٢٣ x", "ﬃ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := normalise(s), refNormalise(s); got != want {
			t.Errorf("normalise(%q) = %q, want %q", s, got, want)
		}
	})
}
