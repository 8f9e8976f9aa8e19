package web

import (
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
	Action      string
	Error       string // why the reason given was not taken
	ReasonCodes []reasonOption
	Reason      string // what was written, after an error
}

// reasonPage asks a clinician why they open a patient's timeline.
func (s *Server) reasonPage(c echo.Context, handle string, status int, errMsg string) error {
	tr := s.translatorFor(c)
	v := reasonPageData{
		page:   s.newPage(c, tr, tr.T("why.title")),
		Action: clinicianPrefix + "/p/" + url.PathEscape(handle),
		Error:  errMsg,
	}
	code := ""
	if errMsg != "" {
		code, v.Reason = c.Request().PostForm.Get("reason_code"), c.Request().PostForm.Get("reason")
	}
	v.ReasonCodes = reasonOptions(tr, code)
	return s.render(c, status, tr.lang, "reason", v)
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

func (s *Server) blockForm(c echo.Context) error {
	id, _ := identity(c)
	blocked := c.Request().PostForm.Get("blocked") == "1"
	if err := s.deps.Access.SetBlock(c.Request().Context(), id.Principal, blocked); err != nil {
		return accessError(err)
	}
	return c.Redirect(http.StatusSeeOther, "/account")
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
