package fhirsource

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/fhir"
)

// feedStartBack is how far before our clock a new feed starts, so a server
// clock a little behind ours loses nothing: a change seen twice costs one
// refresh more.
const feedStartBack = time.Minute

// maxFeedPatients bounds the Patient id -> identifiers memory of the feed;
// when full it starts over, which costs one read per patient named again.
const maxFeedPatients = 10_000

// feedIdentifiers remembers the identifiers of Patients the feed has named.
type feedIdentifiers struct {
	mu sync.Mutex
	m  map[string][]aggregator.Identifier
}

func (f *feedIdentifiers) get(pid string) ([]aggregator.Identifier, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids, ok := f.m[pid]
	return ids, ok
}

func (f *feedIdentifiers) put(pid string, ids []aggregator.Identifier) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil || len(f.m) >= maxFeedPatients {
		f.m = make(map[string][]aggregator.Identifier)
	}
	f.m[pid] = ids
}

// feedHead is what the feed reads of a resource: cheap to decode, and
// tolerant of everything it does not need.
type feedHead struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Meta         struct {
		LastUpdated string `json:"lastUpdated"`
	} `json:"meta"`
	Participant []struct {
		Actor *struct {
			Reference string `json:"reference"`
		} `json:"actor"`
	} `json:"participant"`
	Subject *struct {
		Reference string `json:"reference"`
	} `json:"subject"`
	Identifier []struct {
		System string `json:"system"`
		Value  string `json:"value"`
	} `json:"identifier"`
}

// feedTypes are the types a change feed searches, in the cursor's order.
var feedTypes = [2]string{"Appointment", "Encounter"}

// parseFeedCursor reads a cursor of Changed: one instant per feed type, or
// one for both.
func parseFeedCursor(cursor string) ([2]time.Time, error) {
	a, e, two := strings.Cut(cursor, "|")
	if !two {
		e = a
	}
	var out [2]time.Time
	for k, v := range []string{a, e} {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return out, err
		}
		out[k] = t
	}
	return out, nil
}

// Changed implements aggregator.ChangeFeed with two system-level searches,
// Appointment and Encounter with _lastUpdated=gt<cursor>, asking the server
// to _include the Patients they name; a Patient not included (a server
// without _include) is read once and remembered. The cursor is the newest
// meta.lastUpdated seen, in the server's clock; an empty one starts at our
// clock less a minute. A deletion does not show in such a search: the
// refresher's periodic full read catches it. A search cut off at the page
// cap is an error, so no change is skipped silently; the cursor stays.
//
// Each resource type has its own instant in the cursor ("appointments|
// encounters"; a single instant, as earlier releases wrote, is both): the
// two searches run one after the other, and an Appointment changed between
// them, stamped before the newest Encounter, would be skipped for good by
// one instant shared by both.
func (s *Source) Changed(ctx context.Context, cursor string) ([]aggregator.Identifier, string, error) {
	if cursor == "" {
		start := s.cfg.Now().Add(-feedStartBack).UTC().Format(time.RFC3339Nano)
		return nil, start + "|" + start, nil
	}
	since, err := parseFeedCursor(cursor)
	if err != nil {
		return nil, "", &aggregator.SourceError{Source: s.cfg.Name, Kind: aggregator.Invalid, Msg: "change feed cursor is not an instant", Err: err}
	}
	budget := fhir.NewByteBudget(s.cfg.MaxBytes)
	pids := map[string]bool{}
	included := map[string][]aggregator.Identifier{}
	var next [2]string
	for k, typ := range feedTypes {
		include := "Appointment:patient"
		if typ == "Encounter" {
			include = "Encounter:subject"
		}
		newest := since[k]
		res, err := s.client.SearchWithin(ctx, budget, typ, url.Values{"_lastUpdated": {"gt" + since[k].Format(time.RFC3339Nano)}, "_include": {include}})
		if err != nil {
			return nil, "", s.wrap("change feed", err)
		}
		if res.Truncated || res.OverBudget {
			return nil, "", &aggregator.SourceError{Source: s.cfg.Name, Kind: aggregator.Invalid,
				Msg: "change feed: more changes than the page cap or the byte budget; the server may ignore _lastUpdated", Err: errTruncated}
		}
		for _, raw := range res.Resources {
			var h feedHead
			if fhir.Unmarshal(raw, &h) != nil {
				continue
			}
			switch h.ResourceType {
			case "Patient":
				if h.ID != "" {
					included[h.ID] = identifiersOf(h)
				}
				continue
			case typ:
			default:
				continue
			}
			if t, err := time.Parse(time.RFC3339Nano, h.Meta.LastUpdated); err == nil && t.After(newest) {
				newest = t
			}
			var refs []string
			for _, p := range h.Participant {
				if p.Actor != nil {
					refs = append(refs, p.Actor.Reference)
				}
			}
			if h.Subject != nil {
				refs = append(refs, h.Subject.Reference)
			}
			for _, ref := range refs {
				if t, id, ok := localRef(s.client.BaseURL(), ref); ok && t == "Patient" {
					pids[id] = true
				}
			}
		}
		next[k] = newest.UTC().Format(time.RFC3339Nano)
	}
	ids, err := s.identifiers(ctx, pids, included)
	if err != nil {
		return nil, "", err
	}
	return ids, next[0] + "|" + next[1], nil
}

func identifiersOf(h feedHead) []aggregator.Identifier {
	var out []aggregator.Identifier
	for _, i := range h.Identifier {
		if i.System != "" && i.Value != "" {
			out = append(out, aggregator.Identifier{System: i.System, Value: i.Value})
		}
	}
	return out
}

// identifiers maps Patient ids to their identifiers: from the included
// Patients, the ones remembered, or a read of each, a few at a time.
func (s *Source) identifiers(ctx context.Context, pids map[string]bool, included map[string][]aggregator.Identifier) ([]aggregator.Identifier, error) {
	var out []aggregator.Identifier
	var unknown []string
	for pid := range pids {
		if ids, ok := included[pid]; ok {
			s.feedIDs.put(pid, ids)
			out = append(out, ids...)
		} else if ids, ok := s.feedIDs.get(pid); ok {
			out = append(out, ids...)
		} else {
			unknown = append(unknown, pid)
		}
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, pid := range unknown {
		g.Go(func() error {
			raw, err := s.client.Read(gctx, "Patient", pid)
			if err != nil {
				// Skipping the patient would lose its change: the cursor
				// stays and the next poll tries again.
				return s.wrap("change feed: patient read", err)
			}
			var h feedHead
			if err := fhir.Unmarshal(raw, &h); err != nil || h.ResourceType != "Patient" {
				return &aggregator.SourceError{Source: s.cfg.Name, Kind: aggregator.Invalid, Msg: "change feed: patient read gave no Patient", Err: err}
			}
			ids := identifiersOf(h)
			s.feedIDs.put(pid, ids)
			mu.Lock()
			out = append(out, ids...)
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

var _ aggregator.ChangeFeed = (*Source)(nil)
