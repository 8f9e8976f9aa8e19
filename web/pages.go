package web

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/view"
)

// parsePages parses every page once per language, with a "t" function bound
// to that language's catalog, so templates read {{t "key"}}.
func parsePages(trs map[string]*translator) map[string]map[string]*template.Template {
	out := map[string]map[string]*template.Template{}
	for l, tr := range trs {
		out[l] = map[string]*template.Template{}
		// tf formats a message as HTML around arguments src marked as
		// Danish source text (site.go).
		funcs := template.FuncMap{"t": tr.T, "tf": tr.H, "src": tr.source}
		for _, name := range []string{"home", "timeline", "error", "worklist", "reason", "account", "log", "admin", "demomail",
			"accessibility", "privacy"} {
			// templates/parts holds blocks several pages include.
			t := template.Must(template.New(name).Funcs(funcs).ParseFS(files,
				"templates/layout.html", "templates/parts/*.html", "templates/"+name+".html"))
			out[l][name] = t
		}
	}
	return out
}

// langLink switches the page to another language, named in that language.
type langLink struct {
	Href, Lang, Name string
}

func (s *Server) langLinks(path, current string) []langLink {
	var out []langLink
	for _, l := range otherLangs(current) {
		out = append(out, langLink{Href: path + "?lang=" + l, Lang: l, Name: s.tr[l].T("lang.name")})
	}
	return out
}

// page is what the layout needs on every page.
type page struct {
	Lang            string
	Title           string
	CSS             string
	Langs           []langLink // the other languages, to switch to
	NoAccessControl bool
	// Set when access control is on and someone is logged in.
	User       string // the person's name, or the API key's
	CSRF       string // the session's form token: every form posts it
	LogoutPath string
	Login      string // where to log in, when access control is on and nobody is
	// Operator is who runs overblik, for the footer (Config.Site); empty when not configured.
	Operator template.HTML
}

func (s *Server) newPage(c echo.Context, tr *translator, title string) page {
	// The switch reloads the same page; after a POST there is no page to
	// reload, so it goes to the front page.
	p := "/"
	if c.Request().Method == http.MethodGet {
		p = c.Request().URL.EscapedPath()
	}
	pg := page{
		Lang:            tr.lang,
		Title:           title,
		CSS:             s.css,
		Langs:           s.langLinks(p, tr.lang),
		NoAccessControl: s.cfg.NoAccessControl,
		Operator:        tr.source(s.cfg.Site.Operator),
	}
	if s.secured() {
		if id, ok := identity(c); ok {
			pg.User, pg.CSRF = id.Principal.Name, id.CSRF
			if pg.User == "" {
				pg.User = id.Principal.Subject
			}
			if id.Session {
				pg.LogoutPath = "/auth/logout"
			}
		} else if s.cfg.LoginPath != "" {
			pg.Login = s.loginHref("/")
		}
	}
	return pg
}

// render executes into a buffer first, so a template error becomes a clean
// error response and the page goes out with its Content-Length.
func (s *Server) render(c echo.Context, status int, lang, name string, data any) error {
	t := s.pages[lang][name]
	if t == nil {
		return fmt.Errorf("no template %q for %q", name, lang)
	}
	buf := s.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer s.bufs.Put(buf)
	if err := t.ExecuteTemplate(buf, "layout", data); err != nil {
		return fmt.Errorf("execute template %s: %w", name, err)
	}
	c.Response().Header().Set("Vary", "Accept-Language, Cookie")
	return writeBytes(c, status, echo.MIMETextHTMLCharsetUTF8, buf.Bytes())
}

type demoLink struct {
	Name string
	Href string
}

type homePage struct {
	page
	Demo    []demoLink
	Outages []SimulatedSource
	Error   string
	// With access control, what the caller's roles offer.
	Secured    bool
	Own        string     // the patient's own timeline
	Delegators []demoLink // the timelines delegated to a relative
	Lookup     bool       // a clinician may look patients up, with a reason
	Admin      bool
	DemoMail   bool // the demo's mailbox is at /demo/mail (notify.go)
	// The look-up form's values after an error (renderHomeForm).
	Identifier, Reason string
	ReasonCodes        []reasonOption
	Changes            *demoChangesView // the demo's change switches (demo.go)
}

func (s *Server) home(c echo.Context) error {
	return s.renderHome(c, http.StatusOK, "")
}

func (s *Server) renderHome(c echo.Context, status int, errMsg string) error {
	return s.renderHomeForm(c, status, lookupFormValues{Error: errMsg})
}

