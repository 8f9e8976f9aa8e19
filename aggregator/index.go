package aggregator

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// ConflictIndex finds the patients whose stored timeline has a coordination
// conflict in a period without reading every cached timeline, so a worklist
// costs what it shows, not what the cache holds. It is kept by the
// Backend's Timelines: each Put replaces the patient's terms (IndexTerms of
// the timeline stored), and a timeline that is evicted or expires leaves the
// index with it. A patient it names may still have lost the timeline since
// (a Redis evicting under memory pressure, a Put that raced the question):
// callers read each timeline they show, and it never leaves out a patient
// whose stored timeline has a conflict in the period.
type ConflictIndex interface {
	// Conflicted returns, at most limit (none when 0) and in no particular order, the
	// patients with a conflict on a day in [from, to] (civil dates
	// YYYY-MM-DD, inclusive) whose timeline has an entry from organization
	// (as FoldOrganization folds it), or any such patient for "".
	Conflicted(ctx context.Context, from, to, organization string, limit int) ([]string, error)
	// ConflictedAmong returns those of handles, each once, with a conflict
	// on a day in [from, to].
	ConflictedAmong(ctx context.Context, from, to string, handles []string) ([]string, error)
}

// IndexTerms are what a ConflictIndex keeps of one timeline: the days it
// has conflicts on and the organisations its entries are from (folded),
// each sorted and once. A timeline without conflicts has no terms.
func IndexTerms(t *Timeline) (days, organizations []string) {
	if t == nil || len(t.Conflicts) == 0 {
		return nil, nil
	}
	for _, c := range t.Conflicts {
		days = append(days, c.Day)
	}
	// A timeline names a few organisations many times: the names are
	// folded once each.
	for i := range t.Entries {
		if o := t.Entries[i].Organization; o != "" && !slices.Contains(organizations, o) {
			organizations = append(organizations, o)
		}
	}
	k := 0
	for _, o := range organizations {
		if o = FoldOrganization(o); o != "" {
			organizations[k], k = o, k+1
		}
	}
	organizations = organizations[:k]
	slices.Sort(days)
	slices.Sort(organizations)
	return slices.Compact(days), slices.Compact(organizations)
}

// FoldOrganization is an organisation's name as the index compares it:
// without regard to case or surrounding space.
func FoldOrganization(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Conflicted lists the cached patients with a conflict on a day in
// [from, to] and, unless organization is "", an entry from it: at most
// limit, from the back end's index (see ConflictIndex).
func (s *Service) Conflicted(ctx context.Context, from, to, organization string, limit int) ([]string, error) {
	hs, err := s.backend.Index.Conflicted(ctx, from, to, FoldOrganization(organization), limit)
	if err != nil {
		return nil, fmt.Errorf("patients with conflicts: %w", err)
	}
	return hs, nil
}

// ConflictedAmong keeps those of handles whose cached timeline has a
// conflict on a day in [from, to], from the back end's index.
func (s *Service) ConflictedAmong(ctx context.Context, from, to string, handles []string) ([]string, error) {
	if len(handles) == 0 {
		return nil, nil
	}
	hs, err := s.backend.Index.ConflictedAmong(ctx, from, to, handles)
	if err != nil {
		return nil, fmt.Errorf("patients with conflicts: %w", err)
	}
	return hs, nil
}
