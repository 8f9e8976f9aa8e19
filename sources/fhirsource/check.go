package fhirsource

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/fhir"
)

// Probes match nobody: a CPR number cannot be all zeros, and no server
// gives a Patient this id.
const (
	probeIdentifier = "0000000000"
	probePatient    = "overblik-probe-nobody"
)

// probeBudget bounds what one probe reads: a server that ignores patient=
// would page through everyone's appointments.
const probeBudget = 1 << 20

// Check asks the server what `overblik check` reports: its
// CapabilityStatement and FHIR version, which of our searches it declares,
// whether it accepts our credentials, and then tries each search a fetch
// makes, for a patient nobody is and with strict handling as a fetch asks.
// Declarations only inform (many servers, Medplum's among them, declare no
// search parameters); a tried search fails the check when the server
// refuses it or ignores what it is asked (answers with someone's
// resources).
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

	probes := s.probes(identifierSystem)
	if caps != nil {
		var missing []string
		for _, p := range probes {
			for _, param := range p.declare {
				if !caps.Supports(p.typ, param) && !slices.Contains(missing, p.typ+"?"+param) {
					missing = append(missing, p.typ+"?"+param)
				}
			}
		}
		c := aggregator.Check{Name: "searches declared", OK: true, Detail: "all declared"}
		if len(missing) > 0 {
			c.Detail = "not declared: " + strings.Join(missing, ", ") + " (the tries below decide)"
		}
		out = append(out, c)
	}

	for i, p := range probes {
		res, err := s.client.SearchWithin(ctx, fhir.NewByteBudget(probeBudget), p.typ, p.query)
		if i == 0 {
			// A search that matches nobody proves the credentials without
			// reading anyone's data.
			if refusedUs(err) {
				return append(out, aggregator.Check{Name: "authentication", Detail: describe(err)})
			}
			auth := aggregator.Check{Name: "authentication", OK: true, Detail: "a patient search was answered"}
			if err != nil && !isHTTP(err) {
				auth = aggregator.Check{Name: "authentication", Detail: describe(err)}
			}
			out = append(out, auth)
		}
		c := p.judge(res, err)
		if !c.OK && p.query.Has("_include") {
			// Say whether _include is what the server refuses: a fetch then
			// goes on without it, but the configuration should say so.
			bare := probe{typ: p.typ, query: url.Values{}, about: p.about}
			for k, v := range p.query {
				if !strings.HasPrefix(k, "_include") {
					bare.query[k] = v
				}
			}
			res, err := s.client.SearchWithin(ctx, fhir.NewByteBudget(probeBudget), bare.typ, bare.query)
			if bc := bare.judge(res, err); bc.OK {
				c.Detail += "; without _include it is answered: set include: false"
			}
		}
		if !c.OK && p.query.Has("_lastUpdated") {
			c.Detail += "; set incremental: false"
		}
		out = append(out, c)
	}
	return out
}

// probe is one search a fetch makes, asked for nobody.
type probe struct {
	typ     string
	query   url.Values
	declare []string // the parameters a CapabilityStatement would list
	about   string   // what a match would mean was ignored
}

// probes are the searches Fetch makes, in the shape it makes them (with
// _include when configured), for nobody.
func (s *Source) probes(identifierSystem string) []probe {
	out := []probe{{typ: "Patient", query: url.Values{"identifier": {identifierSystem + "|" + probeIdentifier}},
		declare: []string{"identifier"}, about: "identifier="}}
	now := s.cfg.Now()
	queries := []url.Values{windowQuery(probePatient, aggregator.Window{From: now.AddDate(-1, 0, 0), To: now.AddDate(1, 0, 0)})}
	declares := [][]string{{"patient", "date"}}
	if s.cfg.Incremental {
		queries = append(queries, url.Values{
			"patient":      {"Patient/" + probePatient},
			"_lastUpdated": {"ge" + now.Add(-time.Hour).UTC().Format(time.RFC3339Nano)},
		})
		declares = append(declares, []string{"patient", "_lastUpdated"})
	}
	for i, q := range queries {
		for _, typ := range []string{"Appointment", "Encounter"} {
			includes := appointmentIncludes
			if typ == "Encounter" {
				includes = encounterIncludes
			}
			out = append(out, probe{typ: typ, query: withIncludes(q, s.cfg.Include && !s.includeRefused.Load(), includes),
				declare: declares[i], about: "patient="})
		}
	}
	return out
}

// judge says what the answer to p means.
func (p probe) judge(res *fhir.SearchResult, err error) aggregator.Check {
	c := aggregator.Check{Name: "search " + p.name()}
	var fe *fhir.Error
	switch {
	case errors.As(err, &fe) && fe.StatusCode == http.StatusNotFound && p.typ != "Patient":
		// Some servers (HAPI's among them) answer a reference to a Patient
		// they do not have with 404 rather than an empty result.
		c.OK, c.Detail = true, "answered 404: the server does not know the probe patient, as it should not"
	case errors.As(err, &fe) && aggregator.KindForHTTPStatus(fe.StatusCode) == aggregator.Invalid:
		c.Detail = "refused: " + describe(err)
	case err != nil:
		c.Detail = describe(err)
	default:
		n := 0
		for _, raw := range res.Resources {
			if t, _ := fhir.ResourceType(raw); t == p.typ {
				n++
			}
		}
		c.OK, c.Detail = n == 0, "answered, with nothing for nobody"
		if n > 0 {
			c.Detail = fmt.Sprintf("ignored: %d %ss came back for nobody; the server does not apply %s", n, p.typ, p.about)
		}
	}
	return c
}

// name is the search in short, its filters first, in the order the
// declarations name them: Appointment?patient&date&_include.
func (p probe) name() string {
	var params []string
	for _, k := range p.declare {
		if p.query.Has(k) {
			params = append(params, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(p.query)) {
		if !slices.Contains(params, k) {
			params = append(params, k)
		}
	}
	return p.typ + "?" + strings.Join(params, "&")
}

// refusedUs reports an error that says our credentials were not accepted.
func refusedUs(err error) bool {
	var fe *fhir.Error
	return errors.As(err, &fe) && aggregator.KindForHTTPStatus(fe.StatusCode) == aggregator.Unauthorized ||
		errors.Is(err, fhir.ErrAuth)
}

// isHTTP reports an error that is an answer from the server.
func isHTTP(err error) bool {
	var fe *fhir.Error
	return errors.As(err, &fe)
}

// describe says in a line what went wrong, for an operator.
func describe(err error) string {
	var fe *fhir.Error
	switch {
	case errors.As(err, &fe) && (fe.StatusCode == 401 || fe.StatusCode == 403):
		return fmt.Sprintf("refused our credentials (HTTP %d)", fe.StatusCode)
	case errors.As(err, &fe):
		return strings.TrimSpace(fmt.Sprintf("HTTP %d %s", fe.StatusCode, fe.Outcome))
	case errors.Is(err, fhir.ErrAuth):
		return "the token endpoint refused our credentials"
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer in time"
	}
	return err.Error()
}
