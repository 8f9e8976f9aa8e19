package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/overblik/overblik/aggregator"
)

// ChangeLister is what the web needs to say what changed since a viewer
// last looked. The aggregator's service provides it; it is optional.
type ChangeLister interface {
	Changes(ctx context.Context, handle string, since time.Time) ([]aggregator.Change, error)
}

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

// visibleChanges keeps the changes of entries the viewer sees: those in
// their (filtered) timeline, and removed ones only for a viewer who sees
// restricted entries, since a removed entry's sensitivity is gone with it.
func visibleChanges(changes []aggregator.Change, tl *aggregator.Timeline, restricted bool) []aggregator.Change {
	shown := make(map[string]bool, len(tl.Entries))
	for _, e := range tl.Entries {
		shown[e.ID] = true
	}
	out := changes[:0:0]
	for _, c := range changes {
		if shown[c.EntryID] || (c.Kind == aggregator.ChangeRemoved && restricted) {
			out = append(out, c)
		}
	}
	return out
}

// apiChanges is GET /api/v1/patients/{handle}/changes?since=RFC3339: what
// changed per entry, oldest first. Reading changes is reading the timeline,
// so it is authorized and audited the same way.
func (s *Server) apiChanges(c echo.Context) error {
	lister, ok := s.tl.(ChangeLister)
	if !ok {
		return errNotFound(errors.New("changes are not kept"))
	}
	var since time.Time
	if v := c.QueryParam("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return errBadRequest("error.bad_since", fmt.Errorf("since: %w", err))
		}
		since = t
	}
	p, tl, d, err := s.authorizedDecision(c, c.Param("handle"), c.Request().Header.Get(ReasonHeader))
	if err != nil {
		return err
	}
	changes, err := lister.Changes(c.Request().Context(), p.Handle, since)
	if err != nil {
		return fmt.Errorf("changes: %w", err)
	}
	out := []changeJSON{}
	for _, ch := range visibleChanges(changes, tl, d.Restricted || !s.secured()) {
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

// changeMarks finds what changed since the viewer last looked at this
// page: a label per entry ID ("Ny", "Flyttet fra tirsdag 10.00", "Aflyst
// siden sidst") and the removed entries, and remembers this look.
func (s *Server) changeMarks(c echo.Context, tr *translator, handle string, tl *aggregator.Timeline, restricted bool, now time.Time) (map[string]string, []string) {
	lister, ok := s.tl.(ChangeLister)
	if !ok || tl.GeneratedAt.IsZero() {
		return nil, nil
	}
	defer c.SetCookie(&http.Cookie{Name: seenCookie, Value: strconv.FormatInt(tl.GeneratedAt.UnixNano(), 10), Path: patientPath(handle),
		MaxAge: 90 * 24 * 3600, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.cfg.TLS || c.IsTLS()})
	ck, err := c.Cookie(seenCookie)
	if err != nil {
		return nil, nil // first look: nothing is new to this viewer yet
	}
	ns, err := strconv.ParseInt(ck.Value, 10, 64)
	if err != nil || ns >= tl.GeneratedAt.UnixNano() {
		return nil, nil // seen this build already
	}
	changes, err := lister.Changes(c.Request().Context(), handle, time.Unix(0, ns))
	if err != nil {
		s.log.Warn("changes unavailable", "patient", handle, "err", err)
		return nil, nil
	}
	at := func(t time.Time) string { return tr.shortDate(t.In(s.loc), now) + " " + tr.clock(t.In(s.loc)) }
	labels := map[string]string{}
	var removed []aggregator.Mark
	for id, m := range aggregator.Marks(visibleChanges(changes, tl, restricted)) {
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

// applyMarks puts the labels on the entries of a page.
func applyMarks(v *timelinePage, tl *aggregator.Timeline, labels map[string]string) {
	if len(labels) == 0 {
		return
	}
	apply := func(evs []entryView) {
		for i := range evs {
			if n := evs[i].N; n >= 0 && n < len(tl.Entries) {
				evs[i].Mark = labels[tl.Entries[n].ID]
			}
		}
	}
	for i := range v.Earlier {
		apply(v.Earlier[i].Entries)
	}
	apply(v.Today)
	for i := range v.Upcoming {
		apply(v.Upcoming[i].Entries)
	}
}
