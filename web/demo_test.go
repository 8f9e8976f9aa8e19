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

// changeLog is a DemoChanges that records what it was asked.
type changeLog struct {
	mu   sync.Mutex
	done []string
}

func (c *changeLog) Patient() string { return "Birthe" }

func (c *changeLog) Change(_ context.Context, source string, kind DemoChangeKind) error {
	switch {
	case source != "gp" && source != "hosp":
		return ErrUnknownSource
	case source == "hosp" && kind == DemoCancel:
		return ErrNothingToChange
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done = append(c.done, source+" "+string(kind))
	return nil
}

func TestDemoChangeSwitches(t *testing.T) {
	log := &changeLog{}
	env := newTestEnv(t, Config{Demo: []DemoPatient{{Handle: testHandle, Name: "Demo"}}}, nil,
		func(d *Deps) { d.Outages, d.Changes = &switchboard{down: map[string]bool{}}, log })
	home := env.do(t, http.MethodGet, "/", "").Body.String()
	for _, w := range []string{`id="changes"`, "aftalerne for Birthe", `action="/demo/change"`, `name="source" value="gp"`,
		`name="kind" value="move"`, `name="kind" value="cancel"`, `name="kind" value="add"`, `aria-describedby="change-gp"`} {
		if !strings.Contains(home, w) {
			t.Errorf("front page lacks %q", w)
		}
	}
	rec := env.do(t, http.MethodPost, "/demo/change", "source=gp&kind=move", "Content-Type: application/x-www-form-urlencoded")
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/#changes" {
		t.Errorf("form: %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	if rec := env.do(t, http.MethodPost, "/api/v1/demo/change", `{"source": "hosp", "kind": "add"}`, "Content-Type: application/json"); rec.Code != http.StatusNoContent {
		t.Errorf("api: %d %s", rec.Code, rec.Body)
	}
	if got := strings.Join(log.done, ", "); got != "gp move, hosp add" {
		t.Errorf("changes made: %s", got)
	}
	assertAPIError(t, env.do(t, http.MethodPost, "/api/v1/demo/change", `{"source": "nosuch", "kind": "add"}`), http.StatusNotFound, "not_found")
	assertAPIError(t, env.do(t, http.MethodPost, "/api/v1/demo/change", `{"source": "gp", "kind": "delete"}`), http.StatusBadRequest, "bad_request")
	assertAPIError(t, env.do(t, http.MethodPost, "/api/v1/demo/change", `{"source": "hosp", "kind": "cancel"}`), http.StatusConflict, "conflict")

	plain := newTestEnv(t, Config{}, nil)
	if rec := plain.do(t, http.MethodPost, "/api/v1/demo/change", `{"source": "gp", "kind": "add"}`); rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("change route outside demo: %d", rec.Code)
	}
}
