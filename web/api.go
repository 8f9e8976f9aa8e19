package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/internal/cpr"
	"github.com/overblik/overblik/view"
)

// The JSON DTOs of API v1. The domain types carry no json tags; these are
// the contract, so field names change only with the API version.

type patientJSON struct {
	Handle string `json:"handle"`
	Name   string `json:"name,omitempty"`
}

type lookupRequest struct {
	Identifier string `json:"identifier"`
	Reason     string `json:"reason,omitempty"` // required of clinicians
}

type lookupResponse struct {
	Handle string `json:"handle"`
}

type timelineJSON struct {
	Patient     patientJSON    `json:"patient"`
	Version     int64          `json:"version"`
	GeneratedAt *string        `json:"generated_at"`
	Window      windowJSON     `json:"window"`
	Stale       bool           `json:"stale"`
	Entries     []entryJSON    `json:"entries"`
	Sources     []sourceJSON   `json:"sources"`
	Conflicts   []conflictJSON `json:"conflicts"`
}

type windowJSON struct {
	From *string `json:"from"`
	To   *string `json:"to"`
}

type entryJSON struct {
	ID           string           `json:"id"`
	Source       string           `json:"source"`
	Sector       string           `json:"sector"`
	Kind         string           `json:"kind"`
	Status       string           `json:"status"`
	FHIRStatus   string           `json:"fhir_status"`
	Start        *string          `json:"start"`
	End          *string          `json:"end"`
	AllDay       bool             `json:"all_day"`
	Title        string           `json:"title"`
	Description  string           `json:"description"`
	Instruction  string           `json:"instruction"`
	Place        placeJSON        `json:"place"`
	Medium       string           `json:"medium"`
	VideoURL     string           `json:"video_url"`
	People       []string         `json:"people"`
	Organization string           `json:"organization"`
	Contact      string           `json:"contact"`
	Sensitivity  string           `json:"sensitivity"`
	Generic      bool             `json:"generic"` // the source shares only time and place; title is empty
	Stale        bool             `json:"stale"`
	FetchedAt    *string          `json:"fetched_at"`
	Updated      *string          `json:"updated"`
	Provenance   []provenanceJSON `json:"provenance"`
	// Parts: only on an entry several sources booked (a joint meeting),
	// each source's own organisation and status.
	Parts []partJSON `json:"parts,omitempty"`
}

type partJSON struct {
	Source       string `json:"source"`
	Sector       string `json:"sector"`
	Organization string `json:"organization"`
	Status       string `json:"status"`
	Stale        bool   `json:"stale"`
}

type placeJSON struct {
	Name    string   `json:"name"`
	Address string   `json:"address"`
	Lat     *float64 `json:"lat"`
	Lon     *float64 `json:"lon"`
}

type provenanceJSON struct {
	Source  string `json:"source"`
	Type    string `json:"type"`
	ID      string `json:"id"`
	Version string `json:"version"`
}

type sourceJSON struct {
	Name        string  `json:"name"`
	Display     string  `json:"display"`
	Sector      string  `json:"sector"`
	OK          bool    `json:"ok"`
	Error       string  `json:"error"`
	ErrorKind   string  `json:"error_kind"`
	LastSuccess *string `json:"last_success"`
	Entries     int     `json:"entries"`
	Skipped     int     `json:"skipped"`
	Warnings    int     `json:"warnings"`
	DurationMS  int64   `json:"duration_ms"`
}

// jsonTime is RFC 3339 in the display zone; null for the zero time, which the
// domain uses for "never".
func jsonTime(t time.Time, loc *time.Location) *string {
	if t.IsZero() {
		return nil
	}
	s := t.In(loc).Format(time.RFC3339)
	return &s
}

