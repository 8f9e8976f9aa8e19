package fhir_test

import (
	"context"
	"fmt"
	"net/url"
	"os"

	"github.com/overblik/overblik/fhir"
)

// A SMART Backend Services source behind mutual TLS. The secrets are read by
// the caller (here from files) and handed over resolved.
func ExampleNewHTTPClient() {
	read := func(path string) []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			panic(err) // a real caller reports a configuration error
		}
		return b
	}
	hc, err := fhir.NewHTTPClient(fhir.Auth{
		Kind:          fhir.AuthSMARTBackend,
		TokenURL:      "https://auth.region.example/oauth2/token",
		ClientID:      "overblik",
		Scope:         "system/Appointment.read system/Encounter.read system/Patient.read",
		PrivateKeyPEM: read("/run/secrets/overblik-smart-key.pem"),
		KeyID:         "2026-01",
		Alg:           "ES384",
		CertPEM:       read("/run/secrets/overblik-client.crt"),
		KeyPEM:        read("/run/secrets/overblik-client.key"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := fhir.NewClient("https://fhir.region.example/R4", hc, fhir.Options{PageSize: 50})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := c.Search(context.Background(), "Appointment", url.Values{"patient": {"Patient/123"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(res.Resources), "resources")
}