// lookupFormValues is what the look-up form shows again after an error:
// the message and what was typed (in the page only, never in a URL).
type lookupFormValues struct {
	Error, Identifier, Reason, ReasonCode string
}

func (s *Server) renderHomeForm(c echo.Context, status int, form lookupFormValues) error {
	tr := s.translatorFor(c)
	data := homePage{page: s.newPage(c, tr, tr.T("home.title")), Error: form.Error, DemoMail: s.deps.Mailbox != nil,
		Identifier: form.Identifier, Reason: form.Reason, ReasonCodes: reasonOptions(tr, form.ReasonCode)}
	data.Changes = s.demoChangesView(tr)
	if s.secured() {
		if err := s.roleHome(c, &data); err != nil {
			return err
		}
		return s.render(c, status, tr.lang, "home", data)
	}
	for _, d := range s.cfg.Demo {
		data.Demo = append(data.Demo, demoLink{Name: d.Name, Href: patientPath(d.Handle)})
	}
	if s.deps.Outages != nil {
		data.Outages = s.deps.Outages.Sources()
	}
	data.Lookup = true
	return s.render(c, status, tr.lang, "home", data)
}

// lookupForm is the no-JavaScript lookup: POST, then 303 to the patient's
// page, whose URL holds only the opaque handle (Post/Redirect/Get). A
// clinician's reason stays on the server (lookuppass.go). A mistyped CPR
// number, a missing reason, or a person no source knows is said on the
// form, with what was typed.
func (s *Server) lookupForm(c echo.Context) error {
	if err := c.Request().ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("parse lookup form: %w", err)
		}
		return errBadRequest("error.bad_request", fmt.Errorf("parse lookup form: %w", err))
	}
	f := c.Request().PostForm
	reason := formReason(f) // reasons.go
	p, err := s.lookup(c, f.Get("identifier"), reason)
	if err != nil {
		if status, msg, ok := lookupFormError(err); ok {
			return s.renderHomeForm(c, status, lookupFormValues{Error: s.translatorFor(c).T(msg),
				Identifier: f.Get("identifier"), Reason: f.Get("reason"), ReasonCode: f.Get("reason_code")})
		}
		return err
	}
	if s.secured() {
		id, _ := identity(c)
		if key := sessionKey(id); key != "" {
			s.passes.put(key, p.Handle, reason, s.now())
			return c.Redirect(http.StatusSeeOther, clinicianPrefix+"/p/"+url.PathEscape(p.Handle))
		}
		// A caller without a session has nowhere to keep the reason: the
		// answer is the page itself, as the form's reply.
		return s.clinicianLookup(c, p.Handle, reason)
	}
	return c.Redirect(http.StatusSeeOther, patientPath(p.Handle))
}

// lookupFormError is the status and message the form shows for a look-up
// error it can explain; ok=false for the rest (refusals stay 404 pages).
func lookupFormError(err error) (status int, msg string, ok bool) {
	var re *requestError
	if !errors.As(err, &re) {
		return 0, "", false
	}
	switch re.msg {
	case "error.empty_identifier":
		return re.status, "lookup.empty", true
	case "error.cpr_format", "error.cpr_date", "error.reason_required", "lookup.unknown":
		return re.status, re.msg, true
	}
	return 0, "", false
}

func patientPath(handle string) string {
	return "/p/" + url.PathEscape(handle)
}

type timelinePage struct {
	page
	Heading        string
	Banners        []string
	Generated      string
	Earlier        []dayView
	EarlierCount   int
	EarlierSummary string
	TodayHeading   string
	Switch         []switchLink // a relative's timelines to switch between
	HiddenNote     string       // a relative's page: how many entries are not shown (a count only)
	Printed        string       // only on paper: whose timeline, and the day
	Today          []entryView
	Upcoming       []dayView
	// Clinician pages list every conflict above the timeline; the patient's
	// page only puts the ones they can act on next to the entries.
	Clinician        bool
	Patient          *patientBanner // clinician pages: who the patient is (clinician.go)
	ConflictsHeading string
	Conflicts        []conflictView
	NoConflicts      string
	Removed          []string  // entries gone since the viewer last looked
	Next             *nextView // patients' and relatives' pages: the next appointment
	// Days is the rendered earlier, today and upcoming sections: the bulk of
	// the page, rendered once per timeline build, language, view and minute
	// when nothing in it is for one viewer only.
	Days template.HTML
}

type dayView struct {
	ID      string // for aria-labelledby
	Heading string
	Entries []entryView
}

