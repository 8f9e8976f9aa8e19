package aggregator

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Source is one system that holds appointments: a FHIR server, an iCalendar
// feed, anything. The aggregator is its only consumer, so it is defined here.
type Source interface {
	Name() string   // unique, from configuration
	Sector() Sector // hospital | municipality | gp | other
	// Fetch returns the patient's entries in the window. It must honour ctx,
	// may be called concurrently, and returns a *SourceError on failure. Bad
	// single resources are skipped and counted in Batch.Skipped, not fatal.
	Fetch(ctx context.Context, p PatientRef, w Window) (Batch, error)
}

// Reader is a Source that reads and normalises in two steps, so that a
// refresh that reads what the last one read keeps the entries it has:
// most refreshes find nothing changed, and normalising is most of the CPU
// a refresh costs. The aggregator reads through it when a Source has it.
type Reader interface {
	Read(ctx context.Context, p PatientRef, w Window) (Reading, error)
}

// Reading is what a Reader read for one patient, not yet normalised.
type Reading struct {
	// Digest names what was read by its content: two readings with the
	// same digest normalise to the same Batch. Empty when the source
	// cannot tell; such a reading is always normalised.
	Digest string
	// PatientName is Batch.PatientName, known before normalising.
	PatientName string
	// Normalise turns the reading into the Batch Fetch would have
	// returned; called at most once, within ctx. last are the entries of
	// the previous timeline when the source's read for it was good and in
	// the same window (every source's, merged, as the timeline holds them;
	// nil otherwise): a source may keep one of its own whose Provenance
	// says it came from one resource read the same again
	// (Provenance.Digest) instead of normalising that resource anew.
	Normalise func(ctx context.Context, last []Entry) (Batch, error)
}

// Batch is what one Fetch delivers.
type Batch struct {
	Entries  []Entry
	Skipped  int      // resources that could not be used
	Notes    []string // why they were skipped, free of personal data
	Warnings int      // resources used but only partly understood (e.g. a status code from a newer FHIR version); explained in Notes
	// PatientName is the person's name as the source has it, when it says:
	// what a clinician's page shows to tell whom they are calling about.
	// Personal data: never logged, never kept in a timeline (Options.Named
	// hears of it).
	PatientName string
	// Unsettled: some of it rests on a passing failure (a referenced
	// Location that did not answer, so only its display is shown), which
	// the next read may not have. Its Reading's digest is not kept.
	Unsettled bool
}

// MaxNotes bounds Batch.Notes: a source that sends thousands of bad
// resources needs a few examples, not thousands of lines in a log.
const MaxNotes = 20

// Note records why a resource was skipped or only partly understood,
// keeping MaxNotes of them and saying once that more were left out.
func (b *Batch) Note(note string) {
	switch {
	case len(b.Notes) < MaxNotes:
		b.Notes = append(b.Notes, note)
	case len(b.Notes) == MaxNotes:
		b.Notes = append(b.Notes, "further notes left out")
	}
}

// ErrorKind is the small set of ways a source can fail.
type ErrorKind string

const (
	Unavailable  ErrorKind = "unavailable"  // network error, 5xx, refused
	Unauthorized ErrorKind = "unauthorized" // 401/403
	NotFound     ErrorKind = "not-found"    // 404, or the patient is not known there
	Invalid      ErrorKind = "invalid"      // the answer could not be understood
	Timeout      ErrorKind = "timeout"      // the per-source deadline passed
)

// SourceError is the one error type a Source returns.
type SourceError struct {
	Source string
	Kind   ErrorKind
	Msg    string // for a support person; never personal data
	Err    error
	// RetryAfter, when positive, is how soon asking again can help: the
	// rest of a circuit breaker's cool-down, or a server's Retry-After.
	// Retries of a failed source wait for it (retry.go).
	RetryAfter time.Duration
}

func (e *SourceError) Error() string {
	s := fmt.Sprintf("source %s: %s", e.Source, e.Kind)
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *SourceError) Unwrap() error { return e.Err }

// KindOf returns the kind of a source error, Unavailable for any other error.
func KindOf(err error) ErrorKind {
	var se *SourceError
	if errors.As(err, &se) {
		return se.Kind
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Timeout
	}
	return Unavailable
}

// Check is one line of a source's self-check (`overblik check`): whether it
// answers, speaks the expected version, accepts our credentials and
// supports the searches we need. Detail says why, for an operator.
type Check struct {
	Name   string
	OK     bool
	Detail string
}
