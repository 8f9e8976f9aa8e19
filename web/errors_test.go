package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/overblik/overblik/aggregator"
)

func ready(context.Context) error    { return nil }
func notReady(context.Context) error { return errors.New("cache not reachable") }

func TestClassify(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"echo 404", echo.ErrNotFound, http.StatusNotFound, "not_found"},
		{"echo 405", echo.ErrMethodNotAllowed, http.StatusMethodNotAllowed, "method_not_allowed"},
		{"wrapped echo error", fmt.Errorf("x: %w", echo.ErrStatusRequestEntityTooLarge), http.StatusRequestEntityTooLarge, "too_large"},
		{"max bytes", fmt.Errorf("read: %w", &http.MaxBytesError{Limit: 1}), http.StatusRequestEntityTooLarge, "too_large"},
		{"unknown patient", fmt.Errorf("h: %w", errUnknownPatient()), http.StatusNotFound, "not_found"},
		{"bad request", errBadRequest("error.bad_json", nil), http.StatusBadRequest, "bad_request"},
		{"deadline", fmt.Errorf("timeline: %w", context.DeadlineExceeded), http.StatusGatewayTimeout, "timeout"},
		{"canceled", fmt.Errorf("timeline: %w", context.Canceled), http.StatusServiceUnavailable, "unavailable"},
		{"source unavailable", &aggregator.SourceError{Kind: aggregator.Unavailable}, http.StatusServiceUnavailable, "unavailable"},
		{"source timeout", &aggregator.SourceError{Kind: aggregator.Timeout, Err: context.DeadlineExceeded}, http.StatusGatewayTimeout, "timeout"},
		{"source not found", fmt.Errorf("t: %w", &aggregator.SourceError{Kind: aggregator.NotFound}), http.StatusNotFound, "not_found"},
		{"source unauthorized", &aggregator.SourceError{Kind: aggregator.Unauthorized}, http.StatusBadGateway, "upstream"},
		{"source invalid", &aggregator.SourceError{Kind: aggregator.Invalid}, http.StatusBadGateway, "upstream"},
		{"anything else", errors.New("boom"), http.StatusInternalServerError, "internal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.err)
			if got.status != tt.status || got.code != tt.code {
				t.Errorf("classify = %d %s, want %d %s", got.status, got.code, tt.status, tt.code)
			}
		})
	}
}

func TestInternalErrorsDoNotLeak(t *testing.T) {
	const secret = "redis at 10.1.2.3 said NOPE"
	tests := []struct {
		name   string
		err    error
		status int
	}{
		{"internal", errors.New(secret), http.StatusInternalServerError},
		{"timeout", fmt.Errorf("%s: %w", secret, context.DeadlineExceeded), http.StatusGatewayTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t, Config{}, fakeTimelines{err: tt.err})
			api := env.do(t, http.MethodGet, "/api/v1/patients/"+testHandle+"/timeline", "")
			assertAPIError(t, api, tt.status, classify(tt.err).code)
			html := env.do(t, http.MethodGet, "/p/"+testHandle, "")
			if html.Code != tt.status {
				t.Errorf("html status = %d, want %d", html.Code, tt.status)
			}
			if !strings.Contains(html.Body.String(), "<h1>Noget gik galt</h1>") {
				t.Errorf("html error page lacks its heading")
			}
			for name, body := range map[string]string{"api": api.Body.String(), "html": html.Body.String()} {
				if strings.Contains(body, "NOPE") {
					t.Errorf("%s answer leaks the internal error: %s", name, body)
				}
			}
			// The operator still sees it, with the handle.
			if logs := env.logs.String(); !strings.Contains(logs, "NOPE") || !strings.Contains(logs, "handle="+testHandle) {
				t.Errorf("log lacks the error or handle: %s", logs)
			}
		})
	}
}

func TestPanicBecomes500(t *testing.T) {
	env := newTestEnv(t, Config{}, panickingTimelines{})
	rec := env.do(t, http.MethodGet, "/api/v1/patients/"+testHandle+"/timeline", "")
	assertAPIError(t, rec, http.StatusInternalServerError, "internal")
}

type panickingTimelines struct{ fakeTimelines }

func (panickingTimelines) Timeline(context.Context, aggregator.PatientRef) (*aggregator.Timeline, error) {
	panic("bug")
}

func TestMethodNotAllowedIsJSONUnderAPI(t *testing.T) {
	env := newTestEnv(t, Config{}, nil)
	assertAPIError(t, env.do(t, http.MethodDelete, "/api/v1/patients/lookup", ""), http.StatusMethodNotAllowed, "method_not_allowed")
}
