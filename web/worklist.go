package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/view"
)

// The worklist: the conflicts in a period across the patients in a
// clinician's scope, by patient and then by problem, not one card per day:
// the home-care visits booked into one admission are one problem however
// many days it spans. A clinician marks a problem handled; colleagues see
// who did and when, and a conflict that changes (a new id) shows again.

// ConflictMarks keeps conflicts marked handled; *access.Service is one.
type ConflictMarks interface {
	MarkHandled(ctx context.Context, p access.Principal, patient string, conflicts []string) error
	Handled(ctx context.Context, p access.Principal, patients []string) ([]access.ConflictMark, error)
}

type worklistPage struct {
	page
	From, To string // YYYY-MM-DD, for the form
	Period   string
	Patients []worklistPatient
	Empty    string
	Note     string // why the list may be incomplete
}

type worklistPatient struct {
	ID       string // heading id
	Banner   *patientBanner
	Href     string // the patient's clinician page
	Problems []worklistProblem
	rank     int // most severe open problem, for sorting
	day      string
}

// worklistProblem is the conflicts of one patient that are one problem:
// the same rule over the same stay, or between the same organisations.
type worklistProblem struct {
	conflictView        // the first occurrence: heading, severity, sentence, contacts
	Times        string // "3 gange: tirsdag 1. december – torsdag 3. december"
	Occurrences  []worklistOccurrence
	Open         []string // ids of the conflicts not handled yet: the form marks these
	Handled      []string // who marked which handled, and when
	Patient      string   // handle, for the form
	From, To     string   // the period, for the form to come back to
	rank         int
	day          string
}

type worklistOccurrence struct {
	Day, Message string
	Handled      bool
}

// worklist lists the conflicts in [from, to] across the cached timelines,
// by patient and problem, most severe first. Only patients someone has
// looked up are in the cache; the page says so.
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
	ctx := c.Request().Context()
	views, err := s.deps.Views.Worklist(ctx, p, from, to)
	if err != nil {
		return accessError(err)
	}
	marks, err := s.handledMarks(ctx, p, views)
	if err != nil {
		return err
	}
	for _, pv := range views {
		wp := worklistPatient{ID: "p" + shortHandle(pv.Patient.Handle), Banner: s.banner(tr, pv, now),
			Href: clinicianPrefix + "/p/" + url.PathEscape(pv.Patient.Handle)}
		wp.Problems = s.problems(tr, pv, now, marks[pv.Patient.Handle], from, to)
		if len(wp.Problems) == 0 {
			continue
		}
		wp.rank, wp.day = wp.Problems[0].rank, wp.Problems[0].day
		v.Patients = append(v.Patients, wp)
	}
	slices.SortStableFunc(v.Patients, func(a, b worklistPatient) int {
		return cmp.Or(a.rank-b.rank, cmp.Compare(a.day, b.day))
	})
	if len(v.Patients) == 0 {
		v.Empty = tr.T("worklist.empty")
	}
	return s.render(c, http.StatusOK, tr.lang, "worklist", v)
}

// handledMarks reads the marks on the listed patients' conflicts, by
// patient and conflict id; none without a mark store.
func (s *Server) handledMarks(ctx context.Context, p access.Principal, views []*view.View) (map[string]map[string]access.ConflictMark, error) {
	out := map[string]map[string]access.ConflictMark{}
	if s.deps.Marks == nil || len(views) == 0 {
		return out, nil
	}
	handles := make([]string, len(views))
	for i, pv := range views {
		handles[i] = pv.Patient.Handle
	}
	ms, err := s.deps.Marks.Handled(ctx, p, handles)
	if err != nil {
		return nil, accessError(err)
	}
	for _, m := range ms {
		if out[m.Patient] == nil {
			out[m.Patient] = map[string]access.ConflictMark{}
		}
		out[m.Patient][m.Conflict] = m
	}
	return out, nil
}

// problemKey says which of a patient's conflicts are one problem: a rule
// over the same stay (a visit during an admission, nothing after a
// discharge), else the same rule between the same organisations.
func problemKey(tl *aggregator.Timeline, index map[string]int, c aggregator.Conflict) string {
	who := func(id string) string {
		if i, ok := index[id]; ok {
			e := &tl.Entries[i]
			return cmp.Or(e.Organization, e.Source)
		}
		return id
	}
	switch {
	case c.Rule == aggregator.RuleDuringAdmission && len(c.Entries) == 2:
		return string(c.Rule) + "\x00" + c.Entries[1] + "\x00" + who(c.Entries[0])
	case c.Rule == aggregator.RuleNothingAfterDischarge:
		return string(c.Rule) + "\x00" + strings.Join(c.Entries, "\x00")
	}
	orgs := make([]string, 0, len(c.Entries))
	for _, id := range c.Entries {
		orgs = append(orgs, who(id))
	}
	slices.Sort(orgs)
	return string(c.Rule) + "\x00" + strings.Join(slices.Compact(orgs), "\x00")
}

