// Package fhirsim is an in-memory FHIR R4 server for tests and the demo: read,
// search with paging, and switches for latency and failures, so connectors
// can be developed and tested against something that behaves like a real
// source without one.
//
// Fault modes (Options): latency with jitter, 503s at a rate or a fixed
// error status, 429 with Retry-After (seconds or HTTP-date), a slow
// (trickled) body, a garbage body, a wrong Content-Type, and SetDown (or,
// with Options.Admin, POST /_sim/down and /_sim/up) to stop the source and
// bring it back.
//
// Supported interactions: GET /metadata, GET /{type}/{id}, GET /{type}?params.
// Search parameters (others are ignored, FHIR's lenient default, also under
// Prefer: handling=strict; Options.IgnorePatient ignores patient and subject
// too):
//
//   - _id, identifier (token: system|value, |value, system| or value), on every type
//   - patient, subject (Patient/123, 123 or an absolute URL; :Patient allowed):
//     matches subject, patient and participant.actor references; not on Patient
//   - date on Appointment (start) and Encounter (period, open ends unbounded)
//   - _lastUpdated on meta.lastUpdated
//   - _count (default 50, max 500; 0 gives only the total), _summary=count
//   - _page: the opaque paging token of next links
//   - _include of the Patients resources name, with Options.Include
//
// NewPopulation serves patients made on demand (a Population) instead of
// a fixed set, with Change to change one at the source; see there.
//
// Date values are a date or dateTime with offset (without one, they are read
// in Options.TimeZone); an unencoded "+" that arrives as a space is accepted.
// Prefixes eq, ne, gt, ge, lt, le, sa, eb; ge/gt/le/lt use overlap semantics
// (see dateFilter.match). Repeated parameters are ANDed, comma-separated
// values ORed. Results are ordered by date (Appointment start, Encounter
// period start; undated last), then id.
package fhirsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const contentType = "application/fhir+json"

// Options tune how the simulator answers. The fault modes let a connector
// meet what real sources do; their dice are seeded, so a run repeats.
type Options struct {
	Latency       time.Duration // fixed delay before answering
	LatencyJitter time.Duration // plus a uniformly random delay in [0, LatencyJitter)
	FailureRate   float64       // 0..1 share of requests answered with 503 + OperationOutcome (seeded rand)
	FailStatus    int           // when non-zero, every request answers this status with an OperationOutcome
	Seed          int64

	// ThrottleRate is the 0..1 share of requests answered 429 with a
	// Retry-After of RetryAfter (default 1s, in whole seconds), as an
	// HTTP-date when RetryAfterDate is set.
	ThrottleRate   float64
	RetryAfter     time.Duration
	RetryAfterDate bool

	// Faults of successful answers (reads, searches, /metadata):
	SlowBody         time.Duration // trickle the body in 10 pieces spread over this long
	GarbageRate      float64       // 0..1 share whose body is cut in half and ends in bytes that are not JSON
	WrongContentType bool          // Content-Type text/html instead of application/fhir+json

	// Admin serves POST /_sim/down, POST /_sim/up and GET /_sim/state, to
	// stop the source and bring it back from outside the process. Those
	// paths are never slowed or failed.
	Admin bool

	// Sleep waits d or until ctx ends (then returns its error); nil means a
	// real timer. Tests inject it to see the delays without waiting.
	Sleep func(ctx context.Context, d time.Duration) error

	// IgnorePatient ignores the patient and subject search parameters, as
	// a server that does not support them does (FHIR's lenient default,
	// and this simulator's: it does not honour Prefer: handling=strict), so
	// a search for one patient's appointments answers with everyone's. For
	// testing what a connector makes of such a server.
	IgnorePatient bool

	// BaseURL is used in fullUrl and links; empty derives it from the
	// request's Host. Set it when the server is mounted under a path.
	BaseURL string
	// TimeZone reads dates and dateTimes without an offset; nil means UTC.
	TimeZone *time.Location
	// Include answers _include of the Patients a resource names
	// (Appointment:patient, Appointment:actor, Encounter:subject, ...),
	// as servers such as HAPI do; other _include values are ignored.
	Include bool
}

