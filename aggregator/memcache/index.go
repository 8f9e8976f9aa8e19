package memcache

import (
	"context"
	"slices"
)

// The conflict index (aggregator.ConflictIndex) of the timelines this
// cache holds: the patients with conflicts per day, and per organisation
// and day. Put replaces a patient's terms and eviction removes them, under
// the cache's lock, so the index never names a timeline the cache dropped.

type conflictIndex struct {
	days map[string]map[string]bool            // day -> handles
	orgs map[string]map[string]map[string]bool // organisation -> day -> handles
}

// terms are what the index holds of one patient.
type terms struct{ days, orgs []string }

func (t terms) equal(o terms) bool {
	return slices.Equal(t.days, o.days) && slices.Equal(t.orgs, o.orgs)
}

func (x *conflictIndex) add(handle string, tm terms) {
	if len(tm.days) == 0 {
		return
	}
	if x.days == nil {
		x.days, x.orgs = map[string]map[string]bool{}, map[string]map[string]map[string]bool{}
	}
	for _, d := range tm.days {
		set(x.days, d)[handle] = true
	}
	for _, o := range tm.orgs {
		byDay := x.orgs[o]
		if byDay == nil {
			byDay = map[string]map[string]bool{}
			x.orgs[o] = byDay
		}
		for _, d := range tm.days {
			set(byDay, d)[handle] = true
		}
	}
}

func (x *conflictIndex) remove(handle string, tm terms) {
	for _, d := range tm.days {
		unset(x.days, d, handle)
	}
	for _, o := range tm.orgs {
		byDay := x.orgs[o]
		for _, d := range tm.days {
			unset(byDay, d, handle)
		}
		if len(byDay) == 0 {
			delete(x.orgs, o)
		}
	}
}

func set(m map[string]map[string]bool, k string) map[string]bool {
	s := m[k]
	if s == nil {
		s = map[string]bool{}
		m[k] = s
	}
	return s
}

func unset(m map[string]map[string]bool, k, handle string) {
	if s := m[k]; s != nil {
		delete(s, handle)
		if len(s) == 0 {
			delete(m, k)
		}
	}
}

// Conflicted looks at each day the index holds and the patients on those
// in [from, to]: a few hundred days at most, then the answer.
func (c *Cache) Conflicted(ctx context.Context, from, to, organization string, limit int) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	byDay := c.index.days
	if organization != "" {
		byDay = c.index.orgs[organization]
	}
	seen := map[string]bool{}
	var out []string
	for d, hs := range byDay {
		if d < from || d > to {
			continue
		}
		for h := range hs {
			if limit > 0 && len(out) >= limit {
				return out, ctx.Err()
			}
			if !seen[h] {
				seen[h] = true
				out = append(out, h)
			}
		}
	}
	return out, ctx.Err()
}

// ConflictedAmong looks at each patient's own terms.
func (c *Cache) ConflictedAmong(ctx context.Context, from, to string, handles []string) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, h := range handles {
		el, ok := c.items[h]
		if !ok || seen[h] {
			continue
		}
		for _, d := range el.Value.(*item).terms.days {
			if d >= from && d <= to {
				seen[h] = true
				out = append(out, h)
				break
			}
		}
	}
	return out, ctx.Err()
}
