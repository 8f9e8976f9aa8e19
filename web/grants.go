package web

import (
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/internal/cpr"
)

// The account page's grants: the form that delegates to a relative, said
// wrong next to the field it is about and kept as typed; the list of grants,
// each with whom it is for; and, after each change, Post/Redirect/Get with a
// confirmation that travels in a short-lived cookie naming the grant, so no
// CPR number or name is ever in an address.

type accountPage struct {
	page
	Grants   []grantView
	Blocked  bool
	Error    string          // what went wrong elsewhere on the page
	Done     string          // the confirmation of the change just made
	Form     grantInput      // the grant form as typed, and what is wrong with it
	Calendar calendarSection // calendar.go
	Notices  *noticesView    // notify.go
}

// grantInput is the grant form: the values as typed (shown again after an
// error, in the page, never in an address) and each field's error.
type grantInput struct {
	Identifier, Label, Until string
	Restricted               bool
	Errors                   bool // any field is wrong: the summary above the form
	IdentifierError          string
	LabelError, UntilError   string
}

type grantView struct {
	ID         string
	Title      string   // the label, or else whom it is for
	For        []string // who it is for beyond the title: their name, "CPR 300241-xxxx"
	Until      string
	State      string
	Revoke     string // the revoke button's name for a screen reader: "Tilbagekald adgangen for Søn"
	Active     bool
	Restricted bool
}

func (s *Server) accountPage(c echo.Context) error { return s.renderAccount(c, http.StatusOK, "") }

// renderAccount shows the account page with errMsg above it.
func (s *Server) renderAccount(c echo.Context, status int, errMsg string) error {
	return s.renderAccountForm(c, status, errMsg, grantInput{})
}

func (s *Server) renderAccountForm(c echo.Context, status int, errMsg string, form grantInput) error {
	tr := s.translatorFor(c)
	id, _ := identity(c)
	ctx := c.Request().Context()
	gs, err := s.deps.Access.Grants(ctx, id.Principal)
	if err != nil {
		return accessError(err)
	}
	b, err := s.deps.Access.Block(ctx, id.Principal)
	if err != nil {
		return accessError(err)
	}
	v := accountPage{page: s.newPage(c, tr, tr.T("account.title")), Blocked: b.Blocked, Error: errMsg, Form: form}
	if v.Calendar, err = s.calendarSection(c, tr); err != nil {
		return err
	}
	if v.Notices, err = s.noticesSection(c, tr); err != nil {
		return err
	}
	v.Done = s.takeFlash(c, tr, gs)
	now := s.now()
	for _, g := range gs {
		title, more := grantWho(tr, g)
		gv := grantView{ID: g.ID, Title: title, For: more, Restricted: g.IncludeRestricted, Active: g.Valid(now),
			Revoke: tr.F("account.revoke_for", title)}
		if g.GranteeName == "" {
			gv.For = append(gv.For, tr.T("account.not_signed_in"))
		}
		if !g.Until.IsZero() {
			gv.Until = tr.dayHeading(g.Until.Add(-time.Nanosecond).In(s.loc))
		}
		switch {
		case !g.Revoked.IsZero():
			gv.State = tr.T("account.revoked")
		case !gv.Active:
			gv.State = tr.T("account.expired")
		default:
			gv.State = tr.T("account.active")
		}
		v.Grants = append(v.Grants, gv)
	}
	return s.render(c, status, tr.lang, "account", v)
}

// grantWho is whom g is for as its patient reads it: a title (their label,
// else the grantee's name, else the masked number) and the rest of those.
func grantWho(tr *translator, g access.Delegation) (title string, more []string) {
	var parts []string
	for _, p := range []string{g.Label, g.GranteeName} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if g.GranteeMasked != "" {
		parts = append(parts, tr.F("account.cpr", g.GranteeMasked))
	}
	if len(parts) == 0 {
		return tr.T("account.no_label"), nil
	}
	return parts[0], parts[1:]
}

// grantName is grantWho in one line: "Søn (Åse Lund, CPR 300241-xxxx)".
func grantName(tr *translator, g access.Delegation) string {
	title, more := grantWho(tr, g)
	if len(more) == 0 {
		return title
	}
	return tr.F("account.who", title, strings.Join(more, tr.T("fmt.list_sep")))
}

