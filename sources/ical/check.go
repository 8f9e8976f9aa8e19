package ical

import (
	"context"
	"errors"

	"github.com/overblik/overblik/aggregator"
)

// probeIdentifier matches nobody: a CPR number cannot be all zeros.
const probeIdentifier = "0000000000"

// Check asks the feed for a patient nobody is, for `overblik check`: a
// server that answers with a calendar or says it does not know the patient
// is reachable and accepts us; one that refuses us or fails is reported.
func (s *Source) Check(ctx context.Context, _ string) []aggregator.Check {
	body, err := s.get(ctx, s.feedURL(probeIdentifier), probeIdentifier)
	var se *aggregator.SourceError
	switch {
	case err == nil:
		if _, perr := parse(body); perr != nil {
			return []aggregator.Check{{Name: "feed", Detail: "answered, but not with an iCalendar feed"}}
		}
		return []aggregator.Check{{Name: "feed", OK: true, Detail: "an iCalendar feed was answered"}}
	case errors.As(err, &se) && se.Kind == aggregator.NotFound:
		return []aggregator.Check{{Name: "feed", OK: true, Detail: "reachable; it does not know the probe patient, as it should not"}}
	case errors.As(err, &se) && se.Kind == aggregator.Unauthorized:
		return []aggregator.Check{{Name: "authentication", Detail: se.Msg}}
	}
	return []aggregator.Check{{Name: "feed", Detail: err.Error()}}
}
