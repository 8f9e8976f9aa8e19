// Package medcom takes MedCom HospitalNotification messages (the Danish
// national FHIR message a hospital sends a municipality when a citizen is
// admitted, goes on leave, comes back, is discharged or dies) and serves
// the stays they tell as a timeline source.
//
// A hospital posts each message to POST /fhir/$process-message (web mounts
// Receiver there for an authenticated sender). The message is checked as
// the IG 3.0 describes it, kept durably in the Store (SQLite or
// PostgreSQL, idempotent on its MessageHeader id) and answered with a
// MedCom Acknowledgement message; then the patient's timeline is rebuilt.
// Source reads the stays back through the aggregator's Source contract, so
// the aggregator never knows whether a source was polled or pushed.
package medcom

import (
	"context"
	"errors"

	"github.com/overblik/overblik/aggregator"
)

// Source is the notifications one sender posted, as a timeline source: each
// stay an admission with its period, each leave of absence an on-leave
// entry inside it. Safe for concurrent use.
type Source struct {
	name  string
	store *Store
}

// NewSource returns the source called name (the configured source, which is
// also who may post its messages) reading from store. A source without a
// store, as `overblik check` builds it, fails every Fetch.
func NewSource(name string, store *Store) (*Source, error) {
	if name == "" {
		return nil, errors.New("medcom: name is required")
	}
	return &Source{name: name, store: store}, nil
}

// Name implements aggregator.Source.
func (s *Source) Name() string { return s.name }

// Sector implements aggregator.Source: hospitals send HospitalNotifications.
func (s *Source) Sector() aggregator.Sector { return aggregator.SectorHospital }

// Fetch implements aggregator.Source: the stays the store holds for the
// patient's handle that touch the window.
func (s *Source) Fetch(ctx context.Context, p aggregator.PatientRef, w aggregator.Window) (aggregator.Batch, error) {
	if s.store == nil {
		return aggregator.Batch{}, &aggregator.SourceError{Source: s.name, Kind: aggregator.Unavailable, Msg: "no message store"}
	}
	ns, err := s.store.Notifications(ctx, s.name, p.Handle)
	if err != nil {
		kind := aggregator.Unavailable
		if ctx.Err() != nil {
			kind = aggregator.Timeout
		}
		return aggregator.Batch{}, &aggregator.SourceError{Source: s.name, Kind: kind, Msg: "reading the message store", Err: err}
	}
	var b aggregator.Batch
	for _, st := range stays(ns) {
		for _, e := range st.entries(s.name) {
			if e.Start.Before(w.To) && (e.End.IsZero() || e.End.After(w.From)) {
				b.Entries = append(b.Entries, e)
			}
		}
	}
	return b, nil
}

// Check is what `overblik check` and the admin page show: nothing is asked
// of a hospital that sends to us, but the store must answer.
func (s *Source) Check(ctx context.Context, _ string) []aggregator.Check {
	const name = "message store"
	if s.store == nil {
		return []aggregator.Check{{Name: name, OK: true, Detail: "messages are posted to POST /fhir/$process-message; nothing to ask"}}
	}
	if err := s.store.Ping(ctx); err != nil {
		return []aggregator.Check{{Name: name, Detail: err.Error()}}
	}
	return []aggregator.Check{{Name: name, OK: true, Detail: "answers"}}
}
