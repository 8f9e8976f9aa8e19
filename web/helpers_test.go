package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/view"
)

const (
	testHandle     = "h-test"
	testSystem     = "urn:oid:1.2.208.176.1.2"
	fakeCPR        = "0101904321"
	videoURL       = "https://video.example.test/room/42"
	failedSourceGP = "gp-fhir"
)

// fakePatients is an in-memory view.Patients: handles are counters, so they
// never echo the identifier.
type fakePatients struct {
	mu       sync.Mutex
	byHandle map[string]aggregator.PatientRef
	byID     map[aggregator.Identifier]string
	last     aggregator.Identifier
	err      error
}

func newFakePatients(refs ...aggregator.PatientRef) *fakePatients {
	f := &fakePatients{byHandle: map[string]aggregator.PatientRef{}, byID: map[aggregator.Identifier]string{}}
	for _, r := range refs {
		f.byHandle[r.Handle] = r
		f.byID[r.Identifier] = r.Handle
	}
	return f
}

func (f *fakePatients) Resolve(_ context.Context, handle string) (aggregator.PatientRef, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return aggregator.PatientRef{}, false, f.err
	}
	p, ok := f.byHandle[handle]
	return p, ok, nil
}

// Handle is the handle Register gives id, "p?" for one not registered yet.
func (f *fakePatients) Handle(id aggregator.Identifier) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if h, ok := f.byID[id]; ok {
		return h
	}
	return fmt.Sprintf("p%d", len(f.byHandle)+1)
}

func (f *fakePatients) Register(_ context.Context, id aggregator.Identifier) (aggregator.PatientRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return aggregator.PatientRef{}, f.err
	}
	f.last = id
	h, ok := f.byID[id]
	if !ok {
		h = fmt.Sprintf("p%d", len(f.byHandle)+1)
		f.byID[id] = h
		f.byHandle[h] = aggregator.PatientRef{Handle: h, Identifier: id}
	}
	return f.byHandle[h], nil
}

func (f *fakePatients) lastRegistered() aggregator.Identifier {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

// fakeTimelines returns one timeline for every patient, or an error.
type fakeTimelines struct {
	tl  *aggregator.Timeline
	err error
}

func (f fakeTimelines) Timeline(_ context.Context, p aggregator.PatientRef) (*aggregator.Timeline, error) {
	if f.err != nil {
		return nil, f.err
	}
	tl := *f.tl
	tl.Patient = p.Handle
	return &tl, nil
}

func (f fakeTimelines) Cached(ctx context.Context, handle string) (*aggregator.Timeline, bool, error) {
	tl, err := f.Timeline(ctx, aggregator.PatientRef{Handle: handle})
	return tl, err == nil, err
}

func (f fakeTimelines) Changes(context.Context, string, time.Time) ([]aggregator.Change, error) {
	return nil, aggregator.ErrNoChangeLog
}

// Conflicts finds them with the default rules, as the service does.
func (f fakeTimelines) Conflicts(t *aggregator.Timeline) []aggregator.Conflict {
	return aggregator.ConflictRules{}.Find(t, t.Window.From.Location(), t.GeneratedAt)
}

func cph(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		t.Fatalf("load zone: %v", err)
	}
	return loc
}

// testNow is Tuesday 1 December 2026, noon in Copenhagen.
func testNow(t testing.TB) time.Time {
	return time.Date(2026, 12, 1, 12, 0, 0, 0, cph(t))
}

func ptr[T any](v T) *T { return &v }

