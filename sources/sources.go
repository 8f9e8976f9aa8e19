// Package sources is what every connector, one per folder below it, is
// opened with besides its own section of the configuration. A connector's
// folder holds its Config (the source's own keys, tagged yaml, with
// DefaultConfig and Check), Open(Config, Settings) and its conformance
// test; cmd/overblik lists it in its table of kinds.
package sources

import (
	"log/slog"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// Settings are the keys every source has, and the process's own, as the
// wiring hands them to a connector's Open.
type Settings struct {
	Name     string            // `name`: unique; part of every entry id
	Sector   aggregator.Sector // `sector`
	Generic  bool              // `detail: generic`: keep only time, place and a generic title
	MaxBytes int64             // `max_bytes`: the most one fetch may read; 0: the connector's default
	// Location is `timezone`: date-only and floating times are read in it.
	Location *time.Location
	// IdentifierSystem is `patient_identifier_system`: what a bare
	// identifier means.
	IdentifierSystem string
	Logger           *slog.Logger     // with the source's name; never nil
	Now              func() time.Time // nil: the real clock
}
