package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
	"github.com/overblik/overblik/view"
)

// recordingReceiver answers every message with 200 and remembers who sent it.
type recordingReceiver struct {
	mu      sync.Mutex
	senders []string
}

func (r *recordingReceiver) ServeMessage(w http.ResponseWriter, _ *http.Request, sender string) {
	r.mu.Lock()
	r.senders = append(r.senders, sender)
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (r *recordingReceiver) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.senders
	r.senders = nil
	return s
}

// inboundServer is a secured server with a message receiver, whose test
// users include a source's API key and a person who holds the source role.
func inboundServer(t *testing.T) (*Server, *recordingReceiver, string) {
	t.Helper()
	st := backends["sqlite"](t)
	t.Cleanup(func() { st.Close() })
	pats, err := aggregator.NewPatients([]byte("0123456789abcdef0123456789abcdef"), memcache.NewDirectory())
	if err != nil {
		t.Fatal(err)
	}
	p, err := pats.Register(context.Background(), aggregator.Identifier{System: testSystem, Value: cprA})
	if err != nil {
		t.Fatal(err)
	}
	source := access.Principal{Subject: "apikey:herlev", Roles: []access.Role{access.RoleSource}, Name: "herlev"}
	ids := map[string]Identity{
		"source-key":    {Principal: source},
		"clinician-key": {Principal: access.Principal{Subject: "apikey:journal", Roles: []access.Role{access.RoleClinician}}},
		// auth's identity of a client certificate mapped to the source.
		"source-cert":   {Principal: access.Principal{Subject: "cert:herlev", Roles: []access.Role{access.RoleSource}, Name: "herlev"}},
		"person-source": {Principal: access.Principal{Subject: "sub-x", Roles: []access.Role{access.RoleSource}, Handle: p.Handle}, Session: true, CSRF: testCSRF},
	}
	rec := &recordingReceiver{}
	svc := access.NewService(st, access.Options{})
	s := New(Config{Location: cph(t), DefaultIdentifierSystem: testSystem,
		Demo: []DemoPatient{{Handle: p.Handle, Name: "Demo"}}, RateLimits: RateLimits{Login: 1000, Lookup: 1000}},
		Deps{Views: view.New(fakeTimelines{tl: testTimeline(t)}, pats, view.Options{Access: svc}), Patients: pats,
			Auth: headerAuth{ids: ids}, Access: svc, Messages: rec, Outages: fakeOutages{}})
	return s, rec, p.Handle
}

type fakeOutages struct{}

func (fakeOutages) Sources() []SimulatedSource                  { return nil }
func (fakeOutages) SetDown(context.Context, string, bool) error { return nil }

func TestProcessMessageNeedsASource(t *testing.T) {
	s, rec, _ := inboundServer(t)
	tests := []struct {
		user   string
		status int
		sender []string
	}{
		{"", http.StatusUnauthorized, nil},
		{"bad", http.StatusUnauthorized, nil},
		{"source-key", http.StatusOK, []string{"herlev"}},
		{"source-cert", http.StatusOK, []string{"herlev"}},
		{"clinician-key", http.StatusUnauthorized, nil},
		{"person-source", http.StatusUnauthorized, nil}, // a login is not a system
	}
	for _, tc := range tests {
		t.Run("user "+tc.user, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/fhir/$process-message", strings.NewReader(`{}`))
			req.Header.Set("Content-Type", "application/fhir+json")
			if tc.user != "" {
				req.Header.Set("X-Test-User", tc.user)
			}
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, req)
			if w.Code != tc.status {
				t.Errorf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.status == http.StatusUnauthorized {
				// A FHIR client is answered in FHIR: an OperationOutcome it
				// can read, not an HTML page.
				var oo struct {
					ResourceType string
					Issue        []struct{ Severity, Code, Diagnostics string }
				}
				if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
					t.Errorf("Content-Type %q, want application/fhir+json", ct)
				}
				if err := json.Unmarshal(w.Body.Bytes(), &oo); err != nil || oo.ResourceType != "OperationOutcome" ||
					len(oo.Issue) != 1 || oo.Issue[0].Code != "login" || oo.Issue[0].Severity != "error" || oo.Issue[0].Diagnostics == "" {
					t.Errorf("401 body %s (%v), want an OperationOutcome with one error issue of code login", w.Body, err)
				}
			}
			if got := rec.take(); strings.Join(got, ",") != strings.Join(tc.sender, ",") {
				t.Errorf("receiver got senders %v, want %v", got, tc.sender)
			}
		})
	}
}

// TestSourceKeyOpensNothingElse tries every route the server has with a
// source's key: apart from posting messages, it gets what a stranger gets
// at most, and never patient data.
func TestSourceKeyOpensNothingElse(t *testing.T) {
	s, _, handle := inboundServer(t)
	open := map[string]bool{"GET /": true, "GET /static/:name": true, "GET /healthz": true, "GET /readyz": true,
		"POST /fhir/$process-message": true, "GET /accessibility": true, "GET /privacy": true, "GET /was": true}
	n := 0
	for _, r := range s.e.Routes() {
		if open[r.Method+" "+r.Path] || r.Method == echoRouteNotFound {
			continue
		}
		n++
		path := strings.NewReplacer(":handle", handle, ":name", "hospital", ":id", "x", "*", "x").Replace(r.Path)
		req := httptest.NewRequest(r.Method, path, strings.NewReader(`{"identifier":"`+cprA+`","reason":"x"}`))
		req.Header.Set("X-Test-User", "source-key")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(ReasonHeader, "x")
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, req)
		if w.Code != http.StatusNotFound {
			t.Errorf("%s %s with a source's key: %d, want 404: %.200s", r.Method, path, w.Code, w.Body)
		}
	}
	if n < 10 {
		t.Fatalf("only %d routes tried", n)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("X-Test-User", "source-key")
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, req)
	if body, _ := io.ReadAll(w.Body); w.Code != http.StatusOK || strings.Contains(string(body), handle) {
		t.Errorf("front page for a source: %d, links a patient: %v", w.Code, strings.Contains(string(body), handle))
	}
}

// echoRouteNotFound is the method Echo lists its own not-found routes under.
const echoRouteNotFound = "echo_route_not_found"