type entryView struct {
	N            int    // position, for element ids
	Anchor       string // the card's element id: e{N}, or g{N} for a card of several visits
	Sector       string
	SectorLabel  string
	KindLabel    string // only for kinds worth naming (admission)
	Status       string
	StatusLabel  string // empty for plain booked entries
	Cancelled    bool
	When         string
	StartISO     string
	Title        string
	OwnTitle     bool // Title is ours (generic, or the kind), not the source's
	Description  string
	Instruction  string
	PlaceName    string
	PlaceAddress string
	MapHref      string // the address on a map (cards.go)
	MediumLabel  string
	VideoURL     string
	With         string
	Contact      string
	ContactHref  template.URL // the contact as a tel: link, when it is a phone number
	Stale        bool
	StaleNote    string
	Parts        []string       // a joint entry's sources whose status differs: "aflyst hos Aarhus Kommune"
	Mark         string         // what changed since the viewer last looked: "Ny", "Flyttet fra ...", "Aflyst"
	Notes        []conflictView // conflicts this entry is part of
	OnlyYou      string         // the patient's own page: on a restricted entry, that her relatives cannot see it
	ICS          string         // "Tilføj til kalender": the entry's download (calendar.go); not on clinicians' pages
	NewTime      *linkView      // a cancelled time booked again: its new time
	Group        *groupView     // the card stands for several like visits
}

func (s *Server) timelinePage(c echo.Context) error {
	since, seen := lastSeen(c)
	pv, err := s.open(c, view.Request{Handle: c.Param("handle"), Reason: c.Request().Header.Get(ReasonHeader),
		Changes: seen, Since: since})
	if errors.Is(err, access.ErrReasonRequired) {
		// A clinician opens a timeline with a reason, on their own page.
		return c.Redirect(http.StatusSeeOther, clinicianPrefix+"/p/"+url.PathEscape(c.Param("handle")))
	}
	if err != nil {
		return err
	}
	tl, handle := pv.Timeline, pv.Patient.Handle
	s.remember(c, handle, tl)
	tr := s.translatorFor(c)
	now := s.now().In(s.loc)
	restricted := pv.Decision.Restricted
	marks, removed := s.changeMarks(tr, pv.Changes, now)
	onlyYou, err := s.onlyYouLabel(c, pv)
	if err != nil {
		return err
	}
	key := renderKey{handle: handle, version: tl.Version, generated: tl.GeneratedAt.UnixNano(), view: "days",
		lang: tr.lang, restricted: restricted, minute: now.Unix() / 60}
	if onlyYou != "" {
		key.view += " " + onlyYou // the patient's own days differ by their labels
	}
	// A relative's notes name the patient (clinician.go): not kept.
	relative := pv.Decision.Role == access.RoleRelative
	if relative {
		c.Set(ctxRelativeKey, pv.Name)
	}
	var v timelinePage
	if b, ok := s.renders.getText(key); ok && len(marks) == 0 && !relative {
		v = s.timelineShell(c, tr, tl, now)
		v.Days = template.HTML(b) // rendered by html/template before it was cached
	} else {
		v = s.timelineView(c, tr, tl, now, false, marks)
		if onlyYou != "" {
			markOnlyYou(&v, tl, tr.T(onlyYou))
		}
		if err := s.renderDays(tr.lang, &v); err != nil {
			return err
		}
		if len(marks) == 0 && !tl.GeneratedAt.IsZero() && !relative {
			s.renders.putText(key, string(v.Days))
		}
	}
	v.Removed = removed
	if v.Switch, err = s.switcher(c, tr, handle); err != nil {
		return err
	}
	s.whose(tr, &v, pv, now)
	return s.render(c, http.StatusOK, tr.lang, "timeline", v)
}

// whose says on v whose timeline it is: to a relative in the title and
// heading, with how many entries the patient keeps from her (a count, from
// the view, which left them out), and on paper the patient's name and the day.
func (s *Server) whose(tr *translator, v *timelinePage, pv *view.View, now time.Time) {
	name := pv.Name
	if pv.Decision.Role == access.RoleRelative {
		if name == "" {
			name = tr.F("worklist.patient", shortHandle(pv.Patient.Handle)) // as the switcher names her
		}
		v.Title = tr.F("relative.timeline_title", name)
		v.Heading = tr.F("relative.timeline_heading", name)
		who := cmp.Or(firstName(pv.Name), name)
		switch {
		case pv.Hidden == 1:
			v.HiddenNote = tr.F("relative.hidden_one", pv.Hidden, who)
		case pv.Hidden > 1:
			v.HiddenNote = tr.F("relative.hidden_many", pv.Hidden, who)
		}
	}
	if name == "" {
		v.Printed = tr.F("timeline.printed_noname", tr.dayHeading(now))
	} else {
		v.Printed = tr.F("timeline.printed", name, tr.dayHeading(now))
	}
}

