package calendar

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// writer writes content lines as RFC 5545 section 3.1 wants them: CRLF at
// the end, folded so no line is longer than 75 octets (a continuation
// starts with one space, which counts), and never inside a UTF-8 sequence.
type writer struct {
	b bytes.Buffer
}

const maxLineOctets = 75

// line writes name, its parameters (each "KEY=value", already quoted
// where needed) and an already escaped value.
func (w *writer) line(name, value string, params ...string) {
	var l strings.Builder
	l.WriteString(name)
	for _, p := range params {
		l.WriteByte(';')
		l.WriteString(p)
	}
	l.WriteByte(':')
	l.WriteString(value)
	w.fold(l.String())
}

// text writes a TEXT property: value escaped.
func (w *writer) text(name, value string, params ...string) {
	w.line(name, escapeText(value), params...)
}

func (w *writer) fold(s string) {
	width := maxLineOctets
	for len(s) > width {
		cut := width
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut-- // back to the first byte of the rune that would be split
		}
		w.b.WriteString(s[:cut])
		w.b.WriteString("\r\n ")
		s = s[cut:]
		width = maxLineOctets - 1 // the leading space is part of the line
	}
	w.b.WriteString(s)
	w.b.WriteString("\r\n")
}

// escapeText escapes a TEXT value (RFC 5545 section 3.3.11): backslash,
// semicolon, comma and line breaks. Other control characters, which TEXT
// may not hold, are dropped; a tab stays.
func escapeText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\', c == ';', c == ',':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			b.WriteString(`\n`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			// not allowed in TEXT
		default:
			b.WriteByte(c)
		}
	}
	return strings.ToValidUTF8(b.String(), "\uFFFD")
}

// paramValue quotes a parameter value when it holds a character that ends
// one (RFC 5545 section 3.2); a quote, which no quoting can carry, is dropped.
func paramValue(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '"' || r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if strings.ContainsAny(s, ":;,") {
		return `"` + s + `"`
	}
	return s
}
