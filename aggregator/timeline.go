package aggregator

import (
	"time"
)

// Timeline is the merged view of one patient across all sources.
type Timeline struct {
	Patient     string // the opaque handle; the identifier is never stored here
	GeneratedAt time.Time
	// Version counts the patient's builds: each stored build is one more
	// than the one before it, in the whole cluster (builds run under the
	// lease). Changes carry the version that brought them.
	Version   int64
	Window    Window
	Entries   []Entry        // sorted by start, then ID
	Sources   []SourceStatus // in configuration order
	Conflicts []Conflict     // coordination conflicts among Entries, see ConflictRules.Find
}

// Stale reports whether any source could not be read at the last refresh.
func (t *Timeline) Stale() bool {
	for _, s := range t.Sources {
		if !s.OK {
			return true
		}
	}
	return false
}

// Unknown reports whether no source knows the patient: every one answered
// that it has nobody with the identifier. Such a patient is not kept for
// background refresh, and a look-up can say so instead of showing nothing.
func (t *Timeline) Unknown() bool {
	if len(t.Sources) == 0 {
		return false
	}
	for _, s := range t.Sources {
		if s.OK || s.ErrorKind != NotFound {
			return false
		}
	}
	return true
}

// SourceStatus is how one source fared at the last refresh.
type SourceStatus struct {
	Name        string
	Display     string
	Phone       string // whom to call about its appointments, when configured (Registration.Phone)
	Sector      Sector
	OK          bool
	Error       string    // for a support person; empty when OK
	ErrorKind   ErrorKind // empty when OK
	LastSuccess time.Time // zero if the source never answered for this patient
	Entries     int       // entries this source contributes (stale ones included)
	Skipped     int       // resources skipped as unusable at the last success
	Warnings    int       // resources used but only partly understood at the last success
	Duration    time.Duration
	// FeedMark is the count of change-feed marks (Claim.Marks) the last
	// read of this source covered; 0 without a change feed.
	FeedMark int64
	// Digest names the source's last good read (Reading.Digest, for this
	// build of overblik and this source's place in it); empty when it was
	// not good or the source cannot tell. A refresh whose every source
	// reads the same keeps the entries as they are (see Service.build).
	Digest string
}
