package web

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// The two pages a Danish public site must have, linked from every page's
// footer: the accessibility statement (tilgængelighedserklæring, in the
// order of Digitaliseringsstyrelsen's statements: compliance, what is not
// accessible, how the statement was made, feedback, enforcement) and the
// privacy page (who processes what, why, for how long, and where to see
// who looked). The operator's names and contacts come from Config.Site.

// Site is who runs this overblik (the configuration's `site`). Anything
// left empty is left out of the pages.
type Site struct {
	Operator       string    // the authority that runs overblik: the data controller
	ContactEmail   string    // where people write about the site, its accessibility and their data
	ContactPhone   string    // where they call
	DPOEmail       string    // the data protection officer
	StatementDate  time.Time // when the accessibility statement was made or last reviewed
	AuditRetention time.Duration
}

// Where people go when the operator's answer does not satisfy them.
const (
	// Digitaliseringsstyrelsen enforces the accessibility act: its page
	// for people who meet content that is not accessible.
	enforcementURL = "https://digst.dk/digital-inklusion/webtilgaengelighed/oplever-du-ikke-tilgaengeligt-indhold/"
	// Datatilsynet hears complaints about the processing of personal data.
	dataProtectionAuthorityURL = "https://www.datatilsynet.dk/"
)

const (
	accessibilityPath = "/accessibility"
	privacyPath       = "/privacy"
)

// sitePage is what both pages show of the operator.
type sitePage struct {
	page
	Operator      template.HTML // the operator's name, or words for "whoever runs it"; marked Danish on other pages
	Email, Phone  string
	PhoneHref     template.URL // tel: link of a number config checked (digits, spaces, a leading +)
	DPOEmail      string
	StatementDate string
	Retention     string // how long the access log is kept, in words; "" when not given
	Enforcement   string
	Authority     string
	LogHref       string // the patient's own access log
}

func (s *Server) sitePage(c echo.Context, tr *translator, title string) sitePage {
	st := s.cfg.Site
	v := sitePage{page: s.newPage(c, tr, title), Email: st.ContactEmail, Phone: st.ContactPhone, DPOEmail: st.DPOEmail,
		Enforcement: enforcementURL, Authority: dataProtectionAuthorityURL, LogHref: "/account/log"}
	if st.Operator != "" {
		v.Operator = tr.source(st.Operator)
	} else {
		v.Operator = template.HTML(template.HTMLEscapeString(tr.T("site.operator_unknown")))
	}
	if st.ContactPhone != "" {
		v.PhoneHref = template.URL("tel:" + strings.ReplaceAll(st.ContactPhone, " ", ""))
	}
	if !st.StatementDate.IsZero() {
		v.StatementDate = tr.date(st.StatementDate)
	}
	if st.AuditRetention > 0 {
		v.Retention = tr.span(st.AuditRetention)
	}
	return v
}

func (s *Server) accessibilityPage(c echo.Context) error {
	tr := s.translatorFor(c)
	return s.render(c, http.StatusOK, tr.lang, "accessibility", s.sitePage(c, tr, tr.T("a11y.title")))
}

func (s *Server) privacyPage(c echo.Context) error {
	tr := s.translatorFor(c)
	return s.render(c, http.StatusOK, tr.lang, "privacy", s.sitePage(c, tr, tr.T("privacy.title")))
}

// source is text a source or the operator wrote, which is Danish: on a page
// in another language it is marked so, for screen readers and hyphenation.
func (t *translator) source(text string) template.HTML {
	esc := template.HTMLEscapeString(text)
	if t.lang == langDA || text == "" {
		return template.HTML(esc)
	}
	return template.HTML(`<span lang="da">` + esc + `</span>`)
}

// H formats the message for key as HTML: the message and plain arguments
// are escaped, template.HTML arguments (such as source's) are kept.
func (t *translator) H(key string, args ...any) template.HTML {
	safe := make([]any, len(args))
	for i, a := range args {
		switch a := a.(type) {
		case template.HTML:
			safe[i] = string(a)
		default:
			safe[i] = template.HTMLEscapeString(fmt.Sprint(a))
		}
	}
	return template.HTML(fmt.Sprintf(template.HTMLEscapeString(t.T(key)), safe...))
}

// date is a date without weekday: "1. marts 2026".
func (t *translator) date(tm time.Time) string {
	return t.F("fmt.date", tm.Day(), t.T(fmt.Sprintf("month.%d", int(tm.Month()))), tm.Year())
}

// span says a period of whole days in the largest unit that divides it:
// "5 år", "18 måneder" (30 days), "90 dage".
func (t *translator) span(d time.Duration) string {
	days := int(d / (24 * time.Hour))
	unit := func(n int, one, many string) string {
		if n == 1 {
			return t.F(one, n)
		}
		return t.F(many, n)
	}
	switch {
	case days >= 365 && days%365 == 0:
		return unit(days/365, "fmt.years_one", "fmt.years")
	case days >= 30 && days%30 == 0:
		return unit(days/30, "fmt.months_one", "fmt.months")
	}
	return unit(days, "fmt.days_one", "fmt.days")
}
