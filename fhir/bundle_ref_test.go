package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// refParsePage is parsePage as it was written on jsontext's validating
// decoder: the reference FuzzParsePage holds the scanner to.
func refParsePage(body []byte) (page, error) {
	var p page
	// From a bytes.Buffer the decoder reads body itself, so the offsets it
	// reports are body's.
	dec := jsontext.NewDecoder(bytes.NewBuffer(body), parseOptions)
	if err := refOpen(dec, '{'); err != nil {
		return page{}, err
	}
	for dec.PeekKind() != '}' {
		name, err := dec.ReadValue()
		if err != nil {
			return page{}, err
		}
		switch {
		case named(name, "resourceType"):
			p.resourceType, err = refReadString(dec)
		case named(name, "link"):
			err = refLinks(&p, dec)
		case named(name, "entry"):
			err = refEntries(&p, dec, body)
		default:
			err = dec.SkipValue()
		}
		if err != nil {
			return page{}, err
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return page{}, err
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return page{}, errors.New("data after the Bundle")
	}
	return p, nil
}

// links reads the link array (or null), keeping the first next link. By
// hand, as entries: an unmarshal would give each page's decoder a string
// cache of its own, kilobytes for the two strings a page has.
func refLinks(p *page, dec *jsontext.Decoder) error {
	if dec.PeekKind() == 'n' {
		return dec.SkipValue()
	}
	if err := refOpen(dec, '['); err != nil {
		return err
	}
	for dec.PeekKind() != ']' {
		if dec.PeekKind() == 'n' { // a null link is no link
			if err := dec.SkipValue(); err != nil {
				return err
			}
			continue
		}
		if err := refOpen(dec, '{'); err != nil {
			return err
		}
		var relation, link string
		for dec.PeekKind() != '}' {
			name, err := dec.ReadValue()
			if err != nil {
				return err
			}
			switch {
			case named(name, "relation"):
				relation, err = refReadString(dec)
			case named(name, "url"):
				link, err = refReadString(dec)
			default:
				err = dec.SkipValue()
			}
			if err != nil {
				return err
			}
		}
		if _, err := dec.ReadToken(); err != nil {
			return err
		}
		if relation == "next" && link != "" && p.next == "" {
			p.next = link
		}
	}
	_, err := dec.ReadToken()
	return err
}

// readString reads a string or null ("") value.
func refReadString(dec *jsontext.Decoder) (string, error) {
	v, err := dec.ReadValue()
	switch {
	case err != nil:
		return "", err
	case v.Kind() == 'n':
		return "", nil
	case v.Kind() != '"':
		return "", fmt.Errorf("want a string, got %v", v.Kind())
	}
	if inner := v[1 : len(v)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), nil
	}
	var s string // escapes, or invalid UTF-8 to replace as encoding/json does
	err = jsonv2.Unmarshal(v, &s, parseOptions)
	return s, err
}

// entries reads the entry array (or null), keeping each entry's resource.
func refEntries(p *page, dec *jsontext.Decoder, body []byte) error {
	if dec.PeekKind() == 'n' {
		return dec.SkipValue()
	}
	if err := refOpen(dec, '['); err != nil {
		return err
	}
	for dec.PeekKind() != ']' {
		if err := refOpen(dec, '{'); err != nil {
			return err
		}
		for dec.PeekKind() != '}' {
			name, err := dec.ReadValue()
			if err != nil {
				return err
			}
			if !named(name, "resource") {
				if err := dec.SkipValue(); err != nil {
					return err
				}
				continue
			}
			v, err := dec.ReadValue()
			if err != nil {
				return err
			}
			if v.Kind() != 'n' {
				end := int(dec.InputOffset())
				p.resources = append(p.resources, json.RawMessage(body[end-len(v):end:end]))
			}
		}
		if _, err := dec.ReadToken(); err != nil {
			return err
		}
	}
	_, err := dec.ReadToken()
	return err
}

// open reads the token that opens an object ('{') or array ('[').
func refOpen(dec *jsontext.Decoder, kind jsontext.Kind) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	if tok.Kind() != kind {
		return fmt.Errorf("want %v, got %v", kind, tok.Kind())
	}
	return nil
}

// named reports whether an object member's name (as read, quoted) is want,
// escapes read: no allocation for a name without any.
