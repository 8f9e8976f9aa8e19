package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/overblik/overblik/aggregator"
)

// requestError is an error a handler chose to show: its status, a stable code
// for API clients and the catalog key of a message that is safe to display.
// The cause is logged, never shown.
type requestError struct {
	status int
	code   string
	msg    string // catalog key
	err    error
}

func (e *requestError) Error() string {
	if e.err == nil {
		return e.code
	}
	return e.code + ": " + e.err.Error()
}

func (e *requestError) Unwrap() error { return e.err }

func errUnknownPatient() error {
	return &requestError{status: http.StatusNotFound, code: "not_found", msg: "error.unknown_patient"}
}

func errNotFound(cause error) error {
	return &requestError{status: http.StatusNotFound, code: "not_found", msg: "error.not_found", err: cause}
}

func errBadRequest(msg string, cause error) error {
	return &requestError{status: http.StatusBadRequest, code: "bad_request", msg: msg, err: cause}
}

// problem is what a client is told about an error.
type problem struct {
	status int
	code   string
	msg    string // catalog key
}

// classify maps any error to what the client sees. Only web maps error kinds
// to HTTP status.
func classify(err error) problem {
	var re *requestError
	if errors.As(err, &re) {
		return problem{re.status, re.code, re.msg}
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return problemForStatus(he.Code)
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return problemForStatus(http.StatusRequestEntityTooLarge)
	}
	var se *aggregator.SourceError
	if errors.As(err, &se) {
		switch se.Kind {
		case aggregator.NotFound:
			return problem{http.StatusNotFound, "not_found", "error.unknown_patient"}
		case aggregator.Timeout:
			return problemForStatus(http.StatusGatewayTimeout)
		case aggregator.Unavailable:
			return problemForStatus(http.StatusServiceUnavailable)
		default: // Unauthorized, Invalid: our upstream misbehaved, not the client
			return problemForStatus(http.StatusBadGateway)
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return problemForStatus(http.StatusGatewayTimeout)
	case errors.Is(err, context.Canceled):
		// The client has most likely gone; the answer is for the log.
		return problemForStatus(http.StatusServiceUnavailable)
	}
	return problemForStatus(http.StatusInternalServerError)
}

func problemForStatus(status int) problem {
	switch status {
	case http.StatusBadRequest:
		return problem{status, "bad_request", "error.bad_request"}
	case http.StatusNotFound:
		return problem{status, "not_found", "error.not_found"}
	case http.StatusMethodNotAllowed:
		return problem{status, "method_not_allowed", "error.method"}
	case http.StatusRequestEntityTooLarge:
		return problem{status, "too_large", "error.too_large"}
	case http.StatusBadGateway:
		return problem{status, "upstream", "error.upstream"}
	case http.StatusServiceUnavailable:
		return problem{status, "unavailable", "error.unavailable"}
	case http.StatusGatewayTimeout:
		return problem{status, "timeout", "error.timeout"}
	}
	if status >= 400 && status < 500 {
		return problem{status, "bad_request", "error.bad_request"}
	}
	return problem{http.StatusInternalServerError, "internal", "error.internal"}
}

// apiErrorJSON is the one error shape of the API.
type apiErrorJSON struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// handleError is Echo's HTTPErrorHandler: JSON under /api/, a friendly page
// elsewhere. It logs the route pattern and the opaque handle, never the URL
// or body, which could hold an identifier.
func (s *Server) handleError(err error, c echo.Context) {
	p := classify(err)
	level := slog.LevelDebug
	if p.status >= 500 && !errors.Is(err, context.Canceled) {
		level = slog.LevelError
	}
	s.log.Log(c.Request().Context(), level, "request failed",
		"status", p.status, "code", p.code, "method", c.Request().Method,
		"route", c.Path(), "handle", c.Param("handle"), "err", err)

	if c.Response().Committed {
		return
	}
	if c.Request().Method == http.MethodHead {
		if werr := c.NoContent(p.status); werr != nil {
			s.log.Debug("write error response", "err", werr)
		}
		return
	}
	tr := s.translatorFor(c)
	var werr error
	if path := c.Request().URL.Path; strings.HasPrefix(path, "/api/") {
		werr = s.writeJSON(c, p.status, apiErrorJSON{Error: apiErrorBody{Code: p.code, Message: tr.T(p.msg)}})
	} else if strings.HasPrefix(path, "/fhir/") {
		werr = writeOutcome(c, p.status, tr.T(p.msg))
	} else if werr = s.renderError(c, tr, p); werr != nil && !c.Response().Committed {
		s.log.Error("render error page", "err", werr)
		werr = writeBytes(c, p.status, echo.MIMETextPlainCharsetUTF8, []byte(tr.T(p.msg)+"\n"))
	}
	if werr != nil {
		s.log.Debug("write error response", "err", werr)
	}
}

type errorPage struct {
	page
	Heading string
	Message string
}

func (s *Server) renderError(c echo.Context, tr *translator, p problem) error {
	heading := tr.T("error.heading")
	if p.status == http.StatusNotFound {
		heading = tr.T("error.heading_not_found")
	}
	data := errorPage{
		page:    s.newPage(c, tr, tr.T("error.title")),
		Heading: heading,
		Message: tr.T(p.msg),
	}
	if err := s.render(c, p.status, tr.lang, "error", data); err != nil {
		return fmt.Errorf("render error page: %w", err)
	}
	return nil
}

// writeOutcome answers a FHIR client (a source posting messages) as FHIR
// servers do: an OperationOutcome, whose issue code says what kind of
// failure it is, with the message for a person in diagnostics.
func writeOutcome(c echo.Context, status int, msg string) error {
	code := "exception"
	switch {
	case status == http.StatusUnauthorized:
		code = "login"
	case status == http.StatusForbidden:
		code = "forbidden"
	case status == http.StatusNotFound:
		code = "not-found"
	case status == http.StatusRequestEntityTooLarge:
		code = "too-long"
	case status == http.StatusTooManyRequests:
		code = "throttled"
	case status < 500:
		code = "invalid"
	}
	type issue struct {
		Severity    string `json:"severity"`
		Code        string `json:"code"`
		Diagnostics string `json:"diagnostics,omitempty"`
	}
	b, err := json.Marshal(struct {
		ResourceType string  `json:"resourceType"`
		Issue        []issue `json:"issue"`
	}{"OperationOutcome", []issue{{Severity: "error", Code: code, Diagnostics: msg}}})
	if err != nil {
		return err
	}
	return writeBytes(c, status, "application/fhir+json; charset=utf-8", b)
}
