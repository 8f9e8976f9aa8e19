package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
)

// Outages lets the demo take its simulated sources down and bring them back,
// so a newcomer can see what a patient sees when a system fails. Only the
// demo provides one.
type Outages interface {
	Sources() []SimulatedSource
	// SetDown switches a source; ErrUnknownSource when there is none by name.
	SetDown(ctx context.Context, name string, down bool) error
}

// SimulatedSource is a demo source and whether it is down.
type SimulatedSource struct {
	Name, Display string
	Down          bool
}

// ErrUnknownSource is returned by Outages.SetDown for a name it does not know.
var ErrUnknownSource = errors.New("unknown source")

type outageJSON struct {
	Name    string `json:"name"`
	Display string `json:"display"`
	Down    bool   `json:"down"`
}

// demoOutageForm switches a source from the front page and goes back there.
func (s *Server) demoOutageForm(c echo.Context) error {
	if err := c.Request().ParseForm(); err != nil {
		return errBadRequest("error.bad_request", fmt.Errorf("parse outage form: %w", err))
	}
	if err := s.setDown(c, c.Param("name"), c.Request().PostForm.Get("down") == "1"); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/#outages")
}

// apiDemoOutage is POST /api/v1/demo/sources/{name} with {"down": bool}.
func (s *Server) apiDemoOutage(c echo.Context) error {
	var req struct {
		Down *bool `json:"down"`
	}
	if err := readJSON(c, &req); err != nil {
		return err
	}
	if req.Down == nil {
		return errBadRequest("error.bad_request", errors.New("outage: down is required"))
	}
	if err := s.setDown(c, c.Param("name"), *req.Down); err != nil {
		return err
	}
	var out []outageJSON
	for _, src := range s.deps.Outages.Sources() {
		out = append(out, outageJSON{Name: src.Name, Display: src.Display, Down: src.Down})
	}
	return s.writeJSON(c, http.StatusOK, out)
}

func (s *Server) setDown(c echo.Context, name string, down bool) error {
	err := s.deps.Outages.SetDown(c.Request().Context(), name, down)
	if errors.Is(err, ErrUnknownSource) {
		return errNotFound(err)
	}
	if err != nil {
		return fmt.Errorf("switch demo source: %w", err)
	}
	s.log.Info("demo source switched", "source", name, "down", down)
	return nil
}

// DemoChanges lets the demo move, cancel and add an appointment at a
// simulated source, so a newcomer sees what a change looks like ("Ny",
// "Flyttet fra ...", "Aflyst siden sidst") on the next load. Only the demo
// provides one.
type DemoChanges interface {
	// Patient names whose appointments the switches change.
	Patient() string
	// Change makes one change of kind at the source and refreshes the
	// patient; ErrUnknownSource for a source it does not know,
	// ErrNothingToChange when there is no upcoming appointment to move or
	// cancel.
	Change(ctx context.Context, source string, kind DemoChangeKind) error
}

// DemoChangeKind is what a demo change does.
type DemoChangeKind string

const (
	DemoMove   DemoChangeKind = "move"
	DemoCancel DemoChangeKind = "cancel"
	DemoAdd    DemoChangeKind = "add"
)

// ErrNothingToChange is a move or cancel with no appointment left to change.
var ErrNothingToChange = errors.New("no upcoming appointment to change")

func parseChangeKind(s string) (DemoChangeKind, bool) {
	switch k := DemoChangeKind(s); k {
	case DemoMove, DemoCancel, DemoAdd:
		return k, true
	}
	return "", false
}

// demoChangeForm makes a change from the front page and goes back there.
func (s *Server) demoChangeForm(c echo.Context) error {
	if err := c.Request().ParseForm(); err != nil {
		return errBadRequest("error.bad_request", fmt.Errorf("parse change form: %w", err))
	}
	f := c.Request().PostForm
	if err := s.demoChange(c, f.Get("source"), f.Get("kind")); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/#changes")
}

// apiDemoChange is POST /api/v1/demo/change with {"source": NAME, "kind":
// "move"|"cancel"|"add"}; it answers 204 once the patient is refreshed.
func (s *Server) apiDemoChange(c echo.Context) error {
	var req struct {
		Source string `json:"source"`
		Kind   string `json:"kind"`
	}
	if err := readJSON(c, &req); err != nil {
		return err
	}
	if err := s.demoChange(c, req.Source, req.Kind); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) demoChange(c echo.Context, source, kind string) error {
	k, ok := parseChangeKind(kind)
	if !ok {
		return errBadRequest("error.bad_request", fmt.Errorf("demo change: kind %q", kind))
	}
	err := s.deps.Changes.Change(c.Request().Context(), source, k)
	switch {
	case errors.Is(err, ErrUnknownSource):
		return errNotFound(err)
	case errors.Is(err, ErrNothingToChange):
		return &requestError{status: http.StatusConflict, code: "conflict", msg: "demo.nothing_to_change", err: err}
	case err != nil:
		return fmt.Errorf("demo change: %w", err)
	}
	s.log.Info("demo change", "source", source, "kind", k)
	return nil
}

// demoChangesView is the front page's change switches, one row per source.
type demoChangesView struct {
	Intro   string
	Sources []SimulatedSource
}

func (s *Server) demoChangesView(tr *translator) *demoChangesView {
	if s.deps.Changes == nil || s.deps.Outages == nil {
		return nil
	}
	return &demoChangesView{Intro: tr.F("demo.changes_intro", s.deps.Changes.Patient()), Sources: s.deps.Outages.Sources()}
}
