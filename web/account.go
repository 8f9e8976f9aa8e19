package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/view"
)

// The pages of access control: what each role finds on the front page, a
// clinician's reason, a patient's grants, block and audit log, and the
// admin's source status.

// auditPageSize is how many audit rows one page of the log shows.
const auditPageSize = 50

// roleHome fills the front page with what the caller's roles offer.
func (s *Server) roleHome(c echo.Context, data *homePage) error {
	data.Secured = true
	id, ok := identity(c)
	if !ok {
		return nil
	}
	p := id.Principal
	if p.Has(access.RolePatient) && p.Handle != "" {
		data.Own = patientPath(p.Handle)
	}
	ds, err := s.deps.Access.Received(c.Request().Context(), p)
	if err != nil {
		return fmt.Errorf("list delegations received: %w", err)
	}
	tr := s.translatorFor(c)
	for _, d := range ds {
		data.Delegators = append(data.Delegators, s.delegatorLink(tr, d))
	}
	data.Lookup = p.Has(access.RoleClinician)
	data.Admin = p.Has(access.RoleAdmin)
	if s.deps.Outages != nil {
		data.Outages = s.deps.Outages.Sources()
	}
	return nil
}

func (s *Server) delegatorLink(tr *translator, d access.Delegation) demoLink {
	name := d.PatientName
	if name == "" {
		name = tr.F("worklist.patient", shortHandle(d.Patient))
	}
	if !d.Until.IsZero() {
		name = tr.F("relative.until", name, tr.dayHeading(d.Until.Add(-time.Nanosecond).In(s.loc)))
	}
	return demoLink{Name: name, Href: patientPath(d.Patient)}
}

// switcher lists the timelines the caller may switch between: their own and
// those delegated to them, marking the one shown.
func (s *Server) switcher(c echo.Context, tr *translator, current string) ([]switchLink, error) {
	id, ok := identity(c)
	if !s.secured() || !ok || !id.Principal.Has(access.RoleRelative) {
		return nil, nil
	}
	ds, err := s.deps.Access.Received(c.Request().Context(), id.Principal)
	if err != nil {
		return nil, fmt.Errorf("list delegations received: %w", err)
	}
	if len(ds) == 0 {
		return nil, nil
	}
	var out []switchLink
	if p := id.Principal; p.Has(access.RolePatient) && p.Handle != "" {
		out = append(out, switchLink{Name: tr.T("relative.own"), Href: patientPath(p.Handle), Current: p.Handle == current, Own: true})
	}
	for _, d := range ds {
		l := s.delegatorLink(tr, d)
		out = append(out, switchLink{Name: l.Name, Href: l.Href, Current: d.Patient == current})
	}
	return out, nil
}

type switchLink struct {
	Name, Href   string
	Current, Own bool
}

type reasonPageData struct {
	page
	Action string
	Error  string // why the reason given was not taken
}

// reasonPage asks a clinician why they open a patient's timeline.
func (s *Server) reasonPage(c echo.Context, handle string, status int, errMsg string) error {
	tr := s.translatorFor(c)
	return s.render(c, status, tr.lang, "reason", reasonPageData{
		page:   s.newPage(c, tr, tr.T("why.title")),
		Action: clinicianPrefix + "/p/" + url.PathEscape(handle),
		Error:  errMsg,
	})
}

// clinicianLookup shows the timeline a clinician looked up: the look-up is
// audited (Views.Lookup), then the view, with the same reason.
func (s *Server) clinicianLookup(c echo.Context, handle, reason string) error {
	v, err := s.open(c, view.Request{Handle: handle, Reason: reason})
	if err != nil {
		return err
	}
	return s.renderClinician(c, v)
}

type accountPage struct {
	page
	Grants   []grantView
	Blocked  bool
	Error    string
	Calendar calendarSection // calendar.go
	Notices  *noticesView    // notify.go
}

type grantView struct {
	ID, Label, Until, State string
	Active, Restricted      bool
}

func (s *Server) accountPage(c echo.Context) error { return s.renderAccount(c, http.StatusOK, "") }

