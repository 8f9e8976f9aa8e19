package fhir

import (
	"context"
	"encoding/json"
	"fmt"
)

// Capabilities is what a server's CapabilityStatement says about the
// interactions a connector relies on.
type Capabilities struct {
	FHIRVersion string
	// Search lists, per resource type, the search parameters the server
	// declares (including _lastUpdated, _include values are in Includes).
	Search   map[string][]string
	Includes map[string][]string
}

// Supports reports whether the server declares search parameter param on
// resourceType. Common parameters (_id, _lastUpdated, _count) are often left
// out of CapabilityStatements, so callers treat a missing one as a warning.
func (c *Capabilities) Supports(resourceType, param string) bool {
	for _, p := range c.Search[resourceType] {
		if p == param {
			return true
		}
	}
	return false
}

// Capabilities reads GET [base]/metadata.
func (c *Client) Capabilities(ctx context.Context) (*Capabilities, error) {
	const op = "GET metadata"
	body, err := c.get(ctx, request{op: op, u: c.at("metadata")})
	if err != nil {
		return nil, err
	}
	var cs struct {
		ResourceType string `json:"resourceType"`
		FHIRVersion  string `json:"fhirVersion"`
		Rest         []struct {
			Mode     string `json:"mode"`
			Resource []struct {
				Type          string   `json:"type"`
				SearchInclude []string `json:"searchInclude"`
				SearchParam   []struct {
					Name string `json:"name"`
				} `json:"searchParam"`
			} `json:"resource"`
		} `json:"rest"`
	}
	if err := json.Unmarshal(body, &cs); err != nil {
		return nil, fmt.Errorf("%s: malformed JSON: %w", op, ErrInvalid)
	}
	if cs.ResourceType != "CapabilityStatement" {
		return nil, fmt.Errorf("%s: got %q, want a CapabilityStatement: %w", op, shortType(cs.ResourceType), ErrInvalid)
	}
	out := &Capabilities{FHIRVersion: cs.FHIRVersion, Search: map[string][]string{}, Includes: map[string][]string{}}
	for _, r := range cs.Rest {
		if r.Mode != "" && r.Mode != "server" {
			continue
		}
		for _, res := range r.Resource {
			for _, p := range res.SearchParam {
				out.Search[res.Type] = append(out.Search[res.Type], p.Name)
			}
			out.Includes[res.Type] = append(out.Includes[res.Type], res.SearchInclude...)
		}
	}
	return out, nil
}
