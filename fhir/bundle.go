package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

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

// parsePage reads a search Bundle's resourceType, next link and
// entry[].resource, skipping (but checking) everything else.
func parsePage(body []byte) (page, error) {
	var p page
	// From a bytes.Buffer the decoder reads body itself, so the offsets it
	// reports are body's.
	dec := jsontext.NewDecoder(bytes.NewBuffer(body), parseOptions)
	if err := object(dec, func(name string) error {
		switch name {
		case "resourceType":
			return jsonv2.UnmarshalDecode(dec, &p.resourceType)
		case "link":
			var links []struct {
				Relation string `json:"relation"`
				URL      string `json:"url"`
			}
			if err := jsonv2.UnmarshalDecode(dec, &links); err != nil {
				return err
			}
			for _, l := range links {
				if l.Relation == "next" && l.URL != "" && p.next == "" {
					p.next = l.URL
				}
			}
			return nil
		case "entry":
			return array(dec, func() error {
				return object(dec, func(name string) error {
					if name != "resource" {
						return dec.SkipValue()
					}
					v, err := dec.ReadValue()
					if err != nil {
						return err
					}
					if v.Kind() != 'n' {
						end := int(dec.InputOffset())
						p.resources = append(p.resources, json.RawMessage(body[end-len(v):end:end]))
					}
					return nil
				})
			})
		}
		return dec.SkipValue()
	}); err != nil {
		return page{}, err
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return page{}, errors.New("data after the Bundle")
	}
	return p, nil
}

// object reads a JSON object (or null), calling member for each name with
// the decoder at the value, which member must read.
func object(dec *jsontext.Decoder, member func(name string) error) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	switch tok.Kind() {
	case 'n':
		return nil
	case '{':
	default:
		return fmt.Errorf("want an object, got %v", tok.Kind())
	}
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return err
		}
		if err := member(name.String()); err != nil {
			return err
		}
	}
	_, err = dec.ReadToken()
	return err
}

// array reads a JSON array (or null), calling elem with the decoder at
// each element, which elem must read.
func array(dec *jsontext.Decoder, elem func() error) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	switch tok.Kind() {
	case 'n':
		return nil
	case '[':
	default:
		return fmt.Errorf("want an array, got %v", tok.Kind())
	}
	for dec.PeekKind() != ']' {
		if err := elem(); err != nil {
			return err
		}
	}
	_, err = dec.ReadToken()
	return err
}