// onlyYouLabel is the catalog key of the label on the restricted entries of
// the patient's own page, "" on any other page or without such entries:
// that her relatives cannot see them, or, when she let one see them, that
// only such relatives can.
func (s *Server) onlyYouLabel(c echo.Context, pv *view.View) (string, error) {
	if pv.Decision.Role != access.RolePatient || !hasRestricted(pv.Timeline) {
		return "", nil
	}
	id, ok := identity(c)
	if !ok || s.deps.Access == nil {
		return "entry.only_you", nil
	}
	shared, err := s.deps.Access.SharesRestricted(c.Request().Context(), id.Principal)
	if err != nil {
		return "", fmt.Errorf("onlyYouLabel: %w", err)
	}
	if shared {
		return "entry.only_shared", nil
	}
	return "entry.only_you", nil
}

func hasRestricted(tl *aggregator.Timeline) bool {
	for i := range tl.Entries {
		if tl.Entries[i].Sensitivity == aggregator.SensitivityRestricted {
			return true
		}
	}
	return false
}

// markOnlyYou puts label on v's restricted entries.
func markOnlyYou(v *timelinePage, tl *aggregator.Timeline, label string) {
	mark := func(evs []entryView) {
		for i := range evs {
			if n := evs[i].N; n >= 0 && n < len(tl.Entries) && tl.Entries[n].Sensitivity == aggregator.SensitivityRestricted {
				evs[i].OnlyYou = label
			}
		}
	}
	for i := range v.Earlier {
		mark(v.Earlier[i].Entries)
	}
	mark(v.Today)
	for i := range v.Upcoming {
		mark(v.Upcoming[i].Entries)
	}
}

// timelineView groups the entries, kept in the order given, into earlier
// days (collapsed), today (with anything still going on, such as an
// admission that began earlier) and upcoming days. The conflicts
// that matter to the reader (all of them for a clinician) go next to their
// entries, marks says what changed since the reader last looked (by entry
// ID). A patient's or relative's page also folds recurring visits into one
// card, links a cancelled time to its new one and opens with the next
// appointment (cards.go).
func (s *Server) timelineView(c echo.Context, tr *translator, tl *aggregator.Timeline, now time.Time, clinician bool, marks map[string]string) timelinePage {
	now = now.In(s.loc)
	v := s.timelineShell(c, tr, tl, now)
	conflicts, notes := s.conflictViews(tr, tl, now, clinician, readerVoice(c, tr, clinician), audience(clinician))
	v.Conflicts = conflicts
	y, m, d := now.Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, s.loc)
	tomorrow := today.AddDate(0, 0, 1)
	const (
		earlierSection = iota
		todaySection
		upcomingSection
	)
	section := func(i int) int {
		e := &tl.Entries[i]
		start := e.Start.In(s.loc)
		switch {
		case !start.Before(tomorrow):
			return upcomingSection
		case !start.Before(today), ongoing(e, now):
			return todaySection
		}
		return earlierSection
	}
	ics := func(i int) string {
		if clinician {
			return ""
		}
		return entryCalendarPath(tl.Patient, tl.Entries[i].ID)
	}

	runOf := map[int]run{}   // a run's first member -> the run
	firstOf := map[int]int{} // every member of a run -> its first
	newTime := map[int]int{} // a cancelled entry -> the one booked in its place
	if !clinician {
		inConflict := map[string]bool{}
		for _, cf := range tl.Conflicts {
			for _, id := range cf.Entries {
				inConflict[id] = true
			}
		}
		skip := func(i int) bool { id := tl.Entries[i].ID; return inConflict[id] || marks[id] != "" }
		for _, r := range recurring(tl.Entries, s.loc, section, skip) {
			runOf[r.members[0]] = r
			for _, i := range r.members {
				firstOf[i] = r.members[0]
			}
		}
		newTime = rebooked(tl.Entries, s.loc)
		if i := nextEntry(tl.Entries, now); i >= 0 {
			e := &tl.Entries[i]
			v.Next = &nextView{What: entryTitle(tr, e), When: tr.dayHeading(e.Start) + ", " + lowerFirst(s.when(tr, e, now)),
				Where: where(tr, e), Href: "#" + anchorOf(i, firstOf)}
		}
	}

	earlier := dayGrouper{tr: tr}
	upcoming := dayGrouper{tr: tr}
	for i := range tl.Entries {
		e := &tl.Entries[i]
		sec := section(i)
		if sec == earlierSection {
			v.EarlierCount++
		}
		if f, ok := firstOf[i]; ok && f != i {
			continue // on the card of its run
		}
		ev := s.entryView(tr, e, i, now)
		ev.Notes = notes[i]
		ev.Mark = marks[e.ID]
		ev.ICS = ics(i)
		if j, ok := newTime[i]; ok {
			n := &tl.Entries[j]
			ev.NewTime = &linkView{Href: "#" + anchorOf(j, firstOf),
				Text: tr.F("entry.new_time", tr.dayHeading(n.Start)+", "+lowerFirst(s.when(tr, n, now)))}
		}
		if r, ok := runOf[i]; ok {
			ev.Anchor = anchorOf(i, firstOf)
			ev.Group = s.groupView(tr, tl, r, now, ics)
			ev.ICS = "" // each visit has its own
		}
		start := e.Start.In(s.loc)
		switch sec {
		case upcomingSection:
			upcoming.add(start, ev)
		case todaySection:
			v.Today = append(v.Today, ev)
		default:
			earlier.add(start, ev)
		}
	}
	v.Earlier, v.Upcoming = earlier.days, upcoming.days
	if v.EarlierCount > 0 {
		v.EarlierSummary = tr.F("timeline.earlier_show", v.EarlierCount)
	}
	return v
}

