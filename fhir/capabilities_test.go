package fhir

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCapabilities(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr error
		check   func(t *testing.T, c *Capabilities)
	}{
		{
			name: "declared searches",
			body: `{"resourceType":"CapabilityStatement","fhirVersion":"4.0.1","rest":[{"mode":"server","resource":[
				{"type":"Patient","searchParam":[{"name":"identifier"}]},
				{"type":"Appointment","searchInclude":["Appointment:actor"],"searchParam":[{"name":"patient"},{"name":"date"}]}]}]}`,
			check: func(t *testing.T, c *Capabilities) {
				if c.FHIRVersion != "4.0.1" || !c.Supports("Patient", "identifier") || !c.Supports("Appointment", "date") || c.Supports("Encounter", "date") {
					t.Errorf("capabilities = %+v", c)
				}
				if len(c.Includes["Appointment"]) != 1 {
					t.Errorf("includes = %v", c.Includes)
				}
			},
		},
		{name: "not a CapabilityStatement", body: `{"resourceType":"Bundle"}`, wantErr: ErrInvalid},
		{name: "garbage", body: `<html>`, wantErr: ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/r4/metadata" {
					http.NotFound(w, r)
					return
				}
				w.Header().Set("Content-Type", "application/fhir+json")
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			c, err := NewClient(srv.URL+"/r4", nil, Options{MaxAttempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Capabilities(context.Background())
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, got)
		})
	}
}
