package aggregator

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// merge turns the entries of all sources into the timeline's list: entries that
// belong to an appointment (an Encounter's appointment reference) fold into it,
// entered-in-error entries disappear, cancelled ones stay, entries of
// different sources that are one meeting or one stay are joined (see
// MergeRules), and the result is sorted by start. The input, in the order of
// the sources' registration, is the caller's to give: its array holds the
// result (an entry is a few hundred bytes, and a build's copy of all of
// them was a ninth of what it allocated). The entries' slices are copied,
// never shared with in's.
func merge(in []Entry, rules MergeRules) []Entry {
	index := make(map[string]int, len(in))
	var parts []Entry
	c := newCloner(in)
	// Each entry moves to at most one place at or before its own (a part
	// is copied out first), once: by pointer, not as copies of the struct.
	out := in[:0]
	for j := range in {
		e := &in[j]
		if e.Status == StatusEnteredInError {
			continue
		}
		if len(e.PartOf) > 0 {
			parts = append(parts, *e)
			continue
		}
		index[e.ID] = len(out)
		out = append(out, *e)
		c.clone(&out[len(out)-1])
	}
	for _, p := range parts {
		folded := false
		for _, ref := range p.PartOf {
			if i, ok := index[ref]; ok {
				fold(&out[i], p)
				folded = true
				break
			}
		}
		if !folded {
			// The appointment is outside the window or unknown: the encounter still
			// happened, so it is shown on its own.
			c.clone(&p)
			p.PartOf = nil
			out = append(out, p)
		}
	}
	return byStart(rules.withDefaults().join(out))
}

// byStart sorts es by start, then ID, stably, in place. It sorts indexes
// and moves each entry once: an Entry is a few hundred bytes of pointers,
// and a sort that swaps them pays a write barrier for each word of every
// swap.
func byStart(es []Entry) []Entry {
	order := make([]int, len(es))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		if c := es[a].Start.Compare(es[b].Start); c != 0 {
			return c
		}
		return cmp.Compare(es[a].ID, es[b].ID)
	})
	// es[i] is to be what es[order[i]] is: follow each cycle once.
	for i := range es {
		if order[i] == i {
			continue
		}
		held, j := es[i], i
		for {
			k := order[j]
			order[j] = j
			if k == i {
				es[j] = held
				break
			}
			es[j], j = es[k], k
		}
	}
	return es
}

// fold adds an encounter's facts to the appointment it belongs to. The
// appointment keeps its identity and booked time, which is what the patient
// knows; the encounter tells what actually happened.
func fold(a *Entry, enc Entry) {
	a.Provenance = append(a.Provenance, enc.Provenance...)
	if a.Status != StatusCancelled {
		switch enc.Status {
		case StatusInProgress, StatusOnLeave, StatusCompleted:
			a.Status = enc.Status // FHIRStatus stays the appointment's code
		}
	}
	if enc.Kind == KindAdmission {
		a.Kind = KindAdmission
		a.Start, a.End = enc.Start, enc.End
	}
	fill(&a.Title, enc.Title)
	fill(&a.Description, enc.Description)
	fill(&a.Instruction, enc.Instruction)
	fill(&a.Organization, enc.Organization)
	fill(&a.Contact, enc.Contact)
	if a.Place.Name == "" && a.Place.Address == "" {
		a.Place = enc.Place
	}
	if len(a.ServiceCodes) == 0 {
		a.ServiceCodes = slices.Clone(enc.ServiceCodes)
	}
	if len(a.People) == 0 {
		a.People = append([]string(nil), enc.People...)
	}
	// A source that shares only generic detail does so for all its resources.
	a.Generic = a.Generic || enc.Generic
	if enc.Sensitivity == SensitivityRestricted {
		a.Sensitivity = SensitivityRestricted
	}
	if enc.Updated.After(a.Updated) {
		a.Updated = enc.Updated
	}
	if enc.Stale {
		a.Stale = true
	}
}