// timelineShell is the page around the days: heading, banners, freshness.
func (s *Server) timelineShell(c echo.Context, tr *translator, tl *aggregator.Timeline, now time.Time) timelinePage {
	v := timelinePage{
		page:         s.newPage(c, tr, tr.T("timeline.title")),
		Heading:      tr.T("timeline.heading"),
		Banners:      s.banners(tr, tl.Sources, now),
		TodayHeading: tr.dayHeading(now),
		Generated:    s.generated(tr, tl, now),
	}
	return v
}

// renderDays renders v's earlier, today and upcoming sections into v.Days.
func (s *Server) renderDays(lang string, v *timelinePage) error {
	t := s.pages[lang]["timeline"]
	if t == nil {
		return fmt.Errorf("no timeline template for %q", lang)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "days", v); err != nil {
		return fmt.Errorf("execute days: %w", err)
	}
	v.Days = template.HTML(buf.String()) // rendered by html/template: escaped
	return nil
}

// ongoing reports whether an entry that began before today still runs:
// its end is ahead, or it has none (an open admission) and is not over.
func ongoing(e *aggregator.Entry, now time.Time) bool {
	if e.End.IsZero() {
		return e.Status != aggregator.StatusCancelled && e.Status != aggregator.StatusCompleted
	}
	return e.End.After(now)
}

// dayGrouper collects entries into days in order of first appearance, so a
// sorted timeline stays sorted and an unsorted one is not reordered.
type dayGrouper struct {
	tr    *translator
	days  []dayView
	index map[string]int
}

func (g *dayGrouper) add(start time.Time, ev entryView) {
	key := start.Format("2006-01-02")
	if g.index == nil {
		g.index = map[string]int{}
	}
	i, ok := g.index[key]
	if !ok {
		i = len(g.days)
		g.index[key] = i
		g.days = append(g.days, dayView{ID: "d" + key, Heading: g.tr.dayHeading(start)})
	}
	g.days[i].Entries = append(g.days[i].Entries, ev)
}