func (s *Server) renderAccount(c echo.Context, status int, errMsg string) error {
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
	v := accountPage{page: s.newPage(c, tr, tr.T("account.title")), Blocked: b.Blocked, Error: errMsg}
	if v.Calendar, err = s.calendarSection(c, tr); err != nil {
		return err
	}
	if v.Notices, err = s.noticesSection(c, tr); err != nil {
		return err
	}
	now := s.now()
	for _, g := range gs {
		gv := grantView{ID: g.ID, Label: g.Label, Restricted: g.IncludeRestricted, Active: g.Valid(now)}
		if gv.Label == "" {
			gv.Label = tr.T("account.no_label")
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

// grantForm delegates to a relative named by their identifier, which turns
// into a handle at once: the store never sees it.
func (s *Server) grantForm(c echo.Context) error {
	f := c.Request().PostForm
	id, _ := identity(c)
	tr := s.translatorFor(c)
	grantee, ok := s.parseIdentifier(f.Get("identifier"))
	if !ok {
		return s.renderAccount(c, http.StatusBadRequest, tr.T("lookup.empty"))
	}
	// The relative is matched by the handle their own login gives them:
	// nothing about them is registered here.
	req := access.GrantRequest{Grantee: s.deps.Patients.Handle(grantee), Label: f.Get("label"), IncludeRestricted: f.Get("restricted") == "1"}
	if u := f.Get("until"); u != "" {
		day, err := time.ParseInLocation(time.DateOnly, u, s.loc)
		if err != nil {
			return s.renderAccount(c, http.StatusBadRequest, tr.T("account.bad_until"))
		}
		req.Until = day.AddDate(0, 0, 1) // the last day given is included
	}
	if _, err := s.deps.Access.Grant(c.Request().Context(), id.Principal, req); err != nil {
		if errors.Is(err, access.ErrInvalid) {
			return s.renderAccount(c, http.StatusBadRequest, tr.T("account.bad_grant"))
		}
		return accessError(err)
	}
	s.log.Info("delegation granted", "principal", id.Principal)
	return c.Redirect(http.StatusSeeOther, "/account")
}

func (s *Server) revokeForm(c echo.Context) error {
	id, _ := identity(c)
	if err := s.deps.Access.Revoke(c.Request().Context(), id.Principal, c.Param("id")); err != nil {
		return accessError(err)
	}
	return c.Redirect(http.StatusSeeOther, "/account")
}

func (s *Server) blockForm(c echo.Context) error {
	id, _ := identity(c)
	blocked := c.Request().PostForm.Get("blocked") == "1"
	if err := s.deps.Access.SetBlock(c.Request().Context(), id.Principal, blocked); err != nil {
		return accessError(err)
	}
	return c.Redirect(http.StatusSeeOther, "/account")
}

type logPage struct {
	page
	Events []eventView
	Next   string
	Empty  string
}

type eventView struct {
	When, Who, Role, Action, Reason, Outcome string
	Refused                                  bool
}

// auditLogPage is "who has looked at my overview": the patient's own audit
// log, newest first.
func (s *Server) auditLogPage(c echo.Context) error {
	tr := s.translatorFor(c)
	id, _ := identity(c)
	pg, err := s.deps.Access.AuditLog(c.Request().Context(), id.Principal, c.QueryParam("cursor"), auditPageSize)
	if err != nil {
		return accessError(err)
	}
	v := logPage{page: s.newPage(c, tr, tr.T("log.title"))}
	now := s.now()
	for _, ev := range pg.Events {
		who := ev.ActorName
		if who == "" {
			who = ev.Actor
		}
		if ev.ActorHandle != "" && ev.ActorHandle == id.Principal.Handle {
			who = tr.T("log.you")
		}
		v.Events = append(v.Events, eventView{
			When: tr.when(ev.At.In(s.loc), now.In(s.loc)), Who: who,
			Role: tr.T("role." + string(ev.ActorRole)), Action: tr.T("action." + string(ev.Action)),
			Reason: ev.Reason, Outcome: tr.T("outcome." + string(ev.Outcome)), Refused: ev.Outcome != access.OutcomeAllowed,
		})
	}
	if pg.Next != "" {
		v.Next = "/account/log?cursor=" + url.QueryEscape(pg.Next)
	}
	if len(v.Events) == 0 {
		v.Empty = tr.T("log.empty")
	}
	return s.render(c, http.StatusOK, tr.lang, "log", v)
}

type adminPage struct {
	page
	Ready         string
	Sources       []adminSource
	Note          string
	CanCheck      bool
	Checks        []SourceCheck
	FailedNotices *failedNoticesView // notify.go
}

// SourceCheck is the outcome of one configuration check of one source:
// whether it answers, speaks FHIR R4, accepts our credentials, supports
// the searches we need. Detail must name no patient.
type SourceCheck struct {
	Source, Check string
	OK            bool
	Detail        string
}

type adminSource struct {
	Name, Display, Sector, State, LastSuccess, LastFailure string
	OK                                                     bool
}

// adminPage shows whether the server is ready and how each source itself
// answered its latest fetches on this replica (whichever patients they were
// for): no patient data, only sources. Its POST runs the sources'
// configuration checks as well.
func (s *Server) adminPage(c echo.Context) error {
	tr := s.translatorFor(c)
	ctx := c.Request().Context()
	v := adminPage{page: s.newPage(c, tr, tr.T("admin.title")), Ready: tr.T("admin.ready"), CanCheck: s.deps.Checks != nil}
	if c.Request().Method == http.MethodPost && s.deps.Checks != nil {
		v.Checks = s.deps.Checks(ctx)
	}
	if s.deps.Ready != nil {
		if err := s.deps.Ready(ctx); err != nil {
			s.log.Warn("not ready", "err", err)
			v.Ready = tr.T("admin.not_ready")
		}
	}
	s.adminSources(tr, &v) // clinician.go
	if len(v.Sources) == 0 && v.Note == "" {
		v.Note = tr.T("admin.no_status")
	}
	failed, err := s.failedNotices(c, tr)
	if err != nil {
		return err
	}
	v.FailedNotices = failed
	return s.render(c, http.StatusOK, tr.lang, "admin", v)
}
