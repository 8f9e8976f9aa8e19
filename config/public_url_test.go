package config

import (
	"strings"
	"testing"
)

func TestPublicURL(t *testing.T) {
	tests := []struct {
		value, wantErr string
	}{
		{"https://overblik.example-region.dk", ""},
		{"https://overblik.example-region.dk/sub/", ""},
		{"http://127.0.0.1:8080", ""},
		{"http://localhost:8080", ""},
		{"http://overblik.example-region.dk", "public_url: must be https"},
		{"overblik.example-region.dk", "public_url: want an absolute https URL"},
		{"ftp://overblik.example-region.dk", "public_url: want an absolute https URL"},
		{"https://user:pw@overblik.example-region.dk", "public_url: must not carry credentials"},
		{"https://overblik.example-region.dk/?a=b", "public_url: must not carry credentials, a query"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			c, err := Parse([]byte(minimalConfig+"public_url: "+tt.value+"\n"), nil, testKinds())
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if c.PublicURL != tt.value {
					t.Errorf("PublicURL = %q", c.PublicURL)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err %v, want %q", err, tt.wantErr)
			}
		})
	}
	if c := mustParseConfig(t, minimalConfig, nil); c.PublicURL != "" {
		t.Errorf("default public_url %q, want none", c.PublicURL)
	}
}
