package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// page is the part of a search Bundle the client needs.
type page struct {
	resourceType string
	next         string // the URL of link[relation=next], if any
	// resources are the entries' resources, raw: callers decode only what
	// they use. They are slices of the body (capped, so an append cannot
	// spill into the next), not copies: reading a page is most of what a
	// refresh that finds nothing changed costs.
	resources []json.RawMessage
}

// parseOptions are encoding/json's leniencies that matter to a Bundle
// (duplicate names, invalid UTF-8 replaced), on the plain v2 decoder.
var parseOptions = jsonv2.JoinOptions(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))

// maxDepth is how deeply a page may nest (objects and arrays in each
// other), about as jsontext allows.
const maxDepth = 10000

// parsePage reads a search Bundle's resourceType, next link and
// entry[].resource, skipping everything else. It checks the page's JSON
// structure (brackets, names, commas, literals and numbers) but not the
// text inside strings: a page is mostly strings, and a resource that is
// used is decoded, and checked, by DecodeAppointment and its kind. One
// that is not (its digest matched the last read's) is byte for byte the
// one decoded then.
func parsePage(body []byte) (page, error) {
	var p page
	s := &scanner{b: body}
	if err := s.open('{'); err != nil {
		return page{}, err
	}
	err := s.each('}', func() error {
		name, err := s.name()
		if err != nil {
			return err
		}
		switch {
		case named(name, "resourceType"):
			p.resourceType, err = s.str()
		case named(name, "link"):
			err = p.links(s)
		case named(name, "entry"):
			err = p.entries(s)
		default:
			_, err = s.value(1)
		}
		return err
	})
	if err != nil {
		return page{}, err
	}
	if s.ws(); s.i != len(s.b) {
		return page{}, errors.New("data after the Bundle")
	}
	return p, nil
}

// links reads the link array (or null), keeping the first next link.
func (p *page) links(s *scanner) error {
	if s.null() {
		return nil
	}
	if err := s.open('['); err != nil {
		return err
	}
	return s.each(']', func() error {
		if s.null() { // a null link is no link
			return nil
		}
		if err := s.open('{'); err != nil {
			return err
		}
		var relation, link string
		err := s.each('}', func() error {
			name, err := s.name()
			if err != nil {
				return err
			}
			switch {
			case named(name, "relation"):
				relation, err = s.str()
			case named(name, "url"):
				link, err = s.str()
			default:
				_, err = s.value(3) // the Bundle, link, this link
			}
			return err
		})
		if err == nil && relation == "next" && link != "" && p.next == "" {
			p.next = link
		}
		return err
	})
}

// entries reads the entry array (or null), keeping each entry's resource.
func (p *page) entries(s *scanner) error {
	if s.null() {
		return nil
	}
	if err := s.open('['); err != nil {
		return err
	}
	return s.each(']', func() error {
		if err := s.open('{'); err != nil {
			return err
		}
		return s.each('}', func() error {
			name, err := s.name()
			if err != nil {
				return err
			}
			v, err := s.value(3) // the Bundle, entry, this entry
			if err == nil && v[0] != 'n' && named(name, "resource") {
				p.resources = append(p.resources, json.RawMessage(v[:len(v):len(v)]))
			}
			return err
		})
	})
}

// named reports whether an object member's name (as read, quoted) is want,
// escapes read: no allocation for a name without any.
func named(name []byte, want string) bool {
	if bytes.IndexByte(name, '\\') < 0 {
		return len(name) == len(want)+2 && string(name[1:len(name)-1]) == want
	}
	var s string
	return jsonv2.Unmarshal(name, &s, parseOptions) == nil && s == want
}

// scanner walks JSON text without decoding it: it finds where each value
// begins and ends.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek is the next byte after white space, 0 at the end.
func (s *scanner) peek() byte {
	if s.ws(); s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) errorf(format string, args ...any) error {
	return fmt.Errorf("at offset %d: %s", s.i, fmt.Sprintf(format, args...))
}

func (s *scanner) want(what string) error {
	if s.i >= len(s.b) {
		return s.errorf("want %s, got the end", what)
	}
	return s.errorf("want %s, got %q", what, s.b[s.i])
}

// open reads the byte that opens an object ('{') or array ('[').
func (s *scanner) open(c byte) error {
	if s.peek() != c {
		return s.want(string(c))
	}
	s.i++
	return nil
}

