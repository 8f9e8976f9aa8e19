package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/view"
)

// CachedTimelines lists the timelines already built, for the admin page's
// source status. It never builds one. *aggregator.Service implements it
// when its cache can enumerate.
type CachedTimelines interface {
	Recent(ctx context.Context) ([]*aggregator.Timeline, error)
}

// The clinician routes live under /clinician so access control (another
// issue) can protect them with one group middleware.
const clinicianPrefix = "/clinician"

// worklistDays is the default period of the worklist: today and the next two weeks.
const worklistDays = 14

type conflictJSON struct {
	ID       string   `json:"id"`
	Rule     string   `json:"rule"`
	Severity string   `json:"severity"`
	Day      string   `json:"day"`
	Entries  []string `json:"entries"`
	Message  string   `json:"message"`
}

type conflictsJSON struct {
	Conflicts []conflictJSON `json:"conflicts"`
}

// toConflictsJSON gives tl's conflicts with their sentences in tr's
// language; never null, so clients can iterate.
func toConflictsJSON(tl *aggregator.Timeline, tr *translator) []conflictJSON {
	ct := newConflictText(tr, tl)
	out := make([]conflictJSON, 0, len(tl.Conflicts))
	for _, c := range tl.Conflicts {
		out = append(out, conflictJSON{ID: c.ID, Rule: string(c.Rule), Severity: string(c.Severity), Day: c.Day,
			Entries: slices.Clone(c.Entries), Message: ct.sentence(c)})
	}
	return out
}

func (s *Server) apiConflicts(c echo.Context) error {
	v, err := s.open(c, view.Request{Handle: c.Param("handle"), Reason: c.Request().Header.Get(ReasonHeader)})
	if err != nil {
		return err
	}
	return s.writeJSON(c, http.StatusOK, conflictsJSON{Conflicts: toConflictsJSON(v.Timeline, s.translatorFor(c))})
}

// patientRules are the conflicts a patient can act on themselves; the rest
// are for the people coordinating their care.
var patientRules = map[aggregator.Rule]bool{
	aggregator.RuleOverlap: true, aggregator.RuleTravel: true, aggregator.RuleBookedTwice: true,
}

func forPatient(c aggregator.Conflict) bool { return patientRules[c.Rule] }
func forClinician(aggregator.Conflict) bool { return true }

func audience(clinician bool) func(aggregator.Conflict) bool {
	if clinician {
		return forClinician
	}
	return forPatient
}

// conflictView is one conflict as a page shows it.
type conflictView struct {
	Anchor        string // element id
	Heading       string // clinicians: rule and severity; patients: a gentle word
	Rule          string
	RuleLabel     string
	Severity      string
	SeverityLabel string
	Day           string
	Message       string
	Contacts      []contactView
	Entries       []entryLink // clinician summary: where the entries are
	PatientHref   string      // worklist: the patient's clinician page
	Patient       string      // worklist: which patient, by the start of the opaque handle
}

type contactView struct {
	Name  string // who: organisation or source
	From  string // the system it comes from, when it differs
	Phone string
}

type entryLink struct {
	Href, Title, When string
}

func ruleKey(r aggregator.Rule) string {
	switch r {
	case aggregator.RuleDuringAdmission, aggregator.RuleOverlap, aggregator.RuleTravel,
		aggregator.RuleHeavyDay, aggregator.RuleBookedTwice, aggregator.RuleNothingAfterDischarge:
		return string(r)
	}
	return "other"
}

func severityKey(sv aggregator.Severity) string {
	switch sv {
	case aggregator.SeverityHigh, aggregator.SeverityMedium, aggregator.SeverityLow:
		return string(sv)
	}
	return string(aggregator.SeverityLow)
}

// conflictViews builds the views of the conflicts show keeps, and the notes
// per entry index that the timeline puts next to each entry involved.
func (s *Server) conflictViews(tr *translator, tl *aggregator.Timeline, now time.Time, clinician bool, show func(aggregator.Conflict) bool) ([]conflictView, map[int][]conflictView) {
	index := make(map[string]int, len(tl.Entries))
	for i := range tl.Entries {
		index[tl.Entries[i].ID] = i
	}
	display := map[string]string{}
	for _, st := range tl.Sources {
		display[st.Name] = st.Display
	}
	ct := newConflictText(tr, tl)
	var all []conflictView
	notes := map[int][]conflictView{}
	for _, c := range tl.Conflicts {
		if !show(c) {
			continue
		}
		v := conflictView{
			Anchor:        "c" + c.ID,
			Rule:          ruleKey(c.Rule),
			RuleLabel:     tr.T("rule." + ruleKey(c.Rule)),
			Severity:      severityKey(c.Severity),
			SeverityLabel: tr.T("severity." + severityKey(c.Severity)),
			Message:       ct.sentence(c),
		}
		v.Heading = tr.T("conflict.patient_heading")
		if clinician {
			v.Heading = tr.F("conflict.clinician_heading", v.RuleLabel, v.SeverityLabel)
		}
		if d, err := time.ParseInLocation(time.DateOnly, c.Day, s.loc); err == nil {
			v.Day = tr.dayHeading(d)
		}
		seen := map[contactView]bool{}
		for _, id := range c.Entries {
			i, ok := index[id]
			if !ok {
				continue
			}
			e := &tl.Entries[i]
			cv := contactView{Name: e.Organization, From: display[e.Source], Phone: e.Contact}
			if cv.From == "" {
				cv.From = tr.T("sector." + sectorKey(e.Sector))
			}
			if cv.Name == "" || cv.Name == cv.From {
				cv.Name, cv.From = cv.From, ""
			}
			if !seen[cv] {
				seen[cv] = true
				v.Contacts = append(v.Contacts, cv)
			}
			title := entryTitle(tr, e)
			v.Entries = append(v.Entries, entryLink{Href: fmt.Sprintf("#e%d", i), Title: title, When: s.when(tr, e, now)})
		}
		all = append(all, v)
		for _, id := range c.Entries {
			if i, ok := index[id]; ok {
				notes[i] = append(notes[i], v)
			}
		}
	}
	return all, notes
}