// testTimeline has an entry of every sector and shape the page must show:
// a past visit, today's admission and all-day home visit, a stale GP phone
// call, a video call and a cancelled entry. The GP source failed.
func testTimeline(t testing.TB) *aggregator.Timeline {
	t.Helper()
	loc := cph(t)
	at := func(d, h, m int) time.Time { return time.Date(2026, 12, d, h, m, 0, 0, loc) }
	lastGP := at(1, 10, 42)
	return &aggregator.Timeline{
		Patient:     testHandle,
		GeneratedAt: at(1, 11, 58),
		Window:      aggregator.Window{From: at(1, 0, 0).AddDate(0, -3, 0), To: at(1, 0, 0).AddDate(0, 6, 0)},
		Entries: []aggregator.Entry{
			{
				ID: "hospital/Encounter/past1", Source: "hospital", Sector: aggregator.SectorHospital,
				Kind: aggregator.KindEncounter, Status: aggregator.StatusCompleted, FHIRStatus: "finished",
				Start: time.Date(2026, 11, 20, 9, 0, 0, 0, loc), End: time.Date(2026, 11, 20, 9, 30, 0, 0, loc),
				Title: "Blodprøve", Place: aggregator.Place{Name: "Klinisk biokemi", Address: "Blegdamsvej 9, 2100 København Ø"},
				Medium: aggregator.MediumInPerson, Sensitivity: aggregator.SensitivityNormal,
			},
			{
				ID: "hospital/Encounter/adm1", Source: "hospital", Sector: aggregator.SectorHospital,
				Kind: aggregator.KindAdmission, Status: aggregator.StatusBooked, FHIRStatus: "planned",
				Start: at(1, 10, 0), End: at(4, 12, 0),
				Title:       "Indlæggelse til hofteoperation",
				Description: "Planlagt operation",
				Instruction: "Mød fastende fra kl. 24",
				Place: aggregator.Place{Name: "Rigshospitalet, Ortopædkirurgi", Address: "Blegdamsvej 9, 2100 København Ø",
					Lat: ptr(55.6963), Lon: ptr(12.5683)},
				People: []string{"Overlæge Jens Hansen"}, Organization: "Rigshospitalet", Contact: "35 45 35 45",
				Medium: aggregator.MediumInPerson, Sensitivity: aggregator.SensitivityNormal,
				Updated: at(1, 8, 0),
				Provenance: []aggregator.Provenance{
					{Source: "hospital", Type: "Encounter", ID: "adm1", Version: "3"},
					{Source: "hospital", Type: "Appointment", ID: "a9", Version: "1"},
				},
			},
			{
				ID: "kommune/Appointment/hv1", Source: "kommune", Sector: aggregator.SectorMunicipality,
				Kind: aggregator.KindAppointment, Status: aggregator.StatusBooked, FHIRStatus: "booked",
				Start: at(1, 0, 0), End: at(2, 0, 0), AllDay: true,
				Title: "Hjemmesygepleje", Medium: aggregator.MediumHomeVisit,
			},
			{
				ID: "gp-fhir/Appointment/ph1", Source: failedSourceGP, Sector: aggregator.SectorGP,
				Kind: aggregator.KindAppointment, Status: aggregator.StatusBooked, FHIRStatus: "booked",
				Start: at(2, 8, 30), End: at(2, 8, 45),
				Title: "Svar på blodprøver", Medium: aggregator.MediumPhone,
				Stale: true, FetchedAt: lastGP,
			},
			{
				ID: "hospital/Appointment/vid1", Source: "hospital", Sector: aggregator.SectorHospital,
				Kind: aggregator.KindAppointment, Status: aggregator.StatusBooked, FHIRStatus: "booked",
				Start: at(8, 9, 0), End: at(8, 9, 30),
				Title: "Opfølgning efter operation", Medium: aggregator.MediumVideo, VideoURL: videoURL,
			},
			{
				ID: "kommune/Appointment/fys1", Source: "kommune", Sector: aggregator.SectorMunicipality,
				Kind: aggregator.KindAppointment, Status: aggregator.StatusCancelled, FHIRStatus: "cancelled",
				Start: at(10, 13, 0), End: at(10, 14, 0),
				Title: "Genoptræning", Place: aggregator.Place{Name: "Sundhedshuset"},
			},
		},
		Sources: []aggregator.SourceStatus{
			{Name: "hospital", Display: "", Sector: aggregator.SectorHospital, OK: true, LastSuccess: at(1, 11, 58), Entries: 3, Duration: 120 * time.Millisecond},
			{Name: "kommune", Sector: aggregator.SectorMunicipality, OK: true, LastSuccess: at(1, 11, 58), Entries: 2, Skipped: 1, Duration: 80 * time.Millisecond},
			{Name: failedSourceGP, Sector: aggregator.SectorGP, OK: false, Error: "GET /Appointment: connection refused",
				ErrorKind: aggregator.Unavailable, LastSuccess: lastGP, Entries: 1, Duration: 5 * time.Second},
		},
	}
}

