package auth

import (
	"encoding/base64"
	"testing"
)

// TestSafeNext: after the login only a path on this site, re-serialised;
// anything a browser could read as another host goes to the front page.
// The values are as the login handler sees them, after the query's own
// decoding (so "/\t/..." is what ?next=/%09/... arrives as).
func TestSafeNext(t *testing.T) {
	for _, tc := range []struct{ next, want string }{
		{"", "/"},
		{"/", "/"},
		{"/p/abc", "/p/abc"},
		{"/p/abc?lang=en", "/p/abc?lang=en"},
		{"/clinician/conflicts?from=2026-01-01&to=2026-01-31", "/clinician/conflicts?from=2026-01-01&to=2026-01-31"},
		{"/p/æ", "/p/%C3%A6"},
		{"/p/a b", "/p/a%20b"},
		{"/p/abc#frag", "/p/abc"},
		{"/p?next=//evil.example", "/p?next=%2F%2Fevil.example"},
		{"/a/%2f%2fevil.example", "/a/%2f%2fevil.example"}, // a path on this site

		{"/\t/evil.example/phish", "/"}, // ?next=/%09/evil.example/phish
		{"/%09/evil.example/phish", "/"},
		{"/\n/evil.example", "/"},
		{"/%0a/evil.example", "/"},
		{"/%0D/evil.example", "/"},
		{"/\x00/evil.example", "/"},
		{"/\u0085/evil.example", "/"},
		{"//evil.example", "/"},
		{"///evil.example", "/"},
		{"//evil.example/p", "/"},
		{"/\\evil.example", "/"},
		{"/\\/evil.example", "/"},
		{"/%5cevil.example", "/"},
		{"/%5C%5Cevil.example", "/"},
		{"/%2f%2fevil.example", "/"},
		{"/%2F/evil.example", "/"},
		{"https://evil.example/", "/"},
		{"http:/evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"evil.example", "/"},
		{"p/abc", "/"},
		{" /evil.example", "/"},
		{"/%", "/"},
		{"/p?x=%", "/p"},
	} {
		t.Run(tc.next, func(t *testing.T) {
			if got := safeNext(tc.next); got != tc.want {
				t.Errorf("safeNext(%q) = %q, want %q", tc.next, got, tc.want)
			}
		})
	}
}

// TestTokenType: a bearer JWT typed as another kind of JWT is refused, an
// untyped one only where the provider is said to type its access tokens.
func TestTokenType(t *testing.T) {
	header := func(h string) string { return base64.RawURLEncoding.EncodeToString([]byte(h)) + ".e30.sig" }
	for _, tc := range []struct {
		header    string
		requireAT bool
		ok        bool
	}{
		{`{"alg":"RS256","typ":"at+jwt"}`, false, true},
		{`{"alg":"RS256","typ":"application/at+JWT"}`, true, true},
		{`{"alg":"RS256","typ":"at+jwt"}`, true, true},
		{`{"alg":"RS256","typ":"JWT"}`, false, true},
		{`{"alg":"RS256"}`, false, true},
		{`{"alg":"RS256","typ":"JWT"}`, true, false},
		{`{"alg":"RS256"}`, true, false},
		{`{"alg":"RS256","typ":"logout+jwt"}`, false, false},
		{`{"alg":"RS256","typ":"dpop+jwt"}`, false, false},
		{`not json`, false, false},
	} {
		rp := &relyingParty{cfg: OIDCConfig{RequireATJWT: tc.requireAT}}
		if err := rp.checkType(header(tc.header)); (err == nil) != tc.ok {
			t.Errorf("header %s, RequireATJWT %v: err = %v, want ok %v", tc.header, tc.requireAT, err, tc.ok)
		}
	}
}
