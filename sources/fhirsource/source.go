// Package fhirsource is the configurable connector for any FHIR R4 server:
// it finds the patient by identifier, fetches their Appointments and
// Encounters in the window and normalises them into timeline entries.
package fhirsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/fhir"
)

// Config describes one FHIR source.
type Config struct {
	Name     string // unique; part of every entry id
	Sector   aggregator.Sector
	BaseURL  string
	PageSize int            // _count; 0 lets the server choose
	Location *time.Location // reads date-only values as whole days here; default UTC
}

// Source is a FHIR R4 server as a timeline source. Safe for concurrent use.
type Source struct {
	cfg    Config
	client *fhir.Client
	refs   refCache

	mu  sync.Mutex
	ids map[aggregator.Identifier]string // patient identifier -> this server's Patient id
}

// New returns a connector for cfg that talks HTTP through hc.
func New(cfg Config, hc *http.Client) (*Source, error) {
	if cfg.Name == "" {
		return nil, errors.New("fhirsource: name is required")
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	c, err := fhir.NewClient(cfg.BaseURL, hc, fhir.Options{PageSize: cfg.PageSize})
	if err != nil {
		return nil, fmt.Errorf("fhirsource %s: %w", cfg.Name, err)
	}
	return &Source{cfg: cfg, client: c, ids: make(map[aggregator.Identifier]string)}, nil
}

func (s *Source) Name() string              { return s.cfg.Name }
func (s *Source) Sector() aggregator.Sector { return s.cfg.Sector }

// Fetch returns the patient's Appointments and Encounters in w.
func (s *Source) Fetch(ctx context.Context, p aggregator.PatientRef, w aggregator.Window) (aggregator.Batch, error) {
	pid, err := s.patientID(ctx, p.Identifier)
	if err != nil {
		return aggregator.Batch{}, err
	}
	var appts, encs *fhir.SearchResult
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		appts, err = s.client.Search(gctx, "Appointment", windowQuery(pid, w))
		return err
	})
	g.Go(func() (err error) {
		encs, err = s.client.Search(gctx, "Encounter", windowQuery(pid, w))
		return err
	})
	if err := g.Wait(); err != nil {
		return aggregator.Batch{}, s.wrap("search", err)
	}
	if appts.Truncated || encs.Truncated {
		// Showing part of a timeline as if it were whole would mislead.
		return aggregator.Batch{}, &aggregator.SourceError{Source: s.cfg.Name, Kind: aggregator.Invalid,
			Msg: "too many pages: the search was cut off at the page cap"}
	}

	var batch aggregator.Batch
	skip := func(typ string, i int, err error) {
		batch.Skipped++
		batch.Notes = append(batch.Notes, fmt.Sprintf("%s #%d skipped: %v", typ, i, err))
	}
	var apptList []*fhir.Appointment
	var encList []*fhir.Encounter
	refs := map[string]bool{}
	for i, raw := range appts.Resources {
		a, err := fhir.DecodeAppointment(raw)
		if err != nil {
			if isIncluded(raw, "Appointment") {
				continue
			}
			skip("Appointment", i, err)
			continue
		}
		apptList = append(apptList, a)
		for _, part := range a.Participant {
			if part.Actor != nil && part.Actor.Reference != nil {
				refs[*part.Actor.Reference] = true
			}
		}
	}
	for i, raw := range encs.Resources {
		e, err := fhir.DecodeEncounter(raw)
		if err != nil {
			if isIncluded(raw, "Encounter") {
				continue
			}
			skip("Encounter", i, err)
			continue
		}
		encList = append(encList, e)
		for _, l := range e.Location {
			if l.Location.Reference != nil {
				refs[*l.Location.Reference] = true
			}
		}
		for _, part := range e.Participant {
			if part.Individual != nil && part.Individual.Reference != nil {
				refs[*part.Individual.Reference] = true
			}
		}
		if e.ServiceProvider != nil && e.ServiceProvider.Reference != nil {
			refs[*e.ServiceProvider.Reference] = true
		}
	}
	s.resolveAll(ctx, refs)

	n := normaliser{src: s, loc: s.cfg.Location}
	for i, a := range apptList {
		e, err := n.appointment(a)
		if err != nil {
			skip("Appointment", i, err)
			continue
		}
		if !a.KnownStatus {
			batch.Notes = append(batch.Notes, fmt.Sprintf("Appointment #%d: unknown status %q", i, a.RawStatus))
		}
		batch.Entries = append(batch.Entries, e)
	}
	for i, enc := range encList {
		e, err := n.encounter(enc)
		if err != nil {
			skip("Encounter", i, err)
			continue
		}
		if !enc.KnownStatus {
			batch.Notes = append(batch.Notes, fmt.Sprintf("Encounter #%d: unknown status %q", i, enc.RawStatus))
		}
		batch.Entries = append(batch.Entries, e)
	}
	return batch, nil
}

