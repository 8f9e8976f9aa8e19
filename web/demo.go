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
