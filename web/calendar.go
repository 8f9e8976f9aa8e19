package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/calendar"
	"github.com/overblik/overblik/view"
)

// Calendar feeds and downloads: a person's own timeline, or one delegated
// to them, in their own calendar app.
//
//   - GET /calendar/{secret}.ics is the feed an app subscribes to, with no
//     cookie: the secret finds the feed, the feed's record is the viewer,
//     and the view is opened for them as ActionCalendar, audited once an
//     hour per feed. It answers 304 when the app has what it would get, and
//     renders once per build and day.
//   - POST and DELETE /api/v1/patients/{handle}/calendar make (or replace)
//     and stop the caller's feed of a patient; /account does the same with
//     forms. The address is shown once: only its hash is kept.
//   - GET /p/{handle}/entries/{key}.ics downloads one entry, read through
//     the view as the page is.
//
// The secret is a bearer credential: it is never logged (the error handler
// logs the route pattern and the handle parameter only, and the feed's
// route has no handle), never put in an error, and the address is built
// from Config.PublicURL, never from the request.

// CalendarFeeds keeps calendar feeds; *access.Service implements it.
type CalendarFeeds interface {
	CreateFeed(ctx context.Context, p access.Principal, patient, lang string) (access.Feed, string, error)
	RevokeFeed(ctx context.Context, p access.Principal, patient string) error
	Feeds(ctx context.Context, p access.Principal) ([]access.Feed, error)
	FeedBySecret(ctx context.Context, secret string) (access.Feed, error)
}

const (
	icsType = "text/calendar; charset=utf-8"
	// feedAuditEvery: a calendar app polling every few minutes is in the
	// patient's log about once an hour per feed.
	feedAuditEvery = time.Hour
	// feedCacheControl lets the app keep the feed but ask again each
	// time (a 304 when nothing changed); no shared cache may keep it.
	feedCacheControl = "private, no-cache"
	ctxNewFeedKey    = "overblik.newfeed"
	calendarPath     = "/calendar/"
)

// calendarRoutes adds the routes of feeds and downloads.
func (s *Server) calendarRoutes(e *echo.Echo, api *echo.Group) {
	people := s.require(access.RolePatient, access.RoleRelative)
	e.GET("/p/:handle/entries/:entry", s.entryCalendar, people)
	if !s.secured() || s.cfg.PublicURL == "" {
		return // feeds need access control, and an address to give out
	}
	e.GET(calendarPath+":file", s.calendarFeed)
	api.POST("/patients/:handle/calendar", s.apiCreateFeed, limitBody, people, s.checkCSRF)
	api.DELETE("/patients/:handle/calendar", s.apiRevokeFeed, limitBody, people, s.checkCSRF)
	e.POST("/account/calendar", s.calendarForm, limitBody, s.require(access.RolePatient), s.checkCSRF)
	e.POST("/account/calendar/revoke", s.revokeCalendarForm, limitBody, s.require(access.RolePatient), s.checkCSRF)
}

// feedURL is the address of a feed with secret, under Config.PublicURL.
func (s *Server) feedURL(secret string) string {
	return strings.TrimRight(s.cfg.PublicURL, "/") + calendarPath + secret + ".ics"
}

// webcal is the same address for calendar apps that subscribe to webcal:
// links (Apple's, Outlook's).
func webcal(u string) string {
	if rest, ok := strings.CutPrefix(u, "https://"); ok {
		return "webcal://" + rest
	}
	return "webcal://" + strings.TrimPrefix(u, "http://")
}

type feedJSON struct {
	URL    string `json:"url"`
	Webcal string `json:"webcal"`
}

