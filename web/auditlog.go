package web

import (
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/overblik/overblik/access"
)

// "Hvem har set mit overblik": the patient's own audit log, newest first,
// one card a row that reflows to any width (WCAG 1.4.10): when (date and
// time on every row), who (role; a clinician's workplace; a relative's
// grant), what (for a grant or its revoking: to whom) and why, in the
// reader's language where the reason came from a fixed list. The patient's
// own looking is left out unless asked for (?own=1): a calendar app alone
// adds it many times a day.

// auditPageSize is how many audit rows one page of the log shows.
const auditPageSize = 50

type logPage struct {
	page
	Events []eventView
	Own    bool   // the patient's own views are shown
	Toggle string // the address that shows (or hides) them
	Next   string
	Empty  string
}

type eventView struct {
	When     string // "tirsdag 1. december 2026 kl. 10.42"
	Datetime string // the same, RFC 3339, for <time>
	Who      string // a name, "Dig", or the program's name
	About    []string
	What     string
	Reason   string
	Outcome  string // said only when refused
	Refused  bool
}

func (s *Server) auditLogPage(c echo.Context) error {
	tr := s.translatorFor(c)
	id, _ := identity(c)
	p := id.Principal
	ctx := c.Request().Context()
	own := c.QueryParam("own") == "1"
	cursor := c.QueryParam("cursor")
	var pg access.AuditPage
	var err error
	if own {
		pg, err = s.deps.Access.AuditLog(ctx, p, cursor, auditPageSize)
	} else {
		pg, err = s.deps.Access.AuditLogWithoutOwnReads(ctx, p, cursor, auditPageSize)
	}
	if err != nil {
		return accessError(err)
	}
	// The patient's grants say whom a grant row was about, and which grant
	// let a relative in.
	gs, err := s.deps.Access.Grants(ctx, p)
	if err != nil {
		return accessError(err)
	}
	byID, byGrantee := map[string]access.Delegation{}, map[string]access.Delegation{}
	for _, g := range gs { // newest first: a grantee's newest grant names them
		byID[g.ID] = g
		if _, ok := byGrantee[g.Grantee]; !ok {
			byGrantee[g.Grantee] = g
		}
	}
	v := logPage{page: s.newPage(c, tr, tr.T("log.title")), Own: own, Toggle: "/account/log?own=1"}
	if own {
		v.Toggle = "/account/log"
	}
	for _, ev := range pg.Events {
		v.Events = append(v.Events, s.eventView(tr, p, ev, byID, byGrantee))
	}
	if pg.Next != "" {
		q := url.Values{"cursor": {pg.Next}}
		if own {
			q.Set("own", "1")
		}
		v.Next = "/account/log?" + q.Encode()
	}
	if len(v.Events) == 0 {
		v.Empty = tr.T("log.empty")
	}
	return s.render(c, http.StatusOK, tr.lang, "log", v)
}

// eventView is how the patient p reads ev.
func (s *Server) eventView(tr *translator, p access.Principal, ev access.Event, byID, byGrantee map[string]access.Delegation) eventView {
	at := ev.At.In(s.loc)
	e := eventView{
		When: tr.F("log.at", tr.dayHeading(at), tr.clock(at)), Datetime: at.Format(time.RFC3339),
		Who: ev.ActorName, What: tr.T("action." + string(ev.Action)), Reason: reasonText(tr, ev.Reason),
	}
	if e.Who == "" {
		e.Who = ev.Actor // a program: its key's name
	}
	if ev.ActorHandle != "" && ev.ActorHandle == p.Handle {
		e.Who = tr.T("log.you")
	} else if ev.ActorRole != "" {
		e.About = append(e.About, tr.T("role."+string(ev.ActorRole)))
	}
	if ev.ActorOrg != "" {
		e.About = append(e.About, ev.ActorOrg)
	}
	if ev.ActorRole == access.RoleRelative {
		if g, ok := byGrantee[ev.ActorHandle]; ok && g.Label != "" {
			e.About = append(e.About, tr.F("log.your_label", g.Label))
		}
	}
	if g, ok := byID[ev.Ref]; ok && ev.Ref != "" {
		switch ev.Action {
		case access.ActionGrant:
			e.What = tr.F("log.granted_to", grantName(tr, g))
		case access.ActionRevoke:
			e.What = tr.F("log.revoked_for", grantName(tr, g))
		}
	}
	if ev.Outcome != access.OutcomeAllowed {
		e.Refused, e.Outcome = true, tr.T("outcome."+string(ev.Outcome))
	}
	return e
}
