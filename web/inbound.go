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

// processMessage is POST /fhir/$process-message. The sender is an API key
// of role source, named as the source it sends for, or a client
// certificate that Config.SenderCerts maps to one. Anyone else gets 401:
// the receiver never sees a message nobody vouched for.
func (s *Server) processMessage(c echo.Context) error {
	sender, ok := s.messageSender(c)
	if !ok {
		return errUnauthorized(nil)
	}
	s.deps.Messages.ServeMessage(c.Response(), c.Request(), sender)
	return nil
}

func (s *Server) messageSender(c echo.Context) (string, bool) {
	if id, ok := identity(c); ok {
		// API keys' principals are "apikey:<name>"; a person holding the
		// role from a login sends nothing.
		if name, isKey := strings.CutPrefix(id.Principal.Subject, "apikey:"); isKey && id.Principal.Has(access.RoleSource) {
			return name, true
		}
		return "", false
	}
	if tls := c.Request().TLS; tls != nil && len(tls.VerifiedChains) > 0 {
		sender, ok := s.cfg.SenderCerts[tls.VerifiedChains[0][0].Subject.String()]
		return sender, ok
	}
	return "", false
}
