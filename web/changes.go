package web

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/view"
)

type changeJSON struct {
	Entry    string    `json:"entry"`
	Kind     string    `json:"kind"`
	Version  int64     `json:"version"`
	Noticed  *string   `json:"noticed"`
	Title    string    `json:"title"`
	OldStart *string   `json:"old_start"`
	OldEnd   *string   `json:"old_end"`
	OldPlace placeJSON `json:"old_place"`
}

// apiChanges is GET /api/v1/patients/{handle}/changes?since=RFC3339: what
// changed per entry, oldest first. Reading changes is reading the timeline,
// so it is authorized and audited the same way.
func (s *Server) apiChanges(c echo.Context) error {
	var since time.Time
	if v := c.QueryParam("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return errBadRequest("error.bad_since", fmt.Errorf("since: %w", err))
		}
		since = t
	}
	v, err := s.open(c, view.Request{Handle: c.Param("handle"), Reason: c.Request().Header.Get(ReasonHeader), Changes: true, Since: since})
	if err != nil {
		return err
	}
	out := []changeJSON{}
	for _, ch := range v.Changes {
		out = append(out, changeJSON{
			Entry: ch.EntryID, Kind: string(ch.Kind), Version: ch.Version, Noticed: jsonTime(ch.Noticed, s.loc), Title: ch.Title,
			OldStart: jsonTime(ch.OldStart, s.loc), OldEnd: jsonTime(ch.OldEnd, s.loc),
			OldPlace: placeJSON{Name: ch.OldPlace.Name, Address: ch.OldPlace.Address, Lat: ch.OldPlace.Lat, Lon: ch.OldPlace.Lon},
		})
	}
	return s.writeJSON(c, http.StatusOK, struct {
		Changes []changeJSON `json:"changes"`
	}{out})
}

// seenCookie remembers, per patient page, the build time of the timeline the
// viewer last saw there, so the next view marks what changed since. Scoped
// to that page's path, it goes nowhere else.
const seenCookie = "seen"

// lastSeen is the build time of the timeline the viewer last saw on this
// patient's page, from its cookie; ok=false on a first look.
func lastSeen(c echo.Context) (time.Time, bool) {
	ck, err := c.Cookie(seenCookie)
	if err != nil {
		return time.Time{}, false
	}
	ns, err := strconv.ParseInt(ck.Value, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

// remember sets the cookie that says which build this viewer has now seen.
func (s *Server) remember(c echo.Context, handle string, tl *aggregator.Timeline) {
	if tl.GeneratedAt.IsZero() {
		return
	}
	c.SetCookie(&http.Cookie{Name: seenCookie, Value: strconv.FormatInt(tl.GeneratedAt.UnixNano(), 10), Path: patientPath(handle),
		MaxAge: 90 * 24 * 3600, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.cfg.TLS || c.IsTLS()})
}

// changeMarks turns the changes since the viewer last looked (the view's,
// visible ones only) into a label per entry ID ("Ny", "Flyttet fra tirsdag
// 10.00", "Aflyst siden sidst") and lines for the removed entries.
func (s *Server) changeMarks(tr *translator, changes []aggregator.Change, now time.Time) (map[string]string, []string) {
	if len(changes) == 0 {
		return nil, nil
	}
	at := func(t time.Time) string { return tr.shortDate(t.In(s.loc), now) + " " + tr.clock(t.In(s.loc)) }
	labels := map[string]string{}
	var removed []aggregator.Mark
	for id, m := range aggregator.Marks(changes) {
		switch m.Kind {
		case aggregator.ChangeAdded:
			labels[id] = tr.T("change.added")
		case aggregator.ChangeMoved:
			labels[id] = tr.F("change.moved", at(m.OldStart))
		case aggregator.ChangeCancelled:
			labels[id] = tr.T("change.cancelled")
		case aggregator.ChangeRemoved:
			removed = append(removed, m)
		}
	}
	slices.SortFunc(removed, func(a, b aggregator.Mark) int { return a.OldStart.Compare(b.OldStart) })
	var lines []string
	for _, m := range removed {
		lines = append(lines, tr.F("change.removed", m.Title, at(m.OldStart)))
	}
	return labels, lines
}
