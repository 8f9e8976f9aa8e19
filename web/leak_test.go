package web

import (
	"context"
	"encoding/json"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
	"github.com/overblik/overblik/view"
)

// What a viewer may not see must not be reachable by any route: not as an
// entry, nor in a conflict, a change, a message or a count. These tests run
// the real aggregator service (memory cache), the real access service on
// SQLite and the real view; only the sources are the test's.

// stubSource serves the entries the test sets.
type stubSource struct {
	name   string
	sector aggregator.Sector
	mu     sync.Mutex
	es     []aggregator.Entry
}

func (s *stubSource) Name() string              { return s.name }
func (s *stubSource) Sector() aggregator.Sector { return s.sector }
func (s *stubSource) Fetch(context.Context, aggregator.PatientRef, aggregator.Window) (aggregator.Batch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return aggregator.Batch{Entries: slices.Clone(s.es)}, nil
}
func (s *stubSource) set(es ...aggregator.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.es = es
}

type realEnv struct {
	*secEnv
	svc       *aggregator.Service
	hosp, kom *stubSource
	ref       aggregator.PatientRef // patient A
	since     time.Time             // before the changes
}

// The hidden entry, by everything that could name it.
const (
	hiddenID    = "hosp/Appointment/psyk"
	hiddenTitle = "Samtale i psykiatrisk ambulatorium"
	hiddenPlace = "Psykiatrisk ambulatorium"
	goneID      = "hosp/Appointment/psyk-2"
	goneTitle   = "Psykiatrisk opfølgning"
)

func hidden(s string) []string {
	var out []string
	for _, w := range []string{hiddenID, hiddenTitle, hiddenPlace, goneID, goneTitle, "psyk"} {
		if strings.Contains(s, w) {
			out = append(out, w)
		}
	}
	return out
}

// newRealEnv gives patient A a restricted psychiatric appointment that
// overlaps a visible home-care visit, a visible overlap of its own, and
// changes of both kinds since e.since: the restricted entry moved, a second
// restricted entry came and went, a visible one moved.
func newRealEnv(t *testing.T) *realEnv {
	t.Helper()
	ctx := context.Background()
	base := newSecEnv(t)
	loc := cph(t)
	at := func(d, h, m int) time.Time { return time.Date(2026, 12, d, h, m, 0, 0, loc) }
	e := &realEnv{secEnv: base,
		hosp: &stubSource{name: "hosp", sector: aggregator.SectorHospital},
		kom:  &stubSource{name: "kom", sector: aggregator.SectorMunicipality}}
	var err error
	e.svc, err = aggregator.New([]aggregator.Registration{
		{Source: e.hosp, Display: "Aarhus Universitetshospital"}, {Source: e.kom, Display: "Aarhus Kommune"},
	}, memcache.NewBackend(0), aggregator.Options{Now: func() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return *e.now },
		Location: loc, FreshFor: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.svc.Close)
	appt := func(src *stubSource, id, title, place, org string, start time.Time, min int, restricted bool) aggregator.Entry {
		en := aggregator.Entry{ID: src.name + "/Appointment/" + id, Kind: aggregator.KindAppointment, Status: aggregator.StatusBooked,
			Start: start, End: start.Add(time.Duration(min) * time.Minute), Title: title, Place: aggregator.Place{Name: place},
			Organization: org, Contact: "0000 1000", Medium: aggregator.MediumInPerson, Sensitivity: aggregator.SensitivityNormal}
		if restricted {
			en.Sensitivity = aggregator.SensitivityRestricted
		}
		return en
	}
	psych := appt(e.hosp, "psyk", hiddenTitle, hiddenPlace, "Aarhus Universitetshospital", at(3, 13, 0), 60, true)
	xray := appt(e.hosp, "xray", "Røntgen af knæ", "Røntgen", "Aarhus Universitetshospital", at(7, 9, 0), 30, false)
	care := appt(e.kom, "care", "Hjemmepleje", "Hjemme", "Hjemmeplejen Midtbyen", at(3, 13, 30), 30, false)
	train := appt(e.kom, "train", "Genoptræning", "Sundhedshuset", "Aarhus Kommune", at(7, 9, 15), 45, false)
	e.hosp.set(psych, xray)
	e.kom.set(care, train)

	// Patient A's timeline as the sources have it; the entries the fake
	// timelines of secEnv had are gone.
	pats := e.pats
	e.ref, err = pats.Register(ctx, aggregator.Identifier{System: testSystem, Value: cprA})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Refresh(ctx, e.ref); err != nil {
		t.Fatal(err)
	}
	e.since = *e.now
	e.advance(time.Minute)
	moved := psych
	moved.Start, moved.End = at(3, 13, 10), at(3, 14, 10)
	gone := appt(e.hosp, "psyk-2", goneTitle, hiddenPlace, "Aarhus Universitetshospital", at(10, 10, 0), 30, true)
	train.Start, train.End = at(7, 9, 10), at(7, 9, 55)
	e.hosp.set(moved, xray, gone)
	e.kom.set(care, train)
	if _, err := e.svc.Refresh(ctx, e.ref); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Minute)
	e.hosp.set(moved, xray)
	if _, err := e.svc.Refresh(ctx, e.ref); err != nil {
		t.Fatal(err)
	}

	log := slog.New(slog.DiscardHandler)
	clock := func() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return *e.now }
	s := New(Config{Location: loc, DefaultIdentifierSystem: testSystem, LoginPath: "/auth/login", RateLimits: RateLimits{Login: 1000, Lookup: 1000}},
		Deps{Views: view.New(e.svc, pats, view.Options{Access: e.secEnv.svc, Conflicted: e.svc, ByOrganization: true, Now: clock}), Patients: pats,
			Auth: e.auth, Access: e.secEnv.svc, Logger: log})
	s.now = clock
	e.h = s.Handler()
	return e
}

