package aggregator

import "testing"

func TestSafeURL(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{"https", "https://video.example.dk/room/42?pin=1#join", "https://video.example.dk/room/42?pin=1#join"},
		{"https with a port", "https://video.example.dk:8443/r", "https://video.example.dk:8443/r"},
		{"scheme in capitals", "HTTPS://video.example.dk/r", "https://video.example.dk/r"},
		{"a space is escaped", "https://video.example.dk/a room", "https://video.example.dk/a%20room"},
		{"javascript", "javascript:alert(document.domain)", ""},
		{"javascript in capitals", "JavaScript:alert(1)", ""},
		{"data", "data:text/html,<script>alert(1)</script>", ""},
		{"vbscript", "vbscript:msgbox", ""},
		{"http", "http://video.example.dk/r", ""},
		{"ftp", "ftp://video.example.dk/r", ""},
		{"tel", "tel:+4512345678", ""},
		{"relative", "/room/42", ""},
		{"scheme-relative", "//evil.example/r", ""},
		{"no host", "https:///room", ""},
		{"only a port", "https://:443/room", ""},
		{"opaque", "https:video.example.dk", ""},
		{"credentials", "https://user:pass@video.example.dk/r", ""},
		{"user name only", "https://user@video.example.dk/r", ""},
		{"backslash trick", `https://video.example.dk\@evil.example/`, ""},
		{"control character", "https://video.example.dk/\x00r", ""},
		{"leading space", " https://video.example.dk/r", ""},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := SafeURL(tc.raw); got != tc.want {
				t.Errorf("SafeURL(%q) = %q, want %q", tc.raw, got, tc.want)
			}
		})
	}
}