func fill(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

// cloneEntry copies the slices so a cached timeline never shares backing
// arrays with the batch a source returned.
func cloneEntry(e Entry) Entry {
	newCloner([]Entry{e}).clone(&e)
	return e
}

// cloner copies entries' slices into a few backing arrays sized for all of
// them up front: cloning a timeline's entries one slice at a time is
// hundreds of small allocations per build. Each copy is capped at its
// length, so an append to one never runs into the next.
type cloner struct {
	strings []string
	prov    []Provenance
	parts   []Part
}

// newCloner has room for the slices of es.
func newCloner(es []Entry) *cloner {
	var ns, np, nq int
	for i := range es {
		e := &es[i]
		ns += len(e.People) + len(e.PartOf) + len(e.ServiceCodes) + len(e.Identifiers) + len(e.Replaces)
		np += len(e.Provenance)
		nq += len(e.Parts)
	}
	return &cloner{strings: make([]string, ns), prov: make([]Provenance, np), parts: make([]Part, nq)}
}

// clone gives e copies of its slices; nil stays nil, as slices.Clone has it.
func (c *cloner) clone(e *Entry) {
	e.People = take(&c.strings, e.People)
	e.Provenance = take(&c.prov, e.Provenance)
	e.PartOf = take(&c.strings, e.PartOf)
	e.ServiceCodes = take(&c.strings, e.ServiceCodes)
	e.Identifiers = take(&c.strings, e.Identifiers)
	e.Replaces = take(&c.strings, e.Replaces)
	e.Parts = take(&c.parts, e.Parts)
}

// take copies s into the front of *room and moves *room on; when *room is
// short (an entry it was not sized for) the copy is a slice of its own.
func take[T any](room *[]T, s []T) []T {
	switch {
	case s == nil:
		return nil
	case len(s) > len(*room):
		return slices.Clone(s)
	}
	n := copy(*room, s)
	out := (*room)[:n:n]
	*room = (*room)[n:]
	return out
}

// MergeRules say when entries of different sources are one entry. A zero
// field takes its default.
type MergeRules struct {
	Meetings MeetingMerge
	Stays    StayMerge
}

// MeetingMerge: a meeting booked in two systems (a discharge meeting with
// hospital and municipal staff) is one entry when its bookings start and
// end within Within of each other and share an identifier, a video link,
// or a place and a compatible title.
type MeetingMerge struct {
	Off    bool
	Within time.Duration // default 5 minutes
	// Each switches one of the signals off.
	IgnoreIdentifier, IgnoreVideoLink, IgnorePlace bool
}

// StayMerge: a stay known from two sources (a MedCom HospitalNotification
// and the hospital's FHIR server) is one entry when both share an
// identifier, or name the same organisation and start within Within.
type StayMerge struct {
	Off    bool
	Within time.Duration // default 5 minutes
}

// DefaultMergeRules are the rules with their defaults.
func DefaultMergeRules() MergeRules { return MergeRules{}.withDefaults() }

func (r MergeRules) withDefaults() MergeRules {
	if r.Meetings.Within <= 0 {
		r.Meetings.Within = 5 * time.Minute
	}
	if r.Stays.Within <= 0 {
		r.Stays.Within = 5 * time.Minute
	}
	return r
}

// join joins the entries of different sources that are one. in is in
// registration order: the first source's entry of a group keeps its
// identity and leads, the others add their part. A group holds at most one
// entry per source: two bookings in one system are two bookings. in's
// array holds the result, as merge's does.
func (r MergeRules) join(in []Entry) []Entry {
	if r.Meetings.Off && r.Stays.Off {
		return in
	}
	byStart := make([]int, len(in))
	for i := range byStart {
		byStart[i] = i
	}
	slices.SortStableFunc(byStart, func(a, b int) int { return in[a].Start.Compare(in[b].Start) })
	reach := max(r.Meetings.Within, r.Stays.Within)
	joined := make([]bool, len(in))
	var groups [][]int
	for k, i := range byStart {
		if joined[i] {
			continue
		}
		group := []int{i}
		// A stay's identifier joins it whenever the others started; the
		// rest must start close together.
		byID := !r.Stays.Off && in[i].Kind == KindAdmission && len(in[i].Identifiers) > 0
		for _, j := range byStart[k+1:] {
			if in[j].Start.Sub(in[i].Start) > reach && !byID {
				break
			}
			if joined[j] || slices.ContainsFunc(group, func(g int) bool { return in[g].Source == in[j].Source }) {
				continue
			}
			if r.same(&in[i], &in[j]) {
				group = append(group, j)
				joined[j] = true
			}
		}
		if len(group) > 1 {
			joined[i] = true
			slices.Sort(group) // registration order
			groups = append(groups, group)
		}
	}
	if len(groups) == 0 {
		return in
	}
	// Joined before in's array is compacted, as merge's is: in is merge's.
	made := make([]Entry, len(groups))
	for n, g := range groups {
		members := make([]Entry, len(g))
		for k, i := range g {
			members[k] = in[i]
		}
		made[n] = joinEntries(members)
	}
	out := in[:0]
	for i := range in {
		if !joined[i] {
			out = append(out, in[i])
		}
	}
	return append(out, made...)
}

// same reports whether a and b, of different sources, are one meeting or
// one stay.
func (r MergeRules) same(a, b *Entry) bool {
	if a.Source == b.Source {
		return false
	}
	if a.Kind == KindAdmission || b.Kind == KindAdmission {
		if r.Stays.Off || a.Kind != b.Kind {
			return false
		}
		if shareIdentifier(a, b) {
			return true
		}
		org := normalise(a.Organization)
		return org != "" && org == normalise(b.Organization) && within(a.Start, b.Start, r.Stays.Within)
	}
	m := r.Meetings
	if m.Off || !within(a.Start, b.Start, m.Within) || !within(a.End, b.End, m.Within) {
		return false
	}
	switch {
	case !m.IgnoreIdentifier && shareIdentifier(a, b):
		return true
	case !m.IgnoreVideoLink && a.VideoURL != "" && videoLink(a.VideoURL) == videoLink(b.VideoURL):
		return true
	case !m.IgnorePlace && samePlace(a.Place, b.Place) && compatibleTitles(a, b):
		return true
	}
	return false
}

func within(a, b time.Time, d time.Duration) bool {
	diff := a.Sub(b)
	return diff <= d && diff >= -d
}

func shareIdentifier(a, b *Entry) bool {
	for _, x := range a.Identifiers {
		for _, y := range b.Identifiers {
			if identifierKey(x) == identifierKey(y) {
				return true
			}
		}
	}
	return false
}

// identifierKey reads a UUID value with or without its urn:uuid: prefix,
// which systems add or drop, as one.
func identifierKey(id string) string {
	system, value, _ := strings.Cut(id, "|")
	if v, ok := strings.CutPrefix(value, "urn:uuid:"); ok {
		value = v
	}
	return system + "|" + value
}

// videoLink compares links without the case of scheme and host and
// without a trailing slash, which systems add or drop.
func videoLink(u string) string {
	u = strings.TrimRight(strings.TrimSpace(u), "/")
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	host, path, _ := strings.Cut(rest, "/")
	return strings.ToLower(scheme) + "://" + strings.ToLower(host) + "/" + path
}

// samePlace: the same name and address, or coordinates within the travel
// rule's default of one place (50 m).
func samePlace(a, b Place) bool {
	if a.Lat != nil && a.Lon != nil && b.Lat != nil && b.Lon != nil {
		return haversineKM(*a.Lat, *a.Lon, *b.Lat, *b.Lon)*1000 < 50
	}
	k := placeKey(a)
	return k != "" && k == placeKey(b)
}

// compatibleTitles: one normalised title is the other, or holds it as whole
// words ("Udskrivningssamtale" and "Udskrivningssamtale, video"), or both
// name a coded service in common. A missing title tells nothing.
func compatibleTitles(a, b *Entry) bool {
	if len(a.ServiceCodes) > 0 && len(b.ServiceCodes) > 0 && sharesCode(a, b) {
		return true
	}
	ta, tb := normalise(a.Title), normalise(b.Title)
	if ta == "" || tb == "" {
		return false
	}
	return strings.Contains(" "+ta+" ", " "+tb+" ") || strings.Contains(" "+tb+" ", " "+ta+" ")
}

// joinEntries makes one entry of members (registration order, one per
// source): the first keeps its identity; every member gives its part, its
// provenance and what the others left empty. A meeting stands while any
// source's booking stands; a stay is as its most recently updated source
// says.
func joinEntries(members []Entry) Entry {
	e := cloneEntry(members[0])
	e.Parts = nil
	lead := 0 // whose status the joined entry has
	for k, m := range members {
		e.Parts = append(e.Parts, Part{Source: m.Source, Sector: m.Sector, Organization: m.Organization, Status: m.Status, Stale: m.Stale})
		if k == 0 {
			continue
		}
		e.Provenance = append(e.Provenance, m.Provenance...)
		for _, id := range m.Identifiers {
			if !slices.Contains(e.Identifiers, id) {
				e.Identifiers = append(e.Identifiers, id)
			}
		}
		for _, id := range m.Replaces {
			if !slices.Contains(e.Replaces, id) {
				e.Replaces = append(e.Replaces, id)
			}
		}
		fill(&e.Title, m.Title)
		fill(&e.Description, m.Description)
		fill(&e.Instruction, m.Instruction)
		fill(&e.Organization, m.Organization)
		fill(&e.Contact, m.Contact)
		fill(&e.VideoURL, m.VideoURL)
		if e.Place.Name == "" && e.Place.Address == "" {
			e.Place = m.Place
		}
		if len(e.People) == 0 {
			e.People = slices.Clone(m.People)
		}
		if len(e.ServiceCodes) == 0 {
			e.ServiceCodes = slices.Clone(m.ServiceCodes)
		}
		// The generic title is for entries nobody shares more of.
		e.Generic = e.Generic && m.Generic
		if m.Sensitivity == SensitivityRestricted {
			e.Sensitivity = SensitivityRestricted
		}
		e.Stale = e.Stale && m.Stale
		if m.Updated.After(e.Updated) {
			e.Updated = m.Updated
		}
		if e.Kind == KindAdmission {
			if m.Updated.After(members[lead].Updated) {
				lead = k
			}
		} else if !live(&members[lead]) && live(&m) {
			lead = k
		}
	}
	if lead != 0 {
		l := members[lead]
		e.Status, e.FHIRStatus = l.Status, l.FHIRStatus
		if e.Kind == KindAdmission {
			e.End, e.Died = l.End, l.Died
		}
	}
	return e
}