// toTimelineJSON gives the conflicts' sentences in tr's language and vc.
func toTimelineJSON(p aggregator.PatientRef, tl *aggregator.Timeline, loc *time.Location, tr *translator, vc voice) timelineJSON {
	out := timelineJSON{
		Patient:     patientJSON{Handle: p.Handle},
		Version:     tl.Version,
		GeneratedAt: jsonTime(tl.GeneratedAt, loc),
		Window:      windowJSON{From: jsonTime(tl.Window.From, loc), To: jsonTime(tl.Window.To, loc)},
		Stale:       tl.Stale(),
		Entries:     make([]entryJSON, 0, len(tl.Entries)),
		Sources:     make([]sourceJSON, 0, len(tl.Sources)),
		Conflicts:   toConflictsJSON(tl, tr, vc),
	}
	for i := range tl.Entries {
		ej := toEntryJSON(&tl.Entries[i], loc)
		if e := &tl.Entries[i]; !e.Stale {
			// A fresh entry was fetched when its source last answered; a
			// build that read the same again kept the entry as it was.
			for _, st := range tl.Sources {
				if st.Name == e.Source && st.LastSuccess.After(e.FetchedAt) {
					ej.FetchedAt = jsonTime(st.LastSuccess, loc)
				}
			}
		}
		out.Entries = append(out.Entries, ej)
	}
	for _, st := range tl.Sources {
		out.Sources = append(out.Sources, sourceJSON{
			Name:        st.Name,
			Display:     st.Display,
			Sector:      string(st.Sector),
			OK:          st.OK,
			Error:       st.Error,
			ErrorKind:   string(st.ErrorKind),
			LastSuccess: jsonTime(st.LastSuccess, loc),
			Entries:     st.Entries,
			Skipped:     st.Skipped,
			Warnings:    st.Warnings,
			DurationMS:  st.Duration.Milliseconds(),
		})
	}
	return out
}

func toEntryJSON(e *aggregator.Entry, loc *time.Location) entryJSON {
	people := e.People
	if people == nil {
		people = []string{} // an empty list, not null, for clients that iterate
	}
	prov := make([]provenanceJSON, 0, len(e.Provenance))
	for _, pr := range e.Provenance {
		prov = append(prov, provenanceJSON{Source: pr.Source, Type: pr.Type, ID: pr.ID, Version: pr.Version})
	}
	var parts []partJSON
	for _, pt := range e.Parts {
		parts = append(parts, partJSON{Source: pt.Source, Sector: string(pt.Sector), Organization: pt.Organization,
			Status: string(pt.Status), Stale: pt.Stale})
	}
	return entryJSON{
		Parts:        parts,
		ID:           e.ID,
		Source:       e.Source,
		Sector:       string(e.Sector),
		Kind:         string(e.Kind),
		Status:       string(e.Status),
		FHIRStatus:   e.FHIRStatus,
		Start:        jsonTime(e.Start, loc),
		End:          jsonTime(e.End, loc),
		AllDay:       e.AllDay,
		Title:        e.Title,
		Description:  e.Description,
		Instruction:  e.Instruction,
		Place:        placeJSON{Name: e.Place.Name, Address: e.Place.Address, Lat: e.Place.Lat, Lon: e.Place.Lon},
		Medium:       string(e.Medium),
		VideoURL:     aggregator.SafeURL(e.VideoURL), // a cached timeline from before the rule, or a hand-built one
		People:       people,
		Organization: e.Organization,
		Contact:      e.Contact,
		Sensitivity:  string(e.Sensitivity),
		Generic:      e.Generic,
		Stale:        e.Stale,
		FetchedAt:    jsonTime(e.FetchedAt, loc),
		Updated:      jsonTime(e.Updated, loc),
		Provenance:   prov,
	}
}

// writeJSON marshals first so the response carries a Content-Length.
func (s *Server) writeJSON(c echo.Context, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	b = append(b, '\n')
	return writeBytes(c, status, echo.MIMEApplicationJSON, b)
}

func (s *Server) apiPatients(c echo.Context) error {
	// Only the demo lists patients, to anyone signed in: they are made up,
	// and a handle alone grants nothing once access control decides who
	// sees a timeline.
	if len(s.cfg.Demo) == 0 {
		return &requestError{status: http.StatusNotFound, code: "not_found", msg: "error.not_demo"}
	}
	out := make([]patientJSON, 0, len(s.cfg.Demo))
	for _, d := range s.cfg.Demo {
		out = append(out, patientJSON{Handle: d.Handle, Name: d.Name})
	}
	return s.writeJSON(c, http.StatusOK, out)
}