// Server serves a set of resources, fixed but for Put. It is safe for
// concurrent use.
type Server struct {
	opts     Options
	basePath string
	data     sync.RWMutex           // guards byType, byKey and byPatient, which Put changes
	byType   map[string][]*resource // sorted for searching
	byKey    map[string]*resource   // "Type/id"
	// byPatient holds each type's resources per Patient id they name,
	// sorted as byType, so a search by patient looks at theirs alone.
	byPatient map[string]map[string][]*resource
	pop       *population // nil unless NewPopulation
	metadata  []byte

	mu  sync.Mutex // guards rng
	rng *rand.Rand

	down     atomic.Bool
	requests atomic.Int64
}

// New indexes resources. A later resource with the same type and id replaces
// an earlier one, as an update would. Errors name the bad resource's index.
func New(resources []json.RawMessage, opts Options) (*Server, error) {
	if opts.FailStatus != 0 && (opts.FailStatus < 400 || opts.FailStatus > 599) {
		return nil, fmt.Errorf("fhirsim: fail status %d is not an HTTP error status", opts.FailStatus)
	}
	if err := opts.checkFaults(); err != nil {
		return nil, err
	}
	if opts.TimeZone == nil {
		opts.TimeZone = time.UTC
	}
	s := &Server{
		opts:   opts,
		byType: map[string][]*resource{},
		byKey:  map[string]*resource{},
		rng:    rand.New(rand.NewPCG(uint64(opts.Seed), 0x6f76657262)),
	}
	if opts.BaseURL != "" {
		u, err := url.Parse(opts.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("fhirsim: base URL %q is not an absolute http(s) URL", opts.BaseURL)
		}
		s.opts.BaseURL = strings.TrimSuffix(opts.BaseURL, "/")
		s.basePath = strings.TrimSuffix(u.Path, "/")
	}
	var order []string
	for i, raw := range resources {
		r, err := index(raw, opts.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("fhirsim: resource %d: %w", i, err)
		}
		key := r.typ + "/" + r.id
		if _, ok := s.byKey[key]; !ok {
			order = append(order, key)
		}
		s.byKey[key] = r
	}
	s.byPatient = map[string]map[string][]*resource{}
	for _, key := range order {
		r := s.byKey[key]
		resolvePatients(r, s.byKey)
		s.byType[r.typ] = append(s.byType[r.typ], r)
		for _, pid := range r.patients {
			m := s.byPatient[r.typ]
			if m == nil {
				m = map[string][]*resource{}
				s.byPatient[r.typ] = m
			}
			m[pid] = append(m[pid], r)
		}
	}
	for _, rs := range s.byType {
		sortResources(rs)
	}
	for _, m := range s.byPatient {
		for _, rs := range m {
			sortResources(rs)
		}
	}
	s.metadata = s.capabilityStatement()
	return s, nil
}

// Put stores raw as an update would: a resource with a new type and id is
// added, one with a known type and id replaced. Later reads and searches
// see it (the demo's switches move, cancel and add appointments with it).
// A resource that is not valid is an error and changes nothing.
func (s *Server) Put(raw json.RawMessage) error {
	r, err := index(raw, s.opts.TimeZone)
	if err != nil {
		return fmt.Errorf("fhirsim: put: %w", err)
	}
	s.data.Lock()
	defer s.data.Unlock()
	key := r.typ + "/" + r.id
	resolvePatients(r, s.byKey)
	s.byKey[key] = r
	// Searches may be reading the old slice: make a new one.
	rs := make([]*resource, 0, len(s.byType[r.typ])+1)
	for _, old := range s.byType[r.typ] {
		if old.id != r.id {
			rs = append(rs, old)
		}
	}
	rs = append(rs, r)
	sortResources(rs)
	s.byType[r.typ] = rs
	// And in the lists by patient: out of its old patients', into its new ones'.
	m := s.byPatient[r.typ]
	if m == nil {
		m = map[string][]*resource{}
		s.byPatient[r.typ] = m
	}
	for pid, list := range m {
		m[pid] = slices.DeleteFunc(slices.Clone(list), func(old *resource) bool { return old.id == r.id })
	}
	for _, pid := range r.patients {
		list := append(slices.Clone(m[pid]), r)
		sortResources(list)
		m[pid] = list
	}
	return nil
}