// getJSON reads a JSON answer as user, with a clinician's reason.
func (e *realEnv) getJSON(t *testing.T, user, path string, v any) string {
	t.Helper()
	rec := e.do(t, user, http.MethodGet, path, "", ReasonHeader+": ward round")
	if rec.Code != http.StatusOK {
		t.Fatalf("%s as %s: status %d: %s", path, user, rec.Code, rec.Body)
	}
	if v != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	return rec.Body.String()
}

type answer struct {
	Entries []struct {
		ID          string `json:"id"`
		Sensitivity string `json:"sensitivity"`
	} `json:"entries"`
	Sources []struct {
		Name    string `json:"name"`
		Entries int    `json:"entries"`
	} `json:"sources"`
	Conflicts []struct {
		Entries []string `json:"entries"`
		Message string   `json:"message"`
	} `json:"conflicts"`
	Changes []struct {
		Entry string `json:"entry"`
		Kind  string `json:"kind"`
		Title string `json:"title"`
	} `json:"changes"`
}

func (a answer) ids() map[string]bool {
	m := map[string]bool{}
	for _, en := range a.Entries {
		m[en.ID] = true
	}
	return m
}

func TestRelativeWithoutRestrictedSeesNothingOfThem(t *testing.T) {
	e := newRealEnv(t)
	since := url.QueryEscape(e.since.Format(time.RFC3339Nano))
	base := "/api/v1/patients/" + e.ref.Handle
	for _, path := range []string{base + "/timeline", base + "/conflicts", base + "/changes?since=" + since,
		base + "/timeline?lang=en", base + "/conflicts?lang=en"} {
		body := e.getJSON(t, "relative", path, nil)
		if w := hidden(body); len(w) > 0 {
			t.Errorf("%s tells the relative of the hidden entries (%v): %.600s", path, w, body)
		}
	}
	// The page, first look and with what changed since the relative's last.
	for _, cookie := range []string{"", seenCookie + "=" + itoa(e.since.UnixNano())} {
		hs := []string{}
		if cookie != "" {
			hs = append(hs, "Cookie: "+cookie)
		}
		rec := e.do(t, "relative", http.MethodGet, "/p/"+e.ref.Handle, "", hs...)
		if rec.Code != http.StatusOK {
			t.Fatalf("page: %d", rec.Code)
		}
		if w := hidden(html.UnescapeString(rec.Body.String())); len(w) > 0 {
			t.Errorf("the page (cookie %q) tells the relative of the hidden entries (%v)", cookie, w)
		}
		if cookie != "" && !strings.Contains(rec.Body.String(), "Flyttet fra") {
			t.Error("the relative's page does not mark the visible move: the test would prove nothing")
		}
	}
	// The counts do not give it away either.
	var rel answer
	e.getJSON(t, "relative", base+"/timeline", &rel)
	for _, s := range rel.Sources {
		if s.Name == "hosp" && s.Entries != 1 {
			t.Errorf("the hospital counts %d entries for the relative, who sees 1", s.Entries)
		}
	}

	// The patient herself sees the entry, its conflict and its changes.
	var own answer
	body := e.getJSON(t, "patientA", base+"/timeline", &own)
	if !own.ids()[hiddenID] || !strings.Contains(body, hiddenTitle) {
		t.Fatal("patient A does not see her own restricted entry")
	}
	found := false
	for _, c := range own.Conflicts {
		found = found || slices.Contains(c.Entries, hiddenID)
	}
	if !found {
		t.Error("patient A does not see the conflict her restricted entry is part of")
	}
	var ch answer
	e.getJSON(t, "patientA", base+"/changes?since="+since, &ch)
	var kinds []string
	for _, c := range ch.Changes {
		kinds = append(kinds, c.Entry+" "+c.Kind)
	}
	slices.Sort(kinds)
	if want := []string{"hosp/Appointment/psyk moved", "hosp/Appointment/psyk-2 removed", "kom/Appointment/train moved"}; !slices.Equal(kinds, want) {
		t.Errorf("patient A's changes = %v, want %v", kinds, want)
	}
	// Every view is in her log.
	views := 0
	for _, ev := range e.auditRows(t, "patientA") {
		if ev.Action == access.ActionView && ev.ActorRole == access.RoleRelative {
			views++
		}
	}
	if views != 8 {
		t.Errorf("patient A's log holds %d views by the relative, want the 8 made", views)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestEveryAnswerRefersOnlyToItsOwnEntries walks every route that shows
// patient data as every role that may use it: each conflict and change in
// an answer names only entries of that viewer's timeline (a removed entry,
// gone from every timeline, only when the viewer may know of it).
func TestEveryAnswerRefersOnlyToItsOwnEntries(t *testing.T) {
	e := newRealEnv(t)
	base := "/api/v1/patients/" + e.ref.Handle
	since := url.QueryEscape(e.since.Format(time.RFC3339Nano))
	anchor := regexp.MustCompile(`href="#(e\d+)"`)
	for _, user := range []string{"patientA", "relative", "clinician", "clinician-key"} {
		t.Run(user, func(t *testing.T) {
			var tl answer
			e.getJSON(t, user, base+"/timeline", &tl)
			mine := tl.ids()
			restricted := false
			for _, en := range tl.Entries {
				restricted = restricted || en.Sensitivity == string(aggregator.SensitivityRestricted)
			}
			check := func(route string, a answer) {
				for _, c := range a.Conflicts {
					for _, id := range c.Entries {
						if !mine[id] {
							t.Errorf("%s: a conflict names %s, not in the viewer's timeline", route, id)
						}
					}
				}
				for _, c := range a.Changes {
					if !mine[c.Entry] && !(c.Kind == "removed" && (restricted || len(hidden(c.Entry)) == 0)) {
						t.Errorf("%s: a change names %s (%s), not in the viewer's timeline", route, c.Entry, c.Kind)
					}
				}
			}
			check("timeline", tl)
			var cs, ch answer
			e.getJSON(t, user, base+"/conflicts", &cs)
			check("conflicts", cs)
			e.getJSON(t, user, base+"/changes?since="+since, &ch)
			check("changes", ch)
			if len(cs.Conflicts) != len(tl.Conflicts) {
				t.Errorf("the conflicts route has %d, the timeline %d", len(cs.Conflicts), len(tl.Conflicts))
			}

			// The pages: every link from a conflict to an entry lands on an
			// entry of the same page, and nothing hidden is named.
			var page string
			switch user {
			case "patientA", "relative":
				page = e.do(t, user, http.MethodGet, "/p/"+e.ref.Handle, "", "Cookie: "+seenCookie+"="+itoa(e.since.UnixNano())).Body.String()
			case "clinician":
				page = e.do(t, user, http.MethodPost, "/clinician/p/"+e.ref.Handle, form("reason", "ward round", "csrf", testCSRF), formCT).Body.String()
			default:
				return
			}
			for _, m := range anchor.FindAllStringSubmatch(page, -1) {
				if !strings.Contains(page, `id="`+m[1]+`"`) {
					t.Errorf("the page links to #%s, which it does not hold", m[1])
				}
			}
			if !restricted {
				if w := hidden(html.UnescapeString(page)); len(w) > 0 {
					t.Errorf("the page names hidden entries: %v", w)
				}
			}
		})
	}
	// The worklist names only the clinician's patients' conflicts, and
	// each links to the patient's page.
	work := e.do(t, "clinician", http.MethodGet, "/clinician/conflicts?from=2026-12-01&to=2026-12-31", "").Body.String()
	if !strings.Contains(work, "/clinician/p/"+e.ref.Handle) {
		t.Errorf("the worklist lacks patient A, whom the clinician looked up: %.500s", work)
	}
}
