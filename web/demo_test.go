package web

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// switchboard is an Outages the test can read back.
type switchboard struct {
	mu   sync.Mutex
	down map[string]bool
}

func (s *switchboard) Sources() []SimulatedSource {
	s.mu.Lock()
	defer s.mu.Unlock()
	return []SimulatedSource{{Name: "gp", Display: "Lægehuset", Down: s.down["gp"]}, {Name: "hosp", Display: "Hospitalet", Down: s.down["hosp"]}}
}

func (s *switchboard) SetDown(_ context.Context, name string, down bool) error {
	if name != "gp" && name != "hosp" {
		return ErrUnknownSource
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down[name] = down
	return nil
}

func TestDemoOutageSwitches(t *testing.T) {
	sw := &switchboard{down: map[string]bool{}}
	env := newTestEnv(t, Config{Demo: []DemoPatient{{Handle: testHandle, Name: "Demo"}}}, nil, func(d *Deps) { d.Outages = sw })

	home := env.do(t, http.MethodGet, "/", "")
	if !strings.Contains(home.Body.String(), `action="/demo/sources/gp"`) || !strings.Contains(home.Body.String(), "Tag ned") {
		t.Fatalf("front page has no outage switch:\n%s", home.Body)
	}

	rec := env.do(t, http.MethodPost, "/demo/sources/gp", "down=1", "Content-Type: application/x-www-form-urlencoded")
	if rec.Code != http.StatusSeeOther || !sw.down["gp"] {
		t.Fatalf("form: status %d, gp down = %v", rec.Code, sw.down["gp"])
	}
	home = env.do(t, http.MethodGet, "/", "")
	if !strings.Contains(home.Body.String(), "Start igen") {
		t.Error("front page does not offer to bring the source back")
	}

	rec = env.do(t, http.MethodPost, "/api/v1/demo/sources/gp", `{"down": false}`, "Content-Type: application/json")
	var got []struct {
		Name string `json:"name"`
		Down bool   `json:"down"`
	}
	decodeJSON(t, rec, &got)
	if rec.Code != http.StatusOK || sw.down["gp"] || len(got) != 2 || got[0].Down {
		t.Errorf("api: status %d, gp down %v, body %s", rec.Code, sw.down["gp"], rec.Body)
	}
	assertAPIError(t, env.do(t, http.MethodPost, "/api/v1/demo/sources/nosuch", `{"down": true}`), http.StatusNotFound, "not_found")
	assertAPIError(t, env.do(t, http.MethodPost, "/api/v1/demo/sources/gp", `{}`), http.StatusBadRequest, "bad_request")
}

func TestNoOutageRoutesOutsideDemo(t *testing.T) {
	env := newTestEnv(t, Config{}, nil)
	if rec := env.do(t, http.MethodPost, "/api/v1/demo/sources/gp", `{"down": true}`); rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("outage route outside demo: %d, want 404/405", rec.Code)
	}
	if strings.Contains(env.do(t, http.MethodGet, "/", "").Body.String(), "/demo/sources/") {
		t.Error("front page offers outage switches outside demo mode")
	}
}
