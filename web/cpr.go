package web

import (
	"errors"
	"net/http"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/internal/cpr"
)

// CPR numbers as people type them, and as pages show them: the rules are
// package cpr's.

// SystemCPR is the identifier system of the Danish CPR number.
const SystemCPR = "urn:oid:1.2.208.176.1.2"

// cprMsg is the catalog key of a cpr.Parse error.
func cprMsg(err error) string {
	if errors.Is(err, cpr.ErrDate) {
		return "error.cpr_date"
	}
	return "error.cpr_format"
}

// checkIdentifier refuses an identifier that cannot be a person's: for the
// CPR system, one cpr.Parse refuses. Other systems (eCPR, ...) have rules
// of their own, left to the sources.
func (s *Server) checkIdentifier(id aggregator.Identifier) error {
	if id.System != SystemCPR {
		return nil
	}
	if _, err := cpr.Parse(id.Value); err != nil {
		return &requestError{status: http.StatusBadRequest, code: "bad_identifier", msg: cprMsg(err), err: err}
	}
	return nil
}