// each calls member for each member of the object or array just opened
// (closing is its closing byte), reading the commas between them and the
// closing byte. A comma before the closing byte is an error of member's:
// it finds no name or value.
func (s *scanner) each(closing byte, member func() error) error {
	if s.peek() == closing {
		s.i++
		return nil
	}
	for {
		if err := member(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case closing:
			s.i++
			return nil
		default:
			return s.want(fmt.Sprintf("',' or %q", closing))
		}
	}
}

// null reads a null, if that is what comes.
func (s *scanner) null() bool {
	return s.peek() == 'n' && s.literal("null")
}

// literal reads lit, if that is what comes at s.i.
func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	return false
}

// name reads an object member's name and its colon; it returns the name
// quoted, as written.
func (s *scanner) name() ([]byte, error) {
	if s.peek() != '"' {
		return nil, s.want("a name")
	}
	name, err := s.quoted()
	if err != nil {
		return nil, err
	}
	if s.peek() != ':' {
		return nil, s.want("':'")
	}
	s.i++
	return name, nil
}

// quoted reads a string at s.i, returning it with its quotes. Its text is
// not checked (see parsePage), only where it ends: at the first quote not
// escaped by an odd run of backslashes.
func (s *scanner) quoted() ([]byte, error) {
	start := s.i
	for at := start + 1; ; {
		k := bytes.IndexByte(s.b[at:], '"')
		if k < 0 {
			s.i = len(s.b)
			return nil, s.errorf("a string does not end")
		}
		end := at + k
		slashes := 0
		for j := end - 1; j > start && s.b[j] == '\\'; j-- {
			slashes++
		}
		if slashes%2 == 0 {
			s.i = end + 1
			return s.b[start:s.i], nil
		}
		at = end + 1
	}
}

// str reads a string (or null, "") and unquotes it.
func (s *scanner) str() (string, error) {
	if s.null() {
		return "", nil
	}
	if s.peek() != '"' {
		return "", s.want("a string")
	}
	v, err := s.quoted()
	if err != nil {
		return "", err
	}
	if inner := v[1 : len(v)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), nil
	}
	var out string // escapes, or invalid UTF-8 to replace as encoding/json does
	err = jsonv2.Unmarshal(v, &out, parseOptions)
	return out, err
}

// value skips any value and returns its text. It walks nested objects and
// arrays in a loop, keeping which of the two each open one is: most of a
// page is nested, and a recursive walk spent a fifth of its time growing
// the reading goroutine's stack and calling closures.
//
// outer is how many objects and arrays the value is in: the page as a
// whole nests at most maxDepth deep.
func (s *scanner) value(outer int) ([]byte, error) {
	var open [32]byte // the closing byte of each object or array entered
	nest := open[:0]
	start := -1
	for {
		// A value: a scalar, or the opening of an object or array.
		c := s.peek()
		if start < 0 {
			start = s.i
		}
		switch {
		case c == '"':
			if _, err := s.quoted(); err != nil {
				return nil, err
			}
		case c == '{' || c == '[':
			if outer+len(nest) >= maxDepth {
				return nil, s.errorf("nested more than %d deep", maxDepth)
			}
			s.i++
			closing := byte('}')
			if c == '[' {
				closing = ']'
			}
			if s.peek() != closing {
				nest = append(nest, closing)
				if closing == '}' {
					if _, err := s.name(); err != nil {
						return nil, err
					}
				}
				continue // to its first member's value
			}
			s.i++ // empty
		case c == 't' || c == 'f' || c == 'n':
			if !s.literal("true") && !s.literal("false") && !s.literal("null") {
				return nil, s.want("true, false or null")
			}
		case c == '-' || '0' <= c && c <= '9':
			if err := s.number(); err != nil {
				return nil, err
			}
		default:
			return nil, s.want("a value")
		}
		// After a value: the next member of what it is in, or that one's end.
		for {
			if len(nest) == 0 {
				return s.b[start:s.i], nil
			}
			closing := nest[len(nest)-1]
			c := s.peek()
			if c == closing {
				s.i++
				nest = nest[:len(nest)-1]
				continue
			}
			if c != ',' {
				return nil, s.want(fmt.Sprintf("',' or %q", closing))
			}
			s.i++
			if closing == '}' {
				if _, err := s.name(); err != nil {
					return nil, err
				}
			}
			break
		}
	}
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() error {
	digits := func() int {
		n := 0
		for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
			s.i, n = s.i+1, n+1
		}
		return n
	}
	if s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case digits() == 0:
		return s.want("a digit")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		if s.i++; digits() == 0 {
			return s.want("a digit")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		if s.i++; s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return s.want("a digit")
		}
	}
	return nil
}