// clinicianPage is one patient's timeline with every conflict highlighted.
func (s *Server) clinicianPage(c echo.Context) error {
	if s.secured() {
		// A GET only asks why; the POST of that form shows the timeline.
		if c.Request().Method == http.MethodGet {
			return s.reasonPage(c, c.Param("handle"))
		}
		v, err := s.open(c, view.Request{Handle: c.Param("handle"), Reason: c.Request().PostForm.Get("reason")})
		if err != nil {
			return err
		}
		return s.renderClinician(c, v)
	}
	v, err := s.open(c, view.Request{Handle: c.Param("handle"), Reason: c.Request().Header.Get(ReasonHeader)})
	if err != nil {
		return err
	}
	return s.renderClinician(c, v)
}

func (s *Server) renderClinician(c echo.Context, pv *view.View) error {
	tr := s.translatorFor(c)
	v := s.timelineView(c, tr, pv.Timeline, s.now(), true)
	v.Clinician = true
	v.Title, v.Heading = tr.T("clinician.title"), tr.T("clinician.heading")
	v.ConflictsHeading = tr.T("clinician.conflicts")
	if len(v.Conflicts) == 0 {
		v.NoConflicts = tr.T("clinician.no_conflicts")
	}
	if err := s.renderDays(tr.lang, &v); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, tr.lang, "timeline", v)
}

type worklistPage struct {
	page
	From, To string // YYYY-MM-DD, for the form
	Period   string
	Days     []worklistDay
	Empty    string
	Note     string // why the list may be incomplete
}

type worklistDay struct {
	ID        string
	Heading   string
	Conflicts []conflictView
}

// worklist lists the conflicts in [from, to] across the cached timelines, by
// day, most severe first. Only patients someone has looked up are in the
// cache; the page says so.
func (s *Server) worklist(c echo.Context) error {
	tr := s.translatorFor(c)
	now := s.now().In(s.loc)
	from, to, err := s.period(c, now)
	if err != nil {
		return err
	}
	v := worklistPage{page: s.newPage(c, tr, tr.T("worklist.title")), From: from, To: to,
		Note: tr.T("worklist.note")}
	fromT, _ := time.ParseInLocation(time.DateOnly, from, s.loc)
	toT, _ := time.ParseInLocation(time.DateOnly, to, s.loc)
	v.Period = tr.F("fmt.period", tr.dayHeading(fromT), tr.dayHeading(toT))

	p, err := s.principal(c)
	if err != nil {
		return err
	}
	views, err := s.deps.Views.Worklist(c.Request().Context(), p, from, to)
	if err != nil {
		return accessError(err)
	}
	type item struct {
		c aggregator.Conflict
		v conflictView
	}
	var items []item
	for _, pv := range views {
		tl := pv.Timeline // its conflicts are those in the period
		all, _ := s.conflictViews(tr, tl, now, true, forClinician)
		for k, cf := range tl.Conflicts {
			cv := all[k]
			cv.PatientHref = clinicianPrefix + "/p/" + url.PathEscape(pv.Patient.Handle) + "#" + cv.Anchor
			cv.Patient = tr.F("worklist.patient", shortHandle(pv.Patient.Handle))
			cv.Entries = nil // their anchors belong to the patient's page
			items = append(items, item{c: cf, v: cv})
		}
	}
	slices.SortStableFunc(items, func(a, b item) int {
		if a.c.Day != b.c.Day {
			return cmp.Compare(a.c.Day, b.c.Day)
		}
		return a.c.Severity.Rank() - b.c.Severity.Rank()
	})
	for _, it := range items {
		if n := len(v.Days); n == 0 || v.Days[n-1].ID != "d"+it.c.Day {
			d, _ := time.ParseInLocation(time.DateOnly, it.c.Day, s.loc)
			v.Days = append(v.Days, worklistDay{ID: "d" + it.c.Day, Heading: tr.dayHeading(d)})
		}
		last := &v.Days[len(v.Days)-1]
		last.Conflicts = append(last.Conflicts, it.v)
	}
	if len(v.Days) == 0 {
		v.Empty = tr.T("worklist.empty")
	}
	return s.render(c, http.StatusOK, tr.lang, "worklist", v)
}

// period reads ?from=&to= (YYYY-MM-DD, inclusive); missing ones default to
// today and two weeks on.
func (s *Server) period(c echo.Context, now time.Time) (from, to string, err error) {
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, s.loc)
	from, to = c.QueryParam("from"), c.QueryParam("to")
	if from == "" {
		from = today.Format(time.DateOnly)
	}
	if to == "" {
		f, err := time.ParseInLocation(time.DateOnly, from, s.loc)
		if err != nil {
			f = today
		}
		to = f.AddDate(0, 0, worklistDays).Format(time.DateOnly)
	}
	f, ferr := time.ParseInLocation(time.DateOnly, from, s.loc)
	t, terr := time.ParseInLocation(time.DateOnly, to, s.loc)
	if ferr != nil || terr != nil {
		return "", "", errBadRequest("error.bad_period", errors.Join(ferr, terr))
	}
	if t.Before(f) {
		return "", "", errBadRequest("error.bad_period", errors.New("to before from"))
	}
	return from, to, nil
}

// shortHandle is enough of a handle to tell patients apart on one page; the
// handle is opaque, so it names no one.
func shortHandle(h string) string {
	if len(h) > 8 {
		return h[:8]
	}
	return h
}