// problems groups one patient's conflicts (those of the period) into
// problems, open ones first, each most severe first, then by day.
func (s *Server) problems(tr *translator, pv *view.View, now time.Time, marks map[string]access.ConflictMark, from, to string) []worklistProblem {
	tl := pv.Timeline
	views, _ := s.conflictViews(tr, tl, now, true, staffVoice(tr), forClinician)
	index := make(map[string]int, len(tl.Entries))
	for i := range tl.Entries {
		index[tl.Entries[i].ID] = i
	}
	type occ struct {
		c aggregator.Conflict
		v conflictView
	}
	groups := map[string][]occ{}
	var order []string
	for k, c := range tl.Conflicts {
		key := problemKey(tl, index, c)
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], occ{c: c, v: views[k]})
	}
	var out []worklistProblem
	for _, key := range order {
		occs := groups[key]
		slices.SortStableFunc(occs, func(a, b occ) int { return cmp.Compare(a.c.Day, b.c.Day) })
		pr := worklistProblem{conflictView: occs[0].v, Patient: pv.Patient.Handle, From: from, To: to,
			day: occs[0].c.Day, rank: occs[0].c.Severity.Rank()}
		pr.Entries = nil // their anchors belong to the patient's page
		pr.PatientHref = clinicianPrefix + "/p/" + url.PathEscape(pv.Patient.Handle) + "#" + pr.Anchor
		seenContact := map[contactView]bool{}
		for _, cv := range pr.Contacts {
			seenContact[cv] = true
		}
		seenMark := map[string]bool{}
		for _, o := range occs {
			pr.rank = min(pr.rank, o.c.Severity.Rank()) // a rule has one severity; in case it has not
			for _, cv := range o.v.Contacts {
				if !seenContact[cv] {
					seenContact[cv] = true
					pr.Contacts = append(pr.Contacts, cv)
				}
			}
			m, handled := marks[o.c.ID]
			pr.Occurrences = append(pr.Occurrences, worklistOccurrence{Day: o.v.Day, Message: o.v.Message, Handled: handled})
			if !handled {
				pr.Open = append(pr.Open, o.c.ID)
				continue
			}
			line := tr.F("worklist.handled_by", m.ActorName, tr.when(m.At.In(s.loc), now))
			if !seenMark[line] {
				seenMark[line] = true
				pr.Handled = append(pr.Handled, line)
			}
		}
		if n := len(occs); n > 1 {
			pr.Times = tr.F("worklist.times", n, occs[0].v.Day, occs[n-1].v.Day)
		}
		if len(pr.Open) == 0 {
			pr.rank += 100 // handled problems go last
		}
		out = append(out, pr)
	}
	slices.SortStableFunc(out, func(a, b worklistProblem) int {
		return cmp.Or(a.rank-b.rank, cmp.Compare(a.day, b.day))
	})
	return out
}

// markHandledForm is POST /clinician/conflicts/handled: the problem's open
// conflicts marked handled by the caller, then back to the worklist.
func (s *Server) markHandledForm(c echo.Context) error {
	if s.deps.Marks == nil {
		return errNotFound(errors.New("no mark store"))
	}
	if err := c.Request().ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("parse handled form: %w", err)
		}
		return errBadRequest("error.bad_request", fmt.Errorf("parse handled form: %w", err))
	}
	f := c.Request().PostForm
	p, err := s.principal(c)
	if err != nil {
		return err
	}
	if err := s.deps.Marks.MarkHandled(c.Request().Context(), p, f.Get("patient"), f["conflict"]); err != nil {
		return accessError(err)
	}
	// Back to the same period, built here: the form's values are checked
	// as dates, so the redirect goes nowhere else.
	q := url.Values{}
	for _, k := range []string{"from", "to"} {
		if d := f.Get(k); d != "" {
			if _, err := time.Parse(time.DateOnly, d); err == nil {
				q.Set(k, d)
			}
		}
	}
	back := clinicianPrefix + "/conflicts"
	if len(q) > 0 {
		back += "?" + q.Encode()
	}
	return c.Redirect(http.StatusSeeOther, back+"#p"+url.PathEscape(shortHandle(f.Get("patient"))))
}