// apiCreateFeed makes the caller's feed of the patient, replacing the one
// they had, and answers its address, which is never shown again.
func (s *Server) apiCreateFeed(c echo.Context) error {
	p, err := s.principal(c)
	if err != nil {
		return err
	}
	_, secret, err := s.deps.Access.CreateFeed(c.Request().Context(), p, c.Param("handle"), s.translatorFor(c).lang)
	if err != nil {
		return accessError(err)
	}
	u := s.feedURL(secret)
	return s.writeJSON(c, http.StatusOK, feedJSON{URL: u, Webcal: webcal(u)})
}

func (s *Server) apiRevokeFeed(c echo.Context) error {
	p, err := s.principal(c)
	if err != nil {
		return err
	}
	if err := s.deps.Access.RevokeFeed(c.Request().Context(), p, c.Param("handle")); err != nil {
		return accessError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

// calendarFeed serves a feed to a calendar app. A feed that is revoked,
// replaced or unknown, or whose viewer may no longer see the patient (a
// delegation that ended), is 404 like any unknown address.
func (s *Server) calendarFeed(c echo.Context) error {
	secret, ok := strings.CutSuffix(c.Param("file"), ".ics")
	if !ok {
		return errNotFound(errors.New("calendar: not an .ics address"))
	}
	// A secret is a bearer credential: wrong ones count against the
	// address as wrong bearer tokens do, so guessing costs the guesser.
	if wait, over := s.failedBearer.exceeded(clientKey(c)); over {
		return tooManyRequests(c, wait)
	}
	ctx := c.Request().Context()
	f, err := s.deps.Access.FeedBySecret(ctx, secret)
	if errors.Is(err, access.ErrNotVisible) {
		s.badBearer(c)
	}
	if err != nil {
		return accessError(err)
	}
	v, err := s.deps.Views.Open(ctx, view.Request{Principal: f.Principal(), Handle: f.Patient, Action: access.ActionCalendar,
		AuditKey: "calendar-feed:" + f.ID, AuditEvery: feedAuditEvery})
	if err != nil {
		return accessError(err)
	}
	tr := s.tr[langDA]
	if t, ok := s.tr[f.Lang]; ok {
		tr = t
	}
	body, etag := s.renderFeed(tr, f, v)
	modified := s.feedsSeen.modified(f.ID, etag, v.Timeline.GeneratedAt)
	h := c.Response().Header()
	h.Set("Cache-Control", feedCacheControl)
	h.Set("ETag", etag)
	if !modified.IsZero() {
		h.Set("Last-Modified", modified.UTC().Format(http.TimeFormat))
	}
	if notModified(c.Request(), etag, modified) {
		return c.NoContent(http.StatusNotModified)
	}
	h.Set("Content-Disposition", `inline; filename="overblik.ics"`)
	return writeBytes(c, http.StatusOK, icsType, body)
}

// renderFeed renders the feed of v once per build, day and feed (its UIDs
// and name are its own), with its ETag: a hash of the bytes, so a rebuild
// with the same entries keeps it and the app gets a 304.
func (s *Server) renderFeed(tr *translator, f access.Feed, v *view.View) (body []byte, etag string) {
	tl := v.Timeline
	today := s.today()
	key := renderKey{handle: v.Patient.Handle, version: tl.Version, generated: tl.GeneratedAt.UnixNano(),
		view: "ics:" + f.ID + ":" + today.Format(time.DateOnly), lang: tr.lang, restricted: v.Decision.Restricted}
	etagKey := key
	etagKey.view = "ics-etag:" + key.view
	if !tl.GeneratedAt.IsZero() {
		if b, ok := s.renders.get(key); ok {
			if e, ok := s.renders.getText(etagKey); ok {
				return b, e
			}
		}
	}
	body = calendar.Feed(v, s.calendarOptions(tr, "feed:"+f.ID, today))
	sum := sha256.Sum256(body)
	etag = `"` + hex.EncodeToString(sum[:16]) + `"`
	if !tl.GeneratedAt.IsZero() {
		s.renders.put(key, body)
		s.renders.putText(etagKey, etag)
	}
	return body, etag
}

// today is midnight in the display zone: a feed written at any time of a
// day is the same, so every replica renders the same bytes for a build.
func (s *Server) today() time.Time {
	y, m, d := s.now().In(s.loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, s.loc)
}

func (s *Server) calendarOptions(tr *translator, scope string, now time.Time) calendar.Options {
	return calendar.Options{Location: s.loc, Now: now, Scope: scope, Texts: calendar.Texts{
		Title: func(e *aggregator.Entry) string { return entryTitle(tr, e) },
		Medium: func(m aggregator.Medium) string {
			switch m {
			case aggregator.MediumVideo, aggregator.MediumPhone, aggregator.MediumHomeVisit:
				return tr.T("medium." + string(m))
			}
			return ""
		},
		Name: tr.T("calendar.name"), NameNone: tr.T("calendar.name_none"), Cancelled: tr.T("calendar.cancelled"),
		Instruction: tr.T("entry.instruction"), With: tr.T("entry.with"), Contact: tr.T("entry.contact"),
		Source: tr.T("calendar.source"), Video: tr.T("calendar.video"),
	}}
}

// notModified applies RFC 9110's conditional GET: If-None-Match when sent
// (If-Modified-Since is then ignored), else If-Modified-Since.
func notModified(r *http.Request, etag string, modified time.Time) bool {
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		for _, t := range strings.Split(inm, ",") {
			t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
			if t == etag || t == "*" {
				return true
			}
		}
		return false
	}
	ims, err := http.ParseTime(r.Header.Get("If-Modified-Since"))
	return err == nil && !modified.IsZero() && !modified.Truncate(time.Second).After(ims)
}

// feedsSeen remembers, per feed, the ETag this replica last served and
// since which build: Last-Modified is when the feed last changed, not the
// build, so If-Modified-Since works across rebuilds that changed nothing.
// A replica that forgot (a restart, another replica) says the build's
// time, which is never earlier than the change: at worst one 200 too many.
type feedsSeen struct {
	mu sync.Mutex
	m  map[string]feedSeen
}

// maxFeedsSeen bounds the feeds a replica remembers.
const maxFeedsSeen = 100_000

type feedSeen struct {
	etag  string
	since time.Time
}

func (fs *feedsSeen) modified(feed, etag string, built time.Time) time.Time {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if seen, ok := fs.m[feed]; ok && seen.etag == etag {
		return seen.since
	}
	if fs.m == nil || len(fs.m) >= maxFeedsSeen {
		fs.m = make(map[string]feedSeen) // forgetting costs one 200 per feed
	}
	fs.m[feed] = feedSeen{etag: etag, since: built}
	return built
}

// entryKey names an entry in a download's address: a hash of its ID, so
// the address survives rebuilds (positions do not) and shows no resource
// ID.
func entryKey(id string) string {
	sum := sha256.Sum256([]byte("overblik entry\x00" + id))
	return hex.EncodeToString(sum[:8])
}

// entryCalendarPath is the download of one entry of a patient's timeline.
func entryCalendarPath(handle, id string) string {
	return patientPath(handle) + "/entries/" + entryKey(id) + ".ics"
}

// entryCalendar downloads one entry as a calendar of one event, read
// through the view exactly as the timeline page is.
func (s *Server) entryCalendar(c echo.Context) error {
	key, ok := strings.CutSuffix(c.Param("entry"), ".ics")
	if !ok {
		return errNotFound(errors.New("calendar: not an .ics address"))
	}
	v, err := s.open(c, view.Request{Handle: c.Param("handle")})
	if err != nil {
		return err
	}
	var id string
	for i := range v.Timeline.Entries {
		if entryKey(v.Timeline.Entries[i].ID) == key {
			id = v.Timeline.Entries[i].ID
			break
		}
	}
	p, _ := s.principal(c)
	// One person's downloads of an entry share a UID, so a second
	// download updates the event the first made.
	body, ok := calendar.Event(v, id, s.calendarOptions(s.translatorFor(c), "download:"+p.Subject, s.today()))
	if !ok {
		return errNotFound(errors.New("calendar: no such entry on the timeline"))
	}
	c.Response().Header().Set("Content-Disposition", `attachment; filename="overblik-`+key+`.ics"`)
	return writeBytes(c, http.StatusOK, icsType, body)
}

// The account page's section: a feed for one's own timeline and one for
// each delegated to one.

type calendarSection struct {
	CSRF string
	Rows []calendarRow
	New  *newFeed // the address just made, shown this once
}

type calendarRow struct {
	Handle, Name, Since string
	Active              bool
}

type newFeed struct {
	Name, URL string
	// Webcal is the address as a webcal: link, which html/template would
	// refuse as an unknown scheme: it is ours, built from PublicURL.
	Webcal template.URL
}

// calendarSection lists the timelines the caller may have feeds of, and
// their feeds; empty when feeds are not offered.
func (s *Server) calendarSection(c echo.Context, tr *translator) (calendarSection, error) {
	id, ok := identity(c)
	if !ok || s.cfg.PublicURL == "" {
		return calendarSection{}, nil
	}
	p, ctx := id.Principal, c.Request().Context()
	feeds, err := s.deps.Access.Feeds(ctx, p)
	if err != nil {
		return calendarSection{}, fmt.Errorf("list calendar feeds: %w", err)
	}
	since := map[string]time.Time{}
	for _, f := range feeds {
		since[f.Patient] = f.Created
	}
	out := calendarSection{CSRF: id.CSRF}
	add := func(handle, name string) {
		r := calendarRow{Handle: handle, Name: name}
		if t, ok := since[handle]; ok {
			r.Active, r.Since = true, tr.F("account.calendar_since", tr.when(t.In(s.loc), s.now().In(s.loc)))
		}
		out.Rows = append(out.Rows, r)
	}
	if p.Has(access.RolePatient) && p.Handle != "" {
		add(p.Handle, tr.T("account.calendar_own"))
	}
	ds, err := s.deps.Access.Received(ctx, p)
	if err != nil {
		return calendarSection{}, fmt.Errorf("list delegations received: %w", err)
	}
	for _, d := range ds {
		add(d.Patient, s.delegatorLink(tr, d).Name)
	}
	if nf, ok := c.Get(ctxNewFeedKey).(newFeed); ok {
		out.New = &nf
	}
	return out, nil
}

// calendarForm makes (or replaces) the caller's feed of the timeline named
// by the form's handle and shows the account page with its address.
func (s *Server) calendarForm(c echo.Context) error {
	id, _ := identity(c)
	tr := s.translatorFor(c)
	handle := c.Request().PostForm.Get("handle")
	_, secret, err := s.deps.Access.CreateFeed(c.Request().Context(), id.Principal, handle, tr.lang)
	if err != nil {
		return accessError(err)
	}
	u := s.feedURL(secret)
	name := tr.T("account.calendar_own")
	if handle != id.Principal.Handle {
		name = tr.T("account.calendar_other")
		if ds, err := s.deps.Access.Received(c.Request().Context(), id.Principal); err == nil {
			for _, d := range ds {
				if d.Patient == handle {
					name = s.delegatorLink(tr, d).Name
				}
			}
		}
	}
	c.Set(ctxNewFeedKey, newFeed{Name: name, URL: u, Webcal: template.URL(webcal(u))})
	return s.renderAccount(c, http.StatusOK, "")
}

func (s *Server) revokeCalendarForm(c echo.Context) error {
	id, _ := identity(c)
	if err := s.deps.Access.RevokeFeed(c.Request().Context(), id.Principal, c.Request().PostForm.Get("handle")); err != nil {
		return accessError(err)
	}
	return c.Redirect(http.StatusSeeOther, "/account#calendar")
}
