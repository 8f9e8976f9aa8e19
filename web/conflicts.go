package web

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/view"
)

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
func toConflictsJSON(tl *aggregator.Timeline, tr *translator, vc voice) []conflictJSON {
	ct := newConflictText(tr, tl).in(vc)
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
	return s.writeJSON(c, http.StatusOK, conflictsJSON{Conflicts: toConflictsJSON(v.Timeline, s.translatorFor(c), viewVoice(s.translatorFor(c), v))})
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
	CallLabel     string      // heads the contacts; "" for the patient's "whom to contact"
	Entries       []entryLink // clinician summary: where the entries are
	PatientHref   string      // worklist: the patient's clinician page
	HandledBy     string      // clinician page: who marked it handled, and when
	// A patient's or relative's page says a conflict once, on its first
	// entry (NoteID is the note's element id there); its other entries
	// carry only a link to it (See).
	NoteID string
	See    *linkView
}

type contactView struct {
	Name      string // who: organisation or source
	From      string // the system it comes from, when it differs
	Phone     string
	PhoneHref template.URL // Phone as a tel: link (cards.go)
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
// per entry index that the timeline puts next to each entry involved,
// written in vc. A patient's or relative's page (not clinician) also gets a
// plain note on each visit booked during an admission.
func (s *Server) conflictViews(tr *translator, tl *aggregator.Timeline, now time.Time, clinician bool, vc voice, show func(aggregator.Conflict) bool) ([]conflictView, map[int][]conflictView) {
	index := make(map[string]int, len(tl.Entries))
	for i := range tl.Entries {
		index[tl.Entries[i].ID] = i
	}
	display := map[string]string{}
	for _, st := range tl.Sources {
		display[st.Name] = st.Display
	}
	ct := newConflictText(tr, tl).in(vc)
	var all []conflictView
	notes := map[int][]conflictView{}
	for _, c := range tl.Conflicts {
		if !clinician && len(c.Entries) > 0 {
			if i, ok := index[c.Entries[0]]; ok {
				if msg := ct.note(c); msg != "" {
					label := tr.T("severity." + severityKey(c.Severity))
					notes[i] = append(notes[i], conflictView{Anchor: "n" + c.ID,
						Heading: tr.F("conflict.clinician_heading", tr.T("conflict.patient_heading"), label), // severity in words, not colour only
						Rule:    ruleKey(c.Rule), Severity: severityKey(c.Severity), SeverityLabel: label, Message: msg})
				}
			}
		}
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
		v.Heading = tr.F("conflict.clinician_heading", tr.T("conflict.patient_heading"), v.SeverityLabel)
		if clinician {
			v.Heading = tr.F("conflict.clinician_heading", v.RuleLabel, v.SeverityLabel)
			v.CallLabel = tr.T("conflict.call_staff")
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
			cv := contactView{Name: e.Organization, From: display[e.Source], Phone: e.Contact, PhoneHref: phoneHref(e.Contact)}
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
		var at []int // the conflict's entries on this timeline, in its order
		for _, id := range c.Entries {
			if i, ok := index[id]; ok && !slices.Contains(at, i) {
				at = append(at, i)
			}
		}
		if clinician || len(at) == 0 {
			for _, i := range at {
				notes[i] = append(notes[i], v)
			}
			continue
		}
		slices.Sort(at)
		note := v
		note.NoteID = "c" + c.ID
		notes[at[0]] = append(notes[at[0]], note)
		first := &tl.Entries[at[0]]
		for _, i := range at[1:] {
			see := conflictView{Heading: v.Heading, Rule: v.Rule, Severity: v.Severity, SeverityLabel: v.SeverityLabel}
			what := lowerFirst(s.when(tr, first, now))
			if !sameDay(first.Start.In(s.loc), tl.Entries[i].Start.In(s.loc)) {
				what = tr.shortDate(first.Start.In(s.loc), now) + " " + what
			}
			see.See = &linkView{Href: "#" + note.NoteID, Text: tr.F("conflict.see_note", entryTitle(tr, first)+" ("+what+")")}
			notes[i] = append(notes[i], see)
		}
	}
	return all, notes
}

// clinicianPage is one patient's timeline with every conflict highlighted.
// With access control its GET shows the page to a session holding a pass
// for the patient (lookuppass.go) and asks anyone else why; the POST of
// that question leaves a pass and redirects to the GET.
func (s *Server) clinicianPage(c echo.Context) error {
	handle := c.Param("handle")
	if !s.secured() {
		v, err := s.open(c, view.Request{Handle: handle, Reason: c.Request().Header.Get(ReasonHeader)})
		if err != nil {
			return err
		}
		return s.renderClinician(c, v)
	}
	id, _ := identity(c)
	key := sessionKey(id)
	if c.Request().Method == http.MethodGet {
		reason, ok := s.passes.get(key, handle, s.now())
		if !ok {
			return s.reasonPage(c, handle, http.StatusOK, "")
		}
		v, err := s.open(c, view.Request{Handle: handle, Reason: reason})
		if err != nil {
			return err
		}
		return s.renderClinician(c, v)
	}
	reason := formReason(c.Request().PostForm) // reasons.go
	tr := s.translatorFor(c)
	switch {
	case reason == "":
		return s.reasonPage(c, handle, http.StatusBadRequest, tr.T("error.reason_required"))
	case len(reason) > access.MaxReasonLen:
		return s.reasonPage(c, handle, http.StatusBadRequest, tr.T("why.too_long"))
	}
	if key == "" {
		// No session to keep the reason in: the page is the answer.
		return s.clinicianLookup(c, handle, reason)
	}
	s.passes.put(key, handle, reason, s.now())
	return c.Redirect(http.StatusSeeOther, clinicianPrefix+"/p/"+url.PathEscape(handle))
}

func (s *Server) renderClinician(c echo.Context, pv *view.View) error {
	tr := s.translatorFor(c)
	v := s.timelineView(c, tr, pv.Timeline, s.now(), true, nil)
	v.Clinician = true
	now := s.now()
	v.Patient = s.banner(tr, pv, now)
	v.Title, v.Heading = tr.T("clinician.title"), tr.T("clinician.heading")
	v.ConflictsHeading = tr.T("clinician.conflicts")
	if len(v.Conflicts) == 0 {
		v.NoConflicts = tr.T("clinician.no_conflicts")
	}
	if err := s.markHandledOn(c, tr, pv, v.Conflicts, now); err != nil {
		return err
	}
	if pv.Timeline.Unknown() {
		// One line, not a banner per source that does not know them.
		v.Banners = []string{tr.T("lookup.unknown")}
	}
	if err := s.renderDays(tr.lang, &v); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, tr.lang, "timeline", v)
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
