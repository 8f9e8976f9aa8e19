package main

import (
	"strings"
	"testing"

	"github.com/overblik/overblik/config"
)

// The wiring's tests read configurations as serve does.

// minimalConfig is the smallest valid configuration.
const minimalConfig = `sources:
  - name: rh
    display: Rigshospitalet
    sector: hospital
    kind: fhir
    base_url: https://fhir.example.dk/r4
`

// keyHash is the SHA-256 of "a-key-only-these-tests-know".
const keyHash = "78726d1cd080c7a6bb423be2c97471a2abaf326c9231efcbc8622bd481d8946a"

func envFunc(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func mustParseConfig(t *testing.T, data string, getenv func(string) string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(data), getenv, sourceKinds())
	if err != nil {
		t.Fatalf("Parse: unexpected error:\n%v", err)
	}
	return c
}

func assertErrContains(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("error does not contain %q; got:\n%s", w, got)
		}
	}
}