func (s *Server) apiLookup(c echo.Context) error {
	var req lookupRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	p, err := s.lookup(c, req.Identifier, req.Reason)
	if err != nil {
		return err
	}
	return s.writeJSON(c, http.StatusOK, lookupResponse{Handle: p.Handle})
}

// lookup parses "system|value" (a bare value takes the default system) and
// asks Views for the patient's handle, which decides and audits the look-up
// before the identifier is kept anywhere.
func (s *Server) lookup(c echo.Context, raw, reason string) (aggregator.PatientRef, error) {
	id, ok := s.parseIdentifier(raw)
	if !ok {
		return aggregator.PatientRef{}, errBadRequest("error.empty_identifier", nil)
	}
	if err := s.checkIdentifier(id); err != nil { // cpr.go
		return aggregator.PatientRef{}, err
	}
	p, err := s.principal(c)
	if err != nil {
		return aggregator.PatientRef{}, err
	}
	ref, err := s.deps.Views.Lookup(c.Request().Context(), p, id, reason)
	if errors.Is(err, view.ErrUnknownPerson) {
		return aggregator.PatientRef{}, &requestError{status: http.StatusNotFound, code: "unknown_person", msg: "lookup.unknown", err: err}
	}
	if err != nil {
		return aggregator.PatientRef{}, accessError(err)
	}
	return ref, nil
}

func (s *Server) parseIdentifier(raw string) (aggregator.Identifier, bool) {
	raw = strings.TrimSpace(raw)
	system, value, found := strings.Cut(raw, "|")
	if !found {
		system, value = "", raw
	}
	system, value = strings.TrimSpace(system), strings.TrimSpace(value)
	if value == "" {
		return aggregator.Identifier{}, false
	}
	if system == "" {
		system = s.cfg.DefaultIdentifierSystem
	}
	if system == SystemCPR {
		if v, err := cpr.Parse(value); err == nil {
			value = v // 300241-0148 is 3002410148
		}
	}
	return aggregator.Identifier{System: system, Value: value}, true
}

// apiTimeline serves a timeline as JSON. Access is decided and audited on
// every request; the bytes are rendered once per timeline build, language
// and restricted view, since a cached read should cost a lookup and a write.
func (s *Server) apiTimeline(c echo.Context) error {
	v, err := s.open(c, view.Request{Handle: c.Param("handle"), Reason: c.Request().Header.Get(ReasonHeader)})
	if err != nil {
		return err
	}
	tl := v.Timeline
	tr := s.translatorFor(c)
	vc := viewVoice(tr, v)
	// The sentences differ by the reader's voice; a relative's name the
	// patient by name, so are not kept.
	key := renderKey{handle: v.Patient.Handle, version: tl.Version, generated: tl.GeneratedAt.UnixNano(),
		view: "json/" + string(v.Decision.Role), lang: tr.lang, restricted: v.Decision.Restricted}
	if tl.GeneratedAt.IsZero() || v.Decision.Role == access.RoleRelative {
		return s.writeJSON(c, http.StatusOK, toTimelineJSON(v.Patient, tl, s.loc, tr, vc))
	}
	if b, ok := s.renders.get(key); ok {
		return writeBytes(c, http.StatusOK, echo.MIMEApplicationJSON, b)
	}
	b, err := json.Marshal(toTimelineJSON(v.Patient, tl, s.loc, tr, vc))
	if err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	b = append(b, '\n')
	s.renders.put(key, b)
	return writeBytes(c, http.StatusOK, echo.MIMEApplicationJSON, b)
}

// readJSON decodes one JSON value from the (size-limited) request body.
func readJSON(c echo.Context, v any) error {
	dec := json.NewDecoder(c.Request().Body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("decode request: %w", err)
		}
		return errBadRequest("error.bad_json", fmt.Errorf("decode request: %w", err))
	}
	if dec.More() {
		return errBadRequest("error.bad_json", errors.New("decode request: trailing data"))
	}
	return nil
}