// grantForm delegates to a relative named by their identifier, which turns
// into a handle at once: the store never sees it, only its masked form.
// What is wrong is said next to its field, with the form as typed.
func (s *Server) grantForm(c echo.Context) error {
	f := c.Request().PostForm
	id, _ := identity(c)
	tr := s.translatorFor(c)
	in := grantInput{Identifier: strings.TrimSpace(f.Get("identifier")), Label: strings.TrimSpace(f.Get("label")),
		Until: strings.TrimSpace(f.Get("until")), Restricted: f.Get("restricted") == "1"}
	req := access.GrantRequest{Label: in.Label, IncludeRestricted: in.Restricted}

	ident, ok := s.parseIdentifier(in.Identifier)
	switch {
	case !ok:
		in.IdentifierError = tr.T("account.cpr_empty")
	case ident.System == SystemCPR:
		n, err := cpr.Parse(ident.Value)
		if err != nil {
			in.IdentifierError = tr.T(cprMsg(err))
			break
		}
		req.GranteeMasked = cpr.Masked(n)
	}
	if in.IdentifierError == "" {
		// The relative is matched by the handle their own login gives
		// them: nothing about them is registered here.
		req.Grantee = s.deps.Patients.Handle(ident)
		if req.Grantee == id.Principal.Handle {
			in.IdentifierError = tr.T("account.self")
		}
	}
	if utf8.RuneCountInString(in.Label) > access.MaxLabelLen {
		in.LabelError = tr.F("account.label_too_long", access.MaxLabelLen)
	}
	if in.Until != "" {
		day, err := time.ParseInLocation(time.DateOnly, in.Until, s.loc)
		switch {
		case err != nil:
			in.UntilError = tr.T("account.bad_until")
		case !day.AddDate(0, 0, 1).After(s.now()):
			in.UntilError = tr.T("account.until_past")
		default:
			req.Until = day.AddDate(0, 0, 1) // the last day given is included
		}
	}
	if in.IdentifierError != "" || in.LabelError != "" || in.UntilError != "" {
		in.Errors = true
		return s.renderAccountForm(c, http.StatusBadRequest, "", in)
	}
	g, err := s.deps.Access.Grant(c.Request().Context(), id.Principal, req)
	switch {
	case errors.Is(err, access.ErrAlreadyGranted):
		in.Errors, in.IdentifierError = true, tr.T("account.already")
		return s.renderAccountForm(c, http.StatusConflict, "", in)
	case errors.Is(err, access.ErrInvalid):
		return s.renderAccountForm(c, http.StatusBadRequest, tr.T("account.bad_grant"), in)
	case err != nil:
		return accessError(err)
	}
	s.log.Info("delegation granted", "principal", id.Principal, "delegation", g.ID)
	s.setFlash(c, flashGranted, g.ID)
	return c.Redirect(http.StatusSeeOther, "/account#grants")
}

func (s *Server) revokeForm(c echo.Context) error {
	id, _ := identity(c)
	if err := s.deps.Access.Revoke(c.Request().Context(), id.Principal, c.Param("id")); err != nil {
		return accessError(err)
	}
	s.setFlash(c, flashRevoked, c.Param("id"))
	return c.Redirect(http.StatusSeeOther, "/account#grants")
}

// The confirmation after a redirect: a cookie for /account only, for a
// minute, naming what was done and the grant's id (random, no personal
// data); the page finds the grant among the reader's own and says whom it
// was for, then clears the cookie, so a reload does not say it again.
const (
	flashCookie  = "overblik_done"
	flashGranted = "granted"
	flashRevoked = "revoked"
)

func (s *Server) setFlash(c echo.Context, what, grantID string) {
	c.SetCookie(&http.Cookie{Name: flashCookie, Value: what + "." + grantID, Path: "/account", MaxAge: 60,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.cfg.TLS || c.IsTLS()})
}

// takeFlash is the confirmation the request's cookie asks for, about one of
// gs (the reader's grants), and clears the cookie; "" when there is none.
func (s *Server) takeFlash(c echo.Context, tr *translator, gs []access.Delegation) string {
	ck, err := c.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	c.SetCookie(&http.Cookie{Name: flashCookie, Path: "/account", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.cfg.TLS || c.IsTLS()})
	what, gid, _ := strings.Cut(ck.Value, ".")
	for _, g := range gs {
		if g.ID != gid || gid == "" {
			continue
		}
		switch what {
		case flashGranted:
			return tr.F("account.granted", grantName(tr, g))
		case flashRevoked:
			return tr.F("account.revoked_done", grantName(tr, g))
		}
	}
	return ""
}
