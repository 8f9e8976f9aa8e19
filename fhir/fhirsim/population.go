package fhirsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Population is a simulated source's patients, made on demand: a region's
// hundred thousand patients need not be held as millions of resources, only
// those asked about, for a while. It makes each patient's Patient,
// Appointments and Encounters; other types are Shared. Implementations must
// be deterministic (the same patient and changes give the same resources)
// and safe for concurrent use.
type Population interface {
	// Len is how many patients there are, numbered from 0.
	Len() int
	// Shared are the resources the patients' refer to (Organizations,
	// Locations, Practitioners), held as New holds its resources.
	Shared() []json.RawMessage
	// Created is an instant no later than the meta.lastUpdated of any
	// resource as first made; only changes are newer.
	Created() time.Time
	// Find is the patient the Patient identifier system|value names
	// (system "" for any).
	Find(system, value string) (int, bool)
	// Owner is the patient whose resource type/id is.
	Owner(resourceType, id string) (int, bool)
	// Resources are patient i's resources (their Patient first) after the
	// changes made at the times given, oldest first; none gives them as
	// first made. A resource a change touched carries its time as
	// meta.lastUpdated.
	Resources(i int, changes []time.Time) []json.RawMessage
}

// population is a Server's Population and the changes made to it.
type population struct {
	pop Population

	mu      sync.Mutex
	changes map[int][]time.Time // patient -> times of its changes, oldest first
	log     []change            // every change, in time order
	made    map[int]*made       // indexed resources of recently asked patients
}

type change struct {
	at      time.Time
	patient int
}

// made is one patient's resources at a number of changes.
type made struct {
	changes int
	byType  map[string][]*resource // sorted for searching
	byKey   map[string]*resource
}

// maxMade bounds the patients whose indexed resources are kept; when full
// it starts over, which costs a patient's resources being made again.
const maxMade = 4096

// maxUnnarrowed is the most patients a search that names none of them
// (no patient, identifier, _id or recent _lastUpdated) looks at; beyond
// it the search is refused as too costly, as real servers refuse some.
const maxUnnarrowed = 10_000

// populated are the types a Population makes per patient.
var populated = map[string]bool{"Patient": true, "Appointment": true, "Encounter": true}

// NewPopulation serves pop: searches by patient, by Patient identifier or
// _id, and system-level searches on _lastUpdated since pop's Created (a
// change feed), made from the patients they name; reads of any resource;
// and Change, which changes a patient at the source. Options apply as to New.
func NewPopulation(pop Population, opts Options) (*Server, error) {
	s, err := New(pop.Shared(), opts)
	if err != nil {
		return nil, fmt.Errorf("fhirsim: shared resources: %w", err)
	}
	s.pop = &population{pop: pop, changes: map[int][]time.Time{}, made: map[int]*made{}}
	return s, nil
}

