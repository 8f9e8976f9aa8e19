package medcom

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// stay is what the notifications of one hospital stay add up to.
type stay struct {
	id          string // stable: from the stay's episode of care identifier
	start, end  time.Time
	status      string // the Encounter's, as the last notification had it
	org         string
	leaves      []leave
	cancelled   bool // the admission was cancelled (entered in error)
	died        bool
	updated     time.Time
	identifiers []string
	headers     []string // the MessageHeader ids applied, for provenance
}

type leave struct{ start, end time.Time }

// stays groups notifications into stays and applies each stay's in the
// order their activities happened, whatever order they arrived in.
// Notifications are one stay when they share an episode of care identifier
// (the IG's id of the whole hospitalisation) or their Encounter id.
func stays(ns []Facts) []*stay {
	ns = slices.Clone(ns)
	slices.SortStableFunc(ns, func(a, b Facts) int {
		return cmp.Or(a.Occurred.Compare(b.Occurred), a.Sent.Compare(b.Sent), cmp.Compare(a.HeaderID, b.HeaderID))
	})
	// Union-find over the notifications, joined by the keys they share.
	parent := make([]int, len(ns))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		if parent[i] != i {
			parent[i] = find(parent[i])
		}
		return parent[i]
	}
	owner := map[string]int{}
	for i, n := range ns {
		keys := []string{"encounter|" + n.EncounterID}
		for _, ep := range n.Episodes {
			keys = append(keys, "episode|"+episodeKey(ep))
		}
		for _, k := range keys {
			if j, ok := owner[k]; ok {
				a, b := find(i), find(j)
				parent[max(a, b)] = min(a, b) // the earlier notification's group
			} else {
				owner[k] = i
			}
		}
	}
	groups := map[int]*stay{}
	var out []*stay
	for i, n := range ns {
		r := find(i)
		s := groups[r]
		if s == nil {
			first := ns[r]
			s = &stay{id: stayID(first)}
			groups[r] = s
			out = append(out, s)
		}
		s.apply(n)
	}
	return out
}

// episodeKey reads a UUID with or without its urn:uuid: prefix as one: the
// IG's examples write the same episode both ways.
func episodeKey(ep string) string {
	system, value, _ := strings.Cut(ep, "|")
	return system + "|" + strings.ToLower(strings.TrimPrefix(value, "urn:uuid:"))
}

// stayID is a stay's id in entry ids: a hash of the first notification's
// episode of care, so no register's identifier appears in a URL.
func stayID(first Facts) string {
	key := "encounter|" + first.EncounterID
	if len(first.Episodes) > 0 {
		key = episodeKey(first.Episodes[0])
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:10])
}

// apply folds one notification into the stay. Each notification carries
// the Encounter as it is now (period, status, the current leave), so the
// latest one gives those; the activity says what happened to the leaves.
func (s *stay) apply(n Facts) {
	s.headers = append(s.headers, n.HeaderID)
	if n.Occurred.After(s.updated) {
		s.updated = n.Occurred
	}
	s.start, s.end, s.status, s.died = n.Start, n.End, n.Status, n.Deceased
	if n.Organization != "" {
		s.org = n.Organization
	}
	for _, id := range append(slices.Clone(n.Episodes), n.Identifiers...) {
		if !slices.ContainsFunc(s.identifiers, func(x string) bool { return episodeKey(x) == episodeKey(id) }) {
			s.identifiers = append(s.identifiers, id)
		}
	}
	switch a := n.Activity; {
	case strings.HasPrefix(a, "cancel-admit-"):
		s.cancelled = true
	case strings.HasPrefix(a, "admit-"), strings.HasPrefix(a, "revise-admit-"):
		s.cancelled = false
	case a == "revise-start-leave-inpatient":
		if l := s.lastLeave(time.Time{}); l != nil && !n.LeaveStart.IsZero() {
			l.start = n.LeaveStart
		} else {
			s.setLeave(n.LeaveStart, n.LeaveEnd)
		}
	case a == "cancel-start-leave-inpatient":
		if l := s.lastLeave(n.LeaveStart); l != nil {
			s.leaves = slices.DeleteFunc(s.leaves, func(x leave) bool { return x == *l })
		}
	case a == "cancel-end-leave-inpatient":
		if l := s.lastLeave(n.LeaveStart); l != nil {
			l.end = time.Time{}
		}
	case strings.HasPrefix(a, "cancel-discharge-"):
		s.end = time.Time{}
	default: // start or end of a leave, its revision, a discharge: the leave as given
		s.setLeave(n.LeaveStart, n.LeaveEnd)
	}
}

// setLeave records the leave that began at start (none when zero), and its
// end when known.
func (s *stay) setLeave(start, end time.Time) {
	if start.IsZero() {
		return
	}
	for i := range s.leaves {
		if s.leaves[i].start.Equal(start) {
			if !end.IsZero() {
				s.leaves[i].end = end
			}
			return
		}
	}
	s.leaves = append(s.leaves, leave{start, end})
	slices.SortFunc(s.leaves, func(a, b leave) int { return a.start.Compare(b.start) })
}

// lastLeave is the leave that began at start, or the last one when start
// is zero or matches none.
func (s *stay) lastLeave(start time.Time) *leave {
	if len(s.leaves) == 0 {
		return nil
	}
	for i := range s.leaves {
		if !start.IsZero() && s.leaves[i].start.Equal(start) {
			return &s.leaves[i]
		}
	}
	return &s.leaves[len(s.leaves)-1]
}

var statuses = map[string]aggregator.Status{
	"in-progress": aggregator.StatusInProgress,
	"onleave":     aggregator.StatusOnLeave,
	"finished":    aggregator.StatusCompleted,
}

// entries are the stay as timeline entries: the admission with its period
// and each leave of absence as an on-leave entry inside it, which the
// during-admission rule reads as time the patient is not on the ward. A
// cancelled stay has none.
func (s *stay) entries(source string) []aggregator.Entry {
	st, ok := statuses[s.status]
	if s.cancelled || !ok {
		return nil
	}
	prov := make([]aggregator.Provenance, len(s.headers))
	for i, h := range s.headers {
		prov[i] = aggregator.Provenance{Source: source, Type: "MessageHeader", ID: h}
	}
	base := aggregator.Entry{
		Source: source, Sector: aggregator.SectorHospital, Kind: aggregator.KindAdmission,
		Organization: s.org, Medium: aggregator.MediumInPerson, Sensitivity: aggregator.SensitivityNormal,
		Updated: s.updated, Provenance: prov,
	}
	e := base
	e.ID = aggregator.EntryID(source, "Encounter", s.id)
	e.Status, e.FHIRStatus = st, s.status
	e.Start, e.End = s.start, s.end
	e.Identifiers, e.Died = s.identifiers, s.died
	out := []aggregator.Entry{e}
	for i, l := range s.leaves {
		if !s.end.IsZero() && !l.start.Before(s.end) {
			continue // a leave after the discharge was not taken
		}
		le := base
		le.ID = aggregator.EntryID(source, "Encounter", s.id+"-leave-"+strconv.Itoa(i+1))
		le.Status, le.FHIRStatus = aggregator.StatusOnLeave, "onleave"
		le.Start, le.End = l.start, l.end
		if le.End.IsZero() && !s.end.IsZero() {
			le.End = s.end // discharged without coming back
		}
		le.Provenance = slices.Clone(prov)
		out = append(out, le)
	}
	return out
}