func (s *Server) entryView(tr *translator, e *aggregator.Entry, n int, now time.Time) entryView {
	sector := sectorKey(e.Sector)
	ev := entryView{
		N:            n,
		Anchor:       "e" + strconv.Itoa(n),
		Sector:       sector,
		SectorLabel:  tr.T("sector." + sector),
		Status:       string(e.Status),
		Cancelled:    e.Status == aggregator.StatusCancelled,
		When:         s.when(tr, e, now),
		StartISO:     e.Start.In(s.loc).Format(time.RFC3339),
		Title:        entryTitle(tr, e),
		Description:  e.Description,
		Instruction:  e.Instruction,
		PlaceName:    e.Place.Name,
		PlaceAddress: e.Place.Address,
		MapHref:      mapHref(e),
		Contact:      e.Contact,
		ContactHref:  phoneHref(e.Contact),
		Stale:        e.Stale,
	}
	ev.OwnTitle = e.Title == ""
	if e.Kind == aggregator.KindAdmission {
		ev.KindLabel = tr.T("kind.admission")
	}
	if e.Status != aggregator.StatusBooked && e.Status != "" {
		ev.StatusLabel = tr.T("status." + statusKey(e.Status))
	}
	switch e.Medium {
	case aggregator.MediumVideo, aggregator.MediumPhone, aggregator.MediumHomeVisit:
		ev.MediumLabel = tr.T("medium." + string(e.Medium))
	}
	if e.Medium == aggregator.MediumVideo {
		ev.VideoURL = aggregator.SafeURL(e.VideoURL)
	}
	for _, pt := range e.Parts {
		if pt.Status != e.Status {
			who := cmp.Or(pt.Organization, tr.T("from."+sectorKey(pt.Sector)))
			ev.Parts = append(ev.Parts, tr.F("part.status", strings.ToLower(tr.T("status."+statusKey(pt.Status))), who))
		}
	}
	ev.With = strings.Join(withNames(e), tr.T("fmt.list_sep"))
	if e.Stale {
		if e.FetchedAt.IsZero() {
			ev.StaleNote = tr.T("entry.stale_never")
		} else {
			ev.StaleNote = tr.F("entry.stale", tr.when(e.FetchedAt, now))
		}
	}
	return ev
}

// when is the entry's time as a person reads it: "10.00–10.30", "Hele dagen",
// or a period across days for admissions: "1. dec 10.00 – 4. dec 12.00".
// A source that writes a whole day as midnight to midnight gets "Hele dagen"
// too, not "00.00 – 00.00".
func (s *Server) when(tr *translator, e *aggregator.Entry, now time.Time) string {
	start, end := e.Start.In(s.loc), e.End.In(s.loc)
	hasEnd := !e.End.IsZero() && e.End.After(e.Start)
	if e.AllDay || midnightSpan(e, s.loc) {
		// End is exclusive: the last day is the one before it.
		if hasEnd && !sameDay(start, end.Add(-time.Nanosecond)) {
			return tr.F("fmt.period", tr.shortDate(start, now), tr.shortDate(end.Add(-time.Nanosecond), now))
		}
		return tr.T("entry.all_day")
	}
	if e.Kind == aggregator.KindAdmission || (hasEnd && !sameDay(start, end)) {
		from := tr.shortDate(start, now) + " " + tr.clock(start)
		if !hasEnd {
			return tr.F("fmt.since", from)
		}
		return tr.F("fmt.period", from, tr.shortDate(end, now)+" "+tr.clock(end))
	}
	if !hasEnd {
		return tr.clock(start)
	}
	return tr.clock(start) + "–" + tr.clock(end)
}

// The *Key functions map domain values to catalog key suffixes, folding
// anything unexpected into a known key so no page shows a raw key.

func sectorKey(s aggregator.Sector) string {
	if v, ok := aggregator.ParseSector(string(s)); ok {
		return string(v)
	}
	return string(aggregator.SectorOther)
}

func kindKey(k aggregator.Kind) string {
	switch k {
	case aggregator.KindAppointment, aggregator.KindEncounter, aggregator.KindAdmission:
		return string(k)
	}
	return string(aggregator.KindAppointment)
}

func statusKey(st aggregator.Status) string {
	switch st {
	case aggregator.StatusTentative, aggregator.StatusBooked, aggregator.StatusInProgress,
		aggregator.StatusOnLeave, aggregator.StatusCompleted, aggregator.StatusCancelled,
		aggregator.StatusNoShow, aggregator.StatusEnteredInError, aggregator.StatusUnknown:
		return string(st)
	}
	return string(aggregator.StatusUnknown)
}

func errorKindKey(k aggregator.ErrorKind) string {
	switch k {
	case aggregator.Unavailable, aggregator.Timeout, aggregator.Unauthorized,
		aggregator.NotFound, aggregator.Invalid:
		return string(k)
	}
	return "unknown"
}

// entryTitle is what a person reads as an entry's title: the source's, a
// generic one for sources that share only time and place (as the national
// overview does for GP appointments), or the kind of entry.
func entryTitle(tr *translator, e *aggregator.Entry) string {
	switch {
	case e.Title != "":
		return e.Title
	case e.Generic:
		return tr.T("generic." + sectorKey(e.Sector))
	}
	return tr.T("kind." + kindKey(e.Kind))
}
