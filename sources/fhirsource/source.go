// Package fhirsource is the configurable connector for any FHIR R4 server:
// it finds the patient by identifier, fetches their Appointments and
// Encounters in the window and normalises them into timeline entries.
package fhirsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/fhir"
)

// Config describes one FHIR source. Its fields tagged yaml are the
// source's own keys in the configuration (config.go); Open fills the
// others from the keys every source has.
type Config struct {
	Name         string // unique; part of every entry id
	Sector       aggregator.Sector
	BaseURL      string `yaml:"base_url" env:"BASE_URL"`
	PageSize     int    `yaml:"page_size"` // _count; 0 lets the server choose
	MaxBodyBytes int64  // per-response limit; 0 means the fhir client's default
	// MaxBytes is the byte budget of one Fetch (and of one poll of the
	// change feed): every page of its searches together, the patient
	// look-up included; default DefaultMaxBytes. A fetch that runs over it
	// fails as one cut off at the page cap does, rather than show part of
	// a timeline as if it were whole.
	MaxBytes int64
	Location *time.Location // reads date-only values as whole days here; default UTC
	Detail   Detail         // how much of each entry to keep; default DetailFull
	// Include asks the server for the Locations, Practitioners,
	// Organizations and HealthcareServices entries refer to with _include,
	// instead of reading each one not yet cached. A server that does not
	// support it refuses it (searches ask for strict handling); the
	// connector then searches without it from then on.
	Include bool `yaml:"include"`
	// Incremental: after a full read for a patient, later fetches ask only
	// for what changed since (_lastUpdated=ge the newest meta.lastUpdated
	// seen), merged by resource id with the result kept from before, and
	// everything is read again every FullReread, so deletions (which such
	// a search cannot show) are noticed within that period. The server must
	// support _lastUpdated; one that ignores it is noticed only when its
	// answer reaches the page cap, and then the window is read instead.
	Incremental bool             `yaml:"incremental"`
	FullReread  time.Duration    `yaml:"full_reread"` // default DefaultFullReread; also how long a patient's id here is remembered
	MaxPatients int              // patients whose last result is kept; default DefaultMaxPatients
	Now         func() time.Time // clock for FullReread; nil is time.Now
	// Client tunes the FHIR client (retries, breaker, ...); PageSize and
	// MaxBodyBytes above win over its fields when set.
	Client fhir.Options
	// Auth is how Open's HTTP client authenticates to the server; New
	// takes the client instead.
	Auth fhir.AuthConfig `yaml:"auth"`
}

// DefaultMaxBytes is Config.MaxBytes when left at zero: room for a few
// thousand appointments with their included parties, far below what
// MaxPages pages of MaxBodyBytes each could pile up.
const DefaultMaxBytes = 32 << 20

// Detail is how much a source lets us show of its entries.
type Detail string

const (
	// DetailFull keeps everything the source says.
	DetailFull Detail = "full"
	// DetailGeneric keeps only time, place, medium, status and sensitivity,
	// and marks the entry Generic so the web shows a generic title ("Aftale
	// hos egen læge"), as the national overview does for GP appointments.
	DetailGeneric Detail = "generic"
)

// ParseDetail accepts the detail levels used in configuration; "" is full.
func ParseDetail(s string) (Detail, bool) {
	switch Detail(s) {
	case "", DetailFull:
		return DetailFull, true
	case DetailGeneric:
		return DetailGeneric, true
	}
	return "", false
}

// Source is a FHIR R4 server as a timeline source. Safe for concurrent use.
type Source struct {
	cfg      Config
	settings string // see settings
	client   *fhir.Client
	refs     refCache

	mu  sync.Mutex
	ids map[aggregator.Identifier]knownPatient // patient identifier -> this server's Patient id

	stateMu sync.Mutex
	state   map[string]*patientState // Patient id -> last result, when Incremental

	feedIDs feedIdentifiers // Patient id -> identifiers, for the change feed

	includeRefused atomic.Bool // the server answered a search with _include with 400
}