type testEnv struct {
	srv  *Server
	h    http.Handler
	pats *fakePatients
	logs *bytes.Buffer
}

// newTestEnv serves testTimeline for testHandle with the clock at testNow,
// without access control; deps adjust the dependencies. A tl that can list
// its patients with conflicts (view.Conflicted) fills the worklist, one that
// tells its sources' states (SourceStates) the admin page.
func newTestEnv(t testing.TB, cfg Config, tl view.Timelines, deps ...func(*Deps)) *testEnv {
	t.Helper()
	if cfg.Location == nil {
		cfg.Location = cph(t)
	}
	if tl == nil {
		tl = fakeTimelines{tl: testTimeline(t)}
	}
	pats := newFakePatients(aggregator.PatientRef{Handle: testHandle, Identifier: aggregator.Identifier{System: testSystem, Value: "1111111118"}})
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	vopts := view.Options{Now: func() time.Time { return testNow(t) }}
	if o, ok := tl.(view.Conflicted); ok {
		vopts.Conflicted = o
	}
	if n, ok := tl.(view.Names); ok {
		vopts.Names = n
	}
	d := Deps{Views: view.New(tl, pats, vopts), Patients: pats, Logger: log}
	if c, ok := tl.(SourceStates); ok {
		d.Sources = c
	}
	for _, f := range deps {
		f(&d)
	}
	s := New(cfg, d)
	now := testNow(t)
	s.now = func() time.Time { return now }
	return &testEnv{srv: s, h: s.Handler(), pats: pats, logs: logs}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// do sends one request through the handler; headers are "Name: value" pairs.
func (e *testEnv) do(t testing.TB, method, target, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ": ")
		if !ok {
			t.Fatalf("bad header %q", h)
		}
		req.Header.Add(k, v)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

func decodeJSON(t testing.TB, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	if got := rec.Header().Get("Content-Type"); !strings.HasPrefix(got, "application/json") {
		t.Fatalf("Content-Type = %q, want application/json", got)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("decode %q: %v", rec.Body.String(), err)
	}
}

// assertAPIError checks the one JSON error shape.
func assertAPIError(t testing.TB, rec *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	var got struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	decodeJSON(t, rec, &got)
	if got.Error.Code != code {
		t.Errorf("error.code = %q, want %q", got.Error.Code, code)
	}
	if got.Error.Message == "" {
		t.Errorf("error.message is empty")
	}
}

// swapTimelines lets a test change what the server reads mid-test.
type swapTimelines struct {
	mu sync.Mutex
	view.Timelines
}

func (s *swapTimelines) swap(tl view.Timelines) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Timelines = tl
}

func (s *swapTimelines) get() view.Timelines {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Timelines
}

func (s *swapTimelines) Timeline(ctx context.Context, p aggregator.PatientRef) (*aggregator.Timeline, error) {
	return s.get().Timeline(ctx, p)
}

func (s *swapTimelines) Cached(ctx context.Context, h string) (*aggregator.Timeline, bool, error) {
	return s.get().Cached(ctx, h)
}

func (s *swapTimelines) Changes(ctx context.Context, h string, since time.Time) ([]aggregator.Change, error) {
	return s.get().Changes(ctx, h, since)
}

func (s *swapTimelines) Conflicts(t *aggregator.Timeline) []aggregator.Conflict {
	return s.get().Conflicts(t)
}
