package fhirsource

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/fhir"
)

// probeIdentifier matches nobody: a CPR number cannot be all zeros.
const probeIdentifier = "0000000000"

// Check asks the server what `overblik check` reports: its
// CapabilityStatement, its FHIR version, whether it accepts our credentials
// and whether it declares the searches this connector uses.
func (s *Source) Check(ctx context.Context, identifierSystem string) []aggregator.Check {
	var out []aggregator.Check
	caps, err := s.client.Capabilities(ctx)
	if err != nil {
		out = append(out, aggregator.Check{Name: "metadata", Detail: describe(err)})
	} else {
		out = append(out, aggregator.Check{Name: "metadata", OK: true, Detail: "CapabilityStatement read"})
		v := caps.FHIRVersion
		out = append(out, aggregator.Check{Name: "fhir version", OK: strings.HasPrefix(v, "4.0"),
			Detail: fmt.Sprintf("%q (want R4, 4.0.x)", v)})
	}

	// A search that matches nobody proves the credentials without reading
	// anyone's data.
	_, err = s.client.Search(ctx, "Patient", url.Values{"identifier": {identifierSystem + "|" + probeIdentifier}, "_count": {"1"}})
	if err != nil {
		out = append(out, aggregator.Check{Name: "authentication", Detail: describe(err)})
	} else {
		out = append(out, aggregator.Check{Name: "authentication", OK: true, Detail: "a patient search was answered"})
	}

	if caps != nil {
		need := map[string][]string{
			"Patient":     {"identifier"},
			"Appointment": {"patient", "date"},
			"Encounter":   {"patient", "date"},
		}
		if s.cfg.Incremental {
			need["Appointment"] = append(need["Appointment"], "_lastUpdated")
			need["Encounter"] = append(need["Encounter"], "_lastUpdated")
		}
		var missing []string
		for _, typ := range []string{"Patient", "Appointment", "Encounter"} {
			for _, p := range need[typ] {
				if !caps.Supports(typ, p) {
					missing = append(missing, typ+"?"+p)
				}
			}
		}
		c := aggregator.Check{Name: "searches", OK: len(missing) == 0, Detail: "all declared"}
		if len(missing) > 0 {
			c.Detail = "not declared: " + strings.Join(missing, ", ")
		}
		out = append(out, c)
	}
	return out
}

// describe says in a line what went wrong, for an operator.
func describe(err error) string {
	var fe *fhir.Error
	switch {
	case errors.As(err, &fe) && (fe.StatusCode == 401 || fe.StatusCode == 403):
		return fmt.Sprintf("refused our credentials (HTTP %d)", fe.StatusCode)
	case errors.As(err, &fe):
		return fmt.Sprintf("HTTP %d %s", fe.StatusCode, fe.Outcome)
	case errors.Is(err, fhir.ErrAuth):
		return "the token endpoint refused our credentials"
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer in time"
	}
	return err.Error()
}
