package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/overblik/overblik/access"
)

// MessageReceiver processes a FHIR message a source pushes to us, for the
// source sender the web layer authenticated it as, and answers it itself
// (a MedCom Acknowledgement). sources/medcom's Receiver implements it.
type MessageReceiver interface {
	ServeMessage(w http.ResponseWriter, r *http.Request, sender string)
}

// processMessage is POST /fhir/$process-message. The sender is a system
// of role source: an API key, or a client certificate auth maps to a
// source, named as the source it sends for. Anyone else gets 401: the
// receiver never sees a message nobody vouched for.
func (s *Server) processMessage(c echo.Context) error {
	sender, ok := messageSender(c)
	if !ok {
		return errUnauthorized(nil)
	}
	s.deps.Messages.ServeMessage(c.Response(), c.Request(), sender)
	return nil
}

func messageSender(c echo.Context) (string, bool) {
	id, ok := identity(c)
	if !ok || !id.Principal.Has(access.RoleSource) {
		return "", false
	}
	// Systems' principals are "apikey:<name>" or "cert:<name>"; a person
	// holding the role from a login sends nothing.
	for _, system := range []string{"apikey:", "cert:"} {
		if name, isSystem := strings.CutPrefix(id.Principal.Subject, system); isSystem {
			return name, true
		}
	}
	return "", false
}