// isIncluded reports whether a search result resource is of another type
// than searched for: an _include a server added, not a bad match.
func isIncluded(raw json.RawMessage, searched string) bool {
	t, err := fhir.ResourceType(raw)
	return err == nil && t != searched && partyTypes[t]
}

// windowQuery asks for the patient's resources that touch [w.From, w.To).
func windowQuery(patientID string, w aggregator.Window) url.Values {
	return url.Values{
		"patient": {"Patient/" + patientID},
		"date":    {"ge" + w.From.Format(time.RFC3339), "lt" + w.To.Format(time.RFC3339)},
	}
}

// patientID resolves the identifier to this server's Patient id once and
// remembers it: ids are stable, and the look-up would double every fetch.
func (s *Source) patientID(ctx context.Context, id aggregator.Identifier) (string, error) {
	s.mu.Lock()
	pid, ok := s.ids[id]
	s.mu.Unlock()
	if ok {
		return pid, nil
	}
	res, err := s.client.Search(ctx, "Patient", url.Values{"identifier": {id.String()}})
	if err != nil {
		return "", s.wrap("patient look-up", err)
	}
	var found []string
	for _, raw := range res.Resources {
		if t, _ := fhir.ResourceType(raw); t != "Patient" {
			continue
		}
		pat, err := fhir.DecodePatient(raw)
		if err != nil || pat.Id == nil {
			continue
		}
		if pat.Active != nil && !*pat.Active {
			continue
		}
		found = append(found, *pat.Id)
	}
	switch len(found) {
	case 0:
		return "", &aggregator.SourceError{Source: s.cfg.Name, Kind: aggregator.NotFound, Msg: "the patient is not known to this source"}
	case 1:
	default:
		// Two records for one person is for the source to fix; guessing could
		// show another person's appointments.
		return "", &aggregator.SourceError{Source: s.cfg.Name, Kind: aggregator.Invalid,
			Msg: fmt.Sprintf("%d patient records match the identifier", len(found))}
	}
	s.mu.Lock()
	if len(s.ids) >= 100_000 {
		s.ids = make(map[aggregator.Identifier]string) // bounded; refilled on demand
	}
	s.ids[id] = found[0]
	s.mu.Unlock()
	return found[0], nil
}

// wrap turns a client error into a SourceError with the right kind.
func (s *Source) wrap(op string, err error) error {
	kind := aggregator.Unavailable
	var fe *fhir.Error
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		kind = aggregator.Timeout
	case errors.As(err, &fe):
		switch {
		case fe.StatusCode == http.StatusUnauthorized || fe.StatusCode == http.StatusForbidden:
			kind = aggregator.Unauthorized
		case fe.StatusCode == http.StatusNotFound:
			kind = aggregator.NotFound
		case fe.StatusCode == http.StatusTooManyRequests || fe.StatusCode >= 500:
			kind = aggregator.Unavailable
		default:
			kind = aggregator.Invalid
		}
	case errors.Is(err, fhir.ErrInvalid), errors.Is(err, fhir.ErrTooLarge), errors.Is(err, fhir.ErrLoop):
		kind = aggregator.Invalid
	case errors.As(err, &ne) && ne.Timeout():
		kind = aggregator.Timeout
	}
	return &aggregator.SourceError{Source: s.cfg.Name, Kind: kind, Msg: op, Err: err}
}
