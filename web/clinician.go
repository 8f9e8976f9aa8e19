package web

import (
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/internal/cpr"
	"github.com/overblik/overblik/view"
)

// A clinician's pages: one patient's timeline with its conflicts, opened
// with a reason, under a banner that says who the patient is.

// patientBanner opens every clinician page about a patient, so a nurse
// knows whom she is calling about: the name the sources give, the age and
// the CPR number with its last four digits hidden. The name and the CPR
// number come from the view, which gives them only to a viewer it let see
// the patient; they are in the page body only, never in its title or URL.
type patientBanner struct {
	Name string // "" when no source gave one
	Age  string // "85 år"; "" without a CPR number
	CPR  string // "300241-xxxx"; "" for another kind of identifier
}

// banner is the banner of what v shows, at now.
func (s *Server) banner(tr *translator, v *view.View, now time.Time) *patientBanner {
	b := &patientBanner{Name: v.Name}
	if id := v.Patient.Identifier; id.System == SystemCPR {
		if n, err := cpr.Parse(id.Value); err == nil {
			b.CPR = cpr.Masked(n)
			b.Age = tr.F("pbanner.age", cpr.BirthDate(n).Age(now.In(s.loc)))
		}
	}
	return b
}

// firstName is how a relative's note names the patient: "Birthe" of
// "Birthe Østergaard Madsen".
func firstName(name string) string {
	f := strings.Fields(name)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// viewVoice is the voice in which the reader of v reads its conflicts.
func viewVoice(tr *translator, v *view.View) voice {
	switch v.Decision.Role {
	case access.RoleClinician:
		return staffVoice(tr)
	case access.RoleRelative:
		return relativeVoice(tr, v.Name)
	}
	return voice{}
}

// ctxRelativeKey holds, on a relative's request for a timeline page, the
// patient's name as the view gave it, so the page's sentences name her.
const ctxRelativeKey = "overblik.relative"

// readerVoice is the voice of a page: staff on a clinician's, the
// relative's on a page whose request carries ctxRelativeKey, else the
// patient's.
func readerVoice(c echo.Context, tr *translator, clinician bool) voice {
	if clinician {
		return staffVoice(tr)
	}
	if name, ok := c.Get(ctxRelativeKey).(string); ok {
		return relativeVoice(tr, name)
	}
	return voice{}
}

// markHandledOn says on a patient's conflicts which a clinician marked
// handled on the worklist, by whom and when.
func (s *Server) markHandledOn(c echo.Context, tr *translator, pv *view.View, cvs []conflictView, now time.Time) error {
	if s.deps.Marks == nil || len(cvs) == 0 {
		return nil
	}
	p, err := s.principal(c)
	if err != nil {
		return err
	}
	ms, err := s.deps.Marks.Handled(c.Request().Context(), p, []string{pv.Patient.Handle})
	if err != nil {
		return accessError(err)
	}
	by := make(map[string]access.ConflictMark, len(ms))
	for _, m := range ms {
		by["c"+m.Conflict] = m
	}
	for i := range cvs {
		if m, ok := by[cvs[i].Anchor]; ok {
			cvs[i].HandledBy = tr.F("worklist.handled_by", m.ActorName, tr.when(m.At.In(s.loc), now.In(s.loc)))
		}
	}
	return nil
}