// Resources returns the JSON of the stored resources of a type, in search
// order.
func (s *Server) Resources(resourceType string) []json.RawMessage {
	s.data.RLock()
	defer s.data.RUnlock()
	out := make([]json.RawMessage, 0, len(s.byType[resourceType]))
	for _, r := range s.byType[resourceType] {
		out = append(out, slices.Clone(r.raw))
	}
	return out
}

// SetDown makes every request answer 503 while down, to stop a source and
// bring it back.
func (s *Server) SetDown(down bool) { s.down.Store(down) }

// Down reports whether SetDown(true) is in force.
func (s *Server) Down() bool { return s.down.Load() }

// Requests counts the requests received, failed ones included.
func (s *Server) Requests() int64 { return s.requests.Load() }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	path := r.URL.Path
	if s.basePath != "" && strings.HasPrefix(path, s.basePath+"/") {
		path = path[len(s.basePath):]
	}
	if s.opts.Admin && strings.HasPrefix(path, adminPrefix) {
		s.admin(w, r, path)
		return
	}
	if delay := s.latency(); delay > 0 {
		if s.sleep(r.Context(), delay) != nil {
			return // the client is gone
		}
	}
	switch {
	case s.down.Load():
		writeOutcome(w, http.StatusServiceUnavailable, "the source is down")
		return
	case s.opts.FailStatus != 0:
		writeOutcome(w, s.opts.FailStatus, "failure configured by FailStatus")
		return
	case s.opts.ThrottleRate > 0 && s.roll() < s.opts.ThrottleRate:
		s.throttle(w)
		return
	case s.opts.FailureRate > 0 && s.roll() < s.opts.FailureRate:
		writeOutcome(w, http.StatusServiceUnavailable, "simulated transient failure")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeOutcome(w, http.StatusMethodNotAllowed, "only GET is supported")
		return
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) == 1 && parts[0] == "metadata":
		s.writeData(w, r, s.metadata)
	case len(parts) == 1 && validType(parts[0]):
		s.search(w, r, parts[0])
	case len(parts) == 2 && validType(parts[0]):
		s.read(w, r, parts[0], parts[1])
	default:
		writeOutcome(w, http.StatusNotFound, "unknown path "+r.URL.Path)
	}
}

func (s *Server) roll() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rng.Float64()
}

func (s *Server) read(w http.ResponseWriter, r *http.Request, resourceType, id string) {
	s.data.RLock()
	res, ok := s.byKey[resourceType+"/"+id]
	s.data.RUnlock()
	if !ok && s.pop != nil {
		res, ok = s.pop.read(resourceType, id, s.opts.TimeZone)
	}
	if !ok {
		writeOutcome(w, http.StatusNotFound, fmt.Sprintf("%s/%s is not known", resourceType, id))
		return
	}
	if res.versionID != "" {
		w.Header().Set("ETag", `W/"`+res.versionID+`"`)
	}
	if res.lastUpdated != nil {
		w.Header().Set("Last-Modified", res.lastUpdated.lo.UTC().Format(http.TimeFormat))
	}
	s.writeData(w, r, res.raw)
}