// Change changes patient i at the source now: the Population decides what
// (see Population.Resources), and a _lastUpdated search from before now
// names the patient. It returns the time of the change.
func (s *Server) Change(i int) (time.Time, error) {
	p := s.pop
	if p == nil {
		return time.Time{}, errors.New("fhirsim: only a population can change")
	}
	if i < 0 || i >= p.pop.Len() {
		return time.Time{}, fmt.Errorf("fhirsim: no patient %d", i)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	at := time.Now().UTC()
	if n := len(p.log); n > 0 && !at.After(p.log[n-1].at) {
		at = p.log[n-1].at.Add(time.Microsecond) // the log stays in order
	}
	p.changes[i] = append(p.changes[i], at)
	p.log = append(p.log, change{at: at, patient: i})
	return at, nil
}

// patient returns patient i's resources as they are now.
func (p *population) patient(i int, zone *time.Location) (*made, error) {
	p.mu.Lock()
	cs := slices.Clone(p.changes[i])
	if m, ok := p.made[i]; ok && m.changes == len(cs) {
		p.mu.Unlock()
		return m, nil
	}
	p.mu.Unlock()
	m := &made{changes: len(cs), byType: map[string][]*resource{}, byKey: map[string]*resource{}}
	for n, raw := range p.pop.Resources(i, cs) {
		r, err := index(raw, zone)
		if err != nil {
			return nil, fmt.Errorf("fhirsim: patient %d, resource %d: %w", i, n, err)
		}
		m.byKey[r.typ+"/"+r.id] = r
		m.byType[r.typ] = append(m.byType[r.typ], r)
	}
	for _, r := range m.byKey {
		resolvePatients(r, m.byKey)
	}
	for _, rs := range m.byType {
		sortResources(rs)
	}
	p.mu.Lock()
	if len(p.made) >= maxMade {
		p.made = map[int]*made{}
	}
	if cur, ok := p.made[i]; !ok || cur.changes <= m.changes {
		p.made[i] = m
	}
	p.mu.Unlock()
	return m, nil
}

// read finds a resource of a patient by its id.
func (p *population) read(resourceType, id string, zone *time.Location) (*resource, bool) {
	i, ok := p.pop.Owner(resourceType, id)
	if !ok {
		return nil, false
	}
	m, err := p.patient(i, zone)
	if err != nil {
		return nil, false
	}
	r, ok := m.byKey[resourceType+"/"+id]
	return r, ok
}

// errTooCostly is a search that would have to make every patient.
var errTooCostly = errors.New("the search names no patient, identifier, _id or recent _lastUpdated: too costly for this population")

// candidates are the resources of resourceType among the patients a
// search names, a superset of its matches in search order: by the first of
// patient/subject, Patient identifier or _id, _lastUpdated lower bounds
// since Created; otherwise every patient, if there are few.
func (p *population) candidates(resourceType string, values url.Values, zone *time.Location) ([]*resource, error) {
	patients, err := p.named(resourceType, values, zone)
	if err != nil {
		return nil, err
	}
	var out []*resource
	for _, i := range patients {
		m, err := p.patient(i, zone)
		if err != nil {
			return nil, err
		}
		out = append(out, m.byType[resourceType]...)
	}
	if len(patients) > 1 {
		sortResources(out)
	}
	return out, nil
}

// named lists the patients a search names, each once, in order.
func (p *population) named(resourceType string, values url.Values, zone *time.Location) ([]int, error) {
	var out []int
	seen := map[int]bool{}
	add := func(i int, ok bool) {
		if ok && !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	for _, name := range []string{"patient", "subject", "patient:Patient", "subject:Patient"} {
		if resourceType == "Patient" || len(values[name]) == 0 {
			continue
		}
		// Occurrences are ANDed: the first one's patients hold every match.
		for _, v := range strings.Split(values[name][0], ",") {
			if id, ok := refID(v, "Patient", true); ok {
				add(p.pop.Owner("Patient", id))
			}
		}
		return out, nil
	}
	if resourceType == "Patient" && len(values["identifier"]) > 0 {
		for _, v := range strings.Split(values["identifier"][0], ",") {
			t := parseToken(v)
			system := t.system
			if t.anySystem {
				system = ""
			}
			add(p.pop.Find(system, t.value))
		}
		return out, nil
	}
	if len(values["_id"]) > 0 {
		for _, id := range strings.Split(values["_id"][0], ",") {
			add(p.pop.Owner(resourceType, id))
		}
		return out, nil
	}
	for _, occ := range values["_lastUpdated"] {
		since, ok := lowerBound(occ, zone)
		if !ok || since.Before(p.pop.Created()) {
			continue
		}
		p.mu.Lock()
		k := sort.Search(len(p.log), func(k int) bool { return !p.log[k].at.Before(since) })
		for _, c := range p.log[k:] {
			add(c.patient, true)
		}
		p.mu.Unlock()
		return out, nil
	}
	if n := p.pop.Len(); n <= maxUnnarrowed {
		for i := range n {
			add(i, true)
		}
		return out, nil
	}
	return nil, errTooCostly
}

// lowerBound is the earliest instant every value of a _lastUpdated
// occurrence can match, if each has one (gt, ge, eq, sa).
func lowerBound(occ string, zone *time.Location) (time.Time, bool) {
	var lo time.Time
	for i, v := range strings.Split(occ, ",") {
		f, err := parseDateFilter(v, zone)
		if err != nil {
			return time.Time{}, false
		}
		switch f.prefix {
		case "gt", "ge", "eq", "sa":
		default:
			return time.Time{}, false
		}
		if i == 0 || f.p.lo.Before(lo) {
			lo = f.p.lo
		}
	}
	return lo, true
}