// New returns a connector for cfg that talks HTTP through hc.
func New(cfg Config, hc *http.Client) (*Source, error) {
	if cfg.Name == "" {
		return nil, errors.New("fhirsource: name is required")
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	detail, ok := ParseDetail(string(cfg.Detail))
	if !ok {
		return nil, fmt.Errorf("fhirsource %s: detail must be %q or %q", cfg.Name, DetailFull, DetailGeneric)
	}
	cfg.Detail = detail
	if cfg.FullReread < 0 || cfg.MaxPatients < 0 || cfg.MaxBytes < 0 {
		return nil, fmt.Errorf("fhirsource %s: negative full re-read period, patient count or byte budget", cfg.Name)
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.FullReread == 0 {
		cfg.FullReread = DefaultFullReread
	}
	if cfg.MaxPatients == 0 {
		cfg.MaxPatients = DefaultMaxPatients
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	opts := cfg.Client
	if cfg.PageSize != 0 {
		opts.PageSize = cfg.PageSize
	}
	if cfg.MaxBodyBytes != 0 {
		opts.MaxBodyBytes = cfg.MaxBodyBytes
	}
	c, err := fhir.NewClient(cfg.BaseURL, hc, opts)
	if err != nil {
		return nil, fmt.Errorf("fhirsource %s: %w", cfg.Name, err)
	}
	return &Source{cfg: cfg, settings: settings(cfg), client: c, ids: make(map[aggregator.Identifier]knownPatient), state: make(map[string]*patientState)}, nil
}

func (s *Source) Name() string              { return s.cfg.Name }
func (s *Source) Sector() aggregator.Sector { return s.cfg.Sector }

// Fetch returns the patient's Appointments and Encounters in w.
func (s *Source) Fetch(ctx context.Context, p aggregator.PatientRef, w aggregator.Window) (aggregator.Batch, error) {
	r, err := s.Read(ctx, p, w)
	if err != nil {
		return aggregator.Batch{}, err
	}
	return r.Normalise(ctx, nil)
}

// Read searches the patient's Appointments and Encounters in w and leaves
// decoding and normalising them to the Reading (aggregator.Reader): a
// refresh that reads the same as the last one skips them. An incremental
// source merges with what it kept, so its readings carry no digest.
func (s *Source) Read(ctx context.Context, p aggregator.PatientRef, w aggregator.Window) (aggregator.Reading, error) {
	budget := fhir.NewByteBudget(s.cfg.MaxBytes)
	pat, err := s.patientID(ctx, budget, p.Identifier)
	if err != nil {
		return aggregator.Reading{}, err
	}
	named := func(b aggregator.Batch) aggregator.Batch {
		b.PatientName = pat.name
		return b
	}
	if s.cfg.Incremental {
		b, err := s.fetchIncremental(ctx, budget, pat, w)
		if err != nil {
			return aggregator.Reading{}, err
		}
		return aggregator.Reading{PatientName: pat.name,
			Normalise: func(context.Context, []aggregator.Entry) (aggregator.Batch, error) { return named(b), nil }}, nil
	}
	q := windowQuery(pat.id, w)
	f, err := s.searchAll(ctx, budget, q)
	if err != nil {
		return aggregator.Reading{}, err
	}
	return aggregator.Reading{Digest: s.digest(q, pat, f), PatientName: pat.name,
		Normalise: func(ctx context.Context, last []aggregator.Entry) (aggregator.Batch, error) {
			items, settled := s.items(ctx, pat, f, last)
			b := named(s.batch(items))
			b.Unsettled = !settled
			return b, nil
		}}, nil
}

// errTruncated: a search had more pages than the client's cap, or more
// bytes than the fetch's budget.
var errTruncated = errors.New("search truncated")

// cutOff is the error for a search result that is not whole, or nil.
func (s *Source) cutOff(results ...*fhir.SearchResult) error {
	for _, r := range results {
		if r.Truncated {
			// Showing part of a timeline as if it were whole would mislead.
			return &aggregator.SourceError{Source: s.cfg.Name, Kind: aggregator.Invalid,
				Msg: "too many pages: the search was cut off at the page cap", Err: errTruncated}
		}
	}
	for _, r := range results {
		if r.OverBudget {
			return &aggregator.SourceError{Source: s.cfg.Name, Kind: aggregator.Invalid,
				Msg: fmt.Sprintf("too much data: the search was cut off at the byte budget of %d bytes", s.cfg.MaxBytes), Err: errTruncated}
		}
	}
	return nil
}

// item is what became of one matched resource: an entry, or a note on why
// it was skipped. warning is set for an entry only partly understood.
type item struct {
	key     string // Type/id, or Type#n for a resource without an id
	entry   aggregator.Entry
	ok      bool
	note    string
	warning string
	foreign bool // skipped: it is another patient's
}

// batch turns items into a Batch. Other patients' resources are counted as
// skipped under one note, first, so the bound on notes never hides it.
func (s *Source) batch(items []item) aggregator.Batch {
	var b aggregator.Batch
	foreign, ok := 0, 0
	for i := range items {
		if items[i].foreign {
			foreign++
		} else if items[i].ok {
			ok++
		}
	}
	b.Entries = make([]aggregator.Entry, 0, ok)
	if foreign > 0 {
		b.Skipped += foreign
		b.Note(fmt.Sprintf("%d resources dropped as belonging to another patient: the server may ignore the patient search parameter", foreign))
	}
	for i := range items { // by pointer: an item holds a whole entry
		it := &items[i]
		switch {
		case it.foreign:
		case !it.ok:
			b.Skipped++
			b.Note(it.note)
		default:
			if it.warning != "" {
				b.Warnings++
				b.Note(it.warning)
			}
			b.Entries = append(b.Entries, it.entry)
			s.redact(&b.Entries[len(b.Entries)-1])
		}
	}
	return b
}

// found is what one read's two searches answered.
type found struct {
	q           url.Values // the query both searched with
	appts, encs *fhir.SearchResult
	include     bool // the searches asked for _include
}

// read searches the patient's Appointments and Encounters with q (which
// names pat) within budget, reads what they reference, and normalises them.
func (s *Source) read(ctx context.Context, budget *fhir.ByteBudget, pat patient, q url.Values) ([]item, error) {
	f, err := s.searchAll(ctx, budget, q)
	if err != nil {
		return nil, err
	}
	items, _ := s.items(ctx, pat, f, nil)
	return items, nil
}

// searchAll runs the searches of one read, with _include when the server
// takes it.
func (s *Source) searchAll(ctx context.Context, budget *fhir.ByteBudget, q url.Values) (found, error) {
	include := s.cfg.Include && !s.includeRefused.Load()
	appts, encs, err := s.search(ctx, budget, q, include)
	var fe *fhir.Error
	if include && errors.As(err, &fe) && fe.StatusCode == http.StatusBadRequest {
		// Asked for strict handling, a server without _include refuses it
		// where it used to ignore it: search without, and from now on.
		if appts, encs, err = s.search(ctx, budget, q, false); err == nil {
			s.includeRefused.Store(true)
			include = false
		}
	}
	if err != nil {
		return found{}, s.wrap("search", err)
	}
	if err := s.cutOff(appts, encs); err != nil {
		return found{}, err
	}
	return found{q: q, appts: appts, encs: encs, include: include}, nil
}

// items decodes and normalises what the searches found, reading the
// parties they reference that are not yet known. A resource that names
// none of pat's records as its patient is dropped before anything it
// references is read: a server that ignores patient= (FHIR's lenient
// default, which strict handling only asks it to give up) answers with
// everyone's. settled is false when a referenced party could not be read.
//
// An Appointment whose entry in last came from it alone and it reads the
// same (the same bytes, with the same parties and settings around it; see
// resourceDigests) keeps that entry and is not decoded again. Its entry
// was never merged with another: merging adds provenance or parts.
func (s *Source) items(ctx context.Context, pat patient, f found, last []aggregator.Entry) (_ []item, settled bool) {
	appts, encs := f.appts, f.encs
	digests := s.resourceDigests(pat, f)
	kept := s.keptByDigest(last)
	apptDigest := map[*fhir.Appointment]string{}
	items := make([]item, 0, len(appts.Resources)+len(encs.Resources))
	skip := func(typ string, i int, raw json.RawMessage, err error) {
		key := fmt.Sprintf("%s#%d", typ, i)
		var head struct {
			ID string `json:"id"`
		}
		if fhir.Unmarshal(raw, &head) == nil && head.ID != "" {
			key = typ + "/" + head.ID // so a later version replaces it
		}
		items = append(items, item{key: key, note: fmt.Sprintf("%s #%d skipped: %v", typ, i, err)})
	}
	apptRaw := map[*fhir.Appointment]json.RawMessage{}
	encRaw := map[*fhir.Encounter]json.RawMessage{}
	var apptList []*fhir.Appointment
	var encList []*fhir.Encounter
	refs := map[string]bool{}
	foreign := func(typ, id string, i int) {
		key := fmt.Sprintf("%s#%d", typ, i)
		if id != "" {
			key = typ + "/" + id
		}
		items = append(items, item{key: key, foreign: true})
	}
	for i, raw := range appts.Resources {
		if e, ok := kept[digests[i]]; ok && digests[i] != "" {
			items = append(items, item{key: "Appointment/" + e.Provenance[0].ID, entry: *e, ok: true})
			continue
		}
		a, err := fhir.DecodeAppointment(raw)
		if err != nil {
			// Checked only now: decoding fails fast on another type.
			if !s.included(raw, "Appointment") {
				skip("Appointment", i, raw, err)
			}
			continue
		}
		if !pat.namedBy(a) {
			foreign("Appointment", deref(a.Id), i)
			continue
		}
		apptList = append(apptList, a)
		apptRaw[a] = raw
		apptDigest[a] = digests[i]
		for _, part := range a.Participant {
			if part.Actor != nil && part.Actor.Reference != nil {
				refs[*part.Actor.Reference] = true
			}
		}
	}
	for i, raw := range encs.Resources {
		e, err := fhir.DecodeEncounter(raw)
		if err != nil {
			// Checked only now: decoding fails fast on another type.
			if !s.included(raw, "Encounter") {
				skip("Encounter", i, raw, err)
			}
			continue
		}
		if e.Subject == nil || !pat.is(deref(e.Subject.Reference)) {
			foreign("Encounter", deref(e.Id), i)
			continue
		}
		encList = append(encList, e)
		encRaw[e] = raw
		for _, l := range e.Location {
			if l.Location.Reference != nil {
				refs[*l.Location.Reference] = true
			}
		}
		for _, part := range e.Participant {
			if part.Individual != nil && part.Individual.Reference != nil {
				refs[*part.Individual.Reference] = true
			}
		}
		if e.ServiceProvider != nil && e.ServiceProvider.Reference != nil {
			refs[*e.ServiceProvider.Reference] = true
		}
	}
	settled = s.resolveAll(ctx, refs)

	n := normaliser{src: s, loc: s.cfg.Location}
	for i, a := range apptList {
		e, err := n.appointment(a)
		if err != nil {
			skip("Appointment", i, apptRaw[a], err)
			continue
		}
		it := item{key: "Appointment/" + deref(a.Id), entry: e, ok: true}
		if !a.KnownStatus {
			it.warning = fmt.Sprintf("Appointment #%d: unknown status %q", i, codeOrQ(a.RawStatus))
		} else if settled {
			// Kept next time it reads the same; not one that warns (the
			// warning must be counted again) or rests on a failed read.
			it.entry.Provenance[0].Digest = apptDigest[a]
		}
		items = append(items, it)
	}
	for i, enc := range encList {
		e, err := n.encounter(enc)
		if err != nil {
			skip("Encounter", i, encRaw[enc], err)
			continue
		}
		it := item{key: "Encounter/" + deref(enc.Id), entry: e, ok: true}
		if !enc.KnownStatus {
			it.warning = fmt.Sprintf("Encounter #%d: unknown status %q", i, codeOrQ(enc.RawStatus))
		}
		items = append(items, it)
	}
	return items, settled
}

// search runs the Appointment and Encounter searches for q at once.
func (s *Source) search(ctx context.Context, budget *fhir.ByteBudget, q url.Values, include bool) (appts, encs *fhir.SearchResult, err error) {
	searchAppts := func(ctx context.Context) (err error) {
		appts, err = s.client.SearchWithin(ctx, budget, "Appointment", withIncludes(q, include, appointmentIncludes))
		return err
	}
	searchEncs := func(ctx context.Context) (err error) {
		encs, err = s.client.SearchWithin(ctx, budget, "Encounter", withIncludes(q, include, encounterIncludes))
		return err
	}
	if s.client.BreakerState() != fhir.BreakerClosed {
		// The breaker lets one trial through. Side by side, the other
		// search would be refused at once, which cancels the trial, and
		// the breaker would never close however well the server answers.
		if err := searchAppts(ctx); err != nil {
			return nil, nil, err
		}
		return appts, encs, searchEncs(ctx)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return searchAppts(gctx) })
	g.Go(func() error { return searchEncs(gctx) })
	return appts, encs, g.Wait()
}

// codeOrQ quotes a code from the server only when it looks like one: notes
// are shown to support staff and must not carry free text.
func codeOrQ(code string) string {
	if len(code) == 0 || len(code) > 32 {
		return "?"
	}
	for _, c := range code {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "?"
		}
	}
	return code
}

// redact applies the source's Detail level.
func (s *Source) redact(e *aggregator.Entry) {
	if s.cfg.Detail != DetailGeneric {
		return
	}
	// Place and medium stay: the patient must know where to go, or that
	// the call comes to them. The video link stays for the same reason.
	g := *e
	*e = aggregator.Entry{
		ID: g.ID, Source: g.Source, Sector: g.Sector, Kind: g.Kind,
		Status: g.Status, FHIRStatus: g.FHIRStatus,
		Start: g.Start, End: g.End, AllDay: g.AllDay,
		Place: g.Place, Medium: g.Medium, VideoURL: g.VideoURL,
		Sensitivity: g.Sensitivity, Generic: true,
		Updated: g.Updated, Provenance: g.Provenance, PartOf: g.PartOf,
	}
}

// included reports whether a search result resource is of another type
// than searched for: an _include the server added, not a bad match. An
// included party goes into the reference cache, so it is not read again.
func (s *Source) included(raw json.RawMessage, searched string) bool {
	t, err := fhir.ResourceType(raw)
	if err != nil || t == searched {
		return false
	}
	if partyTypes[t] {
		var head struct {
			ID string `json:"id"`
		}
		if fhir.Unmarshal(raw, &head) == nil && head.ID != "" {
			if p, err := decodeParty(raw); err == nil && p.Type == t {
				s.refs.put(t+"/"+head.ID, p)
			}
		}
		return true
	}
	// _include=Appointment:actor and Encounter:participant bring these too.
	return s.cfg.Include && actorTypes[t]
}

// Searches with Include set ask for the parties entries refer to.
var (
	appointmentIncludes = []string{"Appointment:actor", "PractitionerRole:practitioner"}
	encounterIncludes   = []string{"Encounter:location", "Encounter:participant", "Encounter:service-provider", "PractitionerRole:practitioner"}
	actorTypes          = map[string]bool{"Patient": true, "RelatedPerson": true, "Device": true}
)

func withIncludes(q url.Values, include bool, includes []string) url.Values {
	if !include {
		return q
	}
	out := make(url.Values, len(q)+1)
	for k, v := range q {
		out[k] = v
	}
	// The practitioner of an included PractitionerRole is an include of an
	// include: _include:iterate.
	out["_include"] = includes[:len(includes)-1]
	out["_include:iterate"] = includes[len(includes)-1:]
	return out
}

// windowQuery asks for the patient's resources that touch [w.From, w.To).
func windowQuery(patientID string, w aggregator.Window) url.Values {
	return url.Values{
		"patient": {"Patient/" + patientID},
		"date":    {"ge" + w.From.Format(time.RFC3339), "lt" + w.To.Format(time.RFC3339)},
	}
}

// BreakerState tells whether this source's circuit breaker is letting
// requests through, for status pages and metrics.
func (s *Source) BreakerState() fhir.BreakerState { return s.client.BreakerState() }

// wrap turns a client error into a SourceError with the right kind.
func (s *Source) wrap(op string, err error) error {
	kind := aggregator.Unavailable
	var fe *fhir.Error
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		kind = aggregator.Timeout
	case errors.As(err, &fe):
		kind = aggregator.KindForHTTPStatus(fe.StatusCode)
	case errors.Is(err, fhir.ErrAuth):
		kind = aggregator.Unauthorized // the token endpoint refused our credentials
	case errors.Is(err, fhir.ErrInvalid), errors.Is(err, fhir.ErrTooLarge), errors.Is(err, fhir.ErrLoop):
		kind = aggregator.Invalid
	case errors.As(err, &ne) && ne.Timeout():
		kind = aggregator.Timeout
	}
	se := &aggregator.SourceError{Source: s.cfg.Name, Kind: kind, Msg: op, Err: err}
	var open *fhir.CircuitOpenError
	switch {
	case errors.As(err, &open):
		se.RetryAfter = open.Wait
	case fe != nil:
		se.RetryAfter = fe.RetryAfter
	}
	return se
}