func (s *Server) search(w http.ResponseWriter, r *http.Request, resourceType string) {
	values := r.URL.Query()
	if s.opts.IgnorePatient {
		values.Del("patient")
		values.Del("subject")
		values.Del("patient:Patient")
		values.Del("subject:Patient")
	}
	q, err := parseQuery(resourceType, values, s.opts.TimeZone)
	if err != nil {
		writeOutcome(w, http.StatusBadRequest, err.Error())
		return
	}
	s.data.RLock() // Put may change what candidates reads
	cands, err := s.candidates(resourceType, values)
	if err != nil {
		s.data.RUnlock()
		writeOutcomeCode(w, http.StatusBadRequest, "too-costly", err.Error())
		return
	}
	var matches []*resource
	for _, res := range cands {
		if q.matches(res) {
			matches = append(matches, res)
		}
	}
	s.data.RUnlock()
	base := s.base(r)
	page := matches[min(q.offset, len(matches)):]
	page = page[:min(q.count, len(page))]
	var included []*resource
	if s.opts.Include {
		included = s.included(resourceType, values["_include"], page)
	}

	var b bytes.Buffer
	b.WriteString(`{"resourceType":"Bundle","type":"searchset","total":`)
	b.WriteString(strconv.Itoa(len(matches)))
	b.WriteString(`,"link":[{"relation":"self","url":`)
	self := base + "/" + resourceType
	if r.URL.RawQuery != "" {
		self += "?" + r.URL.RawQuery
	}
	b.Write(jsonString(self))
	b.WriteString(`}`)
	if next := q.offset + len(page); len(page) > 0 && next < len(matches) {
		values := r.URL.Query()
		values.Set("_page", strconv.Itoa(next))
		b.WriteString(`,{"relation":"next","url":`)
		b.Write(jsonString(base + "/" + resourceType + "?" + values.Encode()))
		b.WriteString(`}`)
	}
	b.WriteString(`]`)
	if len(page)+len(included) > 0 {
		b.WriteString(`,"entry":[`)
		for i, res := range append(page, included...) {
			if i > 0 {
				b.WriteByte(',')
			}
			mode := "match"
			if i >= len(page) {
				mode = "include"
			}
			b.WriteString(`{"fullUrl":`)
			b.Write(jsonString(base + "/" + res.typ + "/" + res.id))
			b.WriteString(`,"resource":`)
			b.Write(res.raw)
			b.WriteString(`,"search":{"mode":"` + mode + `"}}`)
		}
		b.WriteString(`]`)
	}
	b.WriteString(`}`)
	s.writeData(w, r, b.Bytes())
}

// candidates are the resources a search of resourceType may match, in
// search order: those of the patients a patient parameter names, or of the
// patients a population's search names, or all of the type.
func (s *Server) candidates(resourceType string, values url.Values) ([]*resource, error) {
	if s.pop != nil && populated[resourceType] {
		rs, err := s.pop.candidates(resourceType, values, s.opts.TimeZone)
		if err != nil {
			return nil, err
		}
		if shared := s.byType[resourceType]; len(shared) > 0 {
			rs = append(rs, shared...)
			sortResources(rs)
		}
		return rs, nil
	}
	for _, name := range []string{"patient", "subject", "patient:Patient", "subject:Patient"} {
		if resourceType == "Patient" || len(values[name]) == 0 {
			continue
		}
		// Occurrences are ANDed: the first one's patients hold every match.
		var out []*resource
		ids := strings.Split(values[name][0], ",")
		for _, v := range ids {
			if id, ok := refID(v, "Patient", true); ok {
				out = append(out, s.byPatient[resourceType][id]...)
			}
		}
		if len(ids) > 1 {
			sortResources(out)
			out = slices.Compact(out)
		}
		return out, nil
	}
	return s.byType[resourceType], nil
}

// included are the Patients the page's resources name, for _include
// values naming a patient parameter of resourceType (Appointment:patient,
// Appointment:actor, Encounter:subject, ...), each once.
func (s *Server) included(resourceType string, includes []string, page []*resource) []*resource {
	want := false
	for _, v := range includes {
		typ, param, _ := strings.Cut(v, ":")
		param, _, _ = strings.Cut(param, ":")
		if typ == resourceType && (param == "patient" || param == "subject" || param == "actor") {
			want = true
		}
	}
	if !want {
		return nil
	}
	seen := map[string]bool{}
	var out []*resource
	for _, r := range page {
		for _, pid := range r.patients {
			if seen[pid] {
				continue
			}
			seen[pid] = true
			s.data.RLock()
			p, ok := s.byKey["Patient/"+pid]
			s.data.RUnlock()
			if !ok && s.pop != nil {
				p, ok = s.pop.read("Patient", pid, s.opts.TimeZone)
			}
			if ok {
				out = append(out, p)
			}
		}
	}
	return out
}

// base is the server's base URL without a trailing slash.
func (s *Server) base(r *http.Request) string {
	if s.opts.BaseURL != "" {
		return s.opts.BaseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) capabilityStatement() []byte {
	types := []string{"Appointment", "Encounter", "Patient"}
	for t := range s.byType {
		if !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	sort.Strings(types)
	type param struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	type interaction struct {
		Code string `json:"code"`
	}
	type resourceCaps struct {
		Type        string        `json:"type"`
		Interaction []interaction `json:"interaction"`
		SearchParam []param       `json:"searchParam"`
	}
	var resources []resourceCaps
	for _, t := range types {
		params := []param{{"_id", "token"}, {"_lastUpdated", "date"}, {"identifier", "token"}}
		if t != "Patient" {
			params = append(params, param{"patient", "reference"}, param{"subject", "reference"})
		}
		if t == "Appointment" || t == "Encounter" {
			params = append(params, param{"date", "date"})
		}
		resources = append(resources, resourceCaps{Type: t,
			Interaction: []interaction{{"read"}, {"search-type"}}, SearchParam: params})
	}
	// The date is the newest resource's, so the statement is deterministic.
	date := "2026-01-01"
	var newest time.Time
	for _, r := range s.byKey {
		if r.lastUpdated != nil && r.lastUpdated.lo.After(newest) {
			newest = r.lastUpdated.lo
			date = newest.UTC().Format("2006-01-02")
		}
	}
	cs := map[string]any{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         date,
		"kind":         "instance",
		"software":     map[string]string{"name": "overblik fhirsim"},
		"fhirVersion":  "4.0.1",
		"format":       []string{contentType, "json"},
		"rest": []map[string]any{{
			"mode":     "server",
			"resource": resources,
		}},
	}
	if s.opts.BaseURL != "" {
		cs["implementation"] = map[string]string{"description": "overblik FHIR simulator", "url": s.opts.BaseURL}
	}
	b, err := json.Marshal(cs)
	if err != nil {
		// Only plain maps, slices and strings above: cannot fail.
		panic(fmt.Sprintf("fhirsim: capability statement: %v", err))
	}
	return b
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body) // a failed write means the client left; nothing to do
}

// writeOutcome answers an error as an OperationOutcome.
func writeOutcome(w http.ResponseWriter, status int, diagnostics string) {
	writeOutcomeCode(w, status, "", diagnostics)
}

// writeOutcomeCode answers an error as an OperationOutcome with the issue
// code given, or the one status implies for "".
func writeOutcomeCode(w http.ResponseWriter, status int, code, diagnostics string) {
	if code != "" {
		writeOutcomeBody(w, status, code, diagnostics)
		return
	}
	code = "processing"
	switch {
	case status == http.StatusBadRequest:
		code = "invalid"
	case status == http.StatusUnauthorized:
		code = "login"
		w.Header().Set("WWW-Authenticate", `Bearer realm="fhirsim"`)
	case status == http.StatusForbidden:
		code = "forbidden"
	case status == http.StatusNotFound:
		code = "not-found"
	case status == http.StatusMethodNotAllowed:
		code = "not-supported"
	case status == http.StatusTooManyRequests:
		code = "throttled"
	case status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout:
		code = "transient"
	case status >= 500:
		code = "exception"
	}
	writeOutcomeBody(w, status, code, diagnostics)
}

func writeOutcomeBody(w http.ResponseWriter, status int, code, diagnostics string) {
	body := []byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"` + code +
		`","diagnostics":`)
	body = append(body, jsonString(diagnostics)...)
	body = append(body, `}]}`...)
	writeJSON(w, status, body)
}

// jsonString quotes s as JSON without HTML escaping, so "&" in URLs stays
// readable.
func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // encoding a string cannot fail
	return bytes.TrimRight(b.Bytes(), "\n")
}
