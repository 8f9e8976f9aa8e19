// Package memcache is the aggregator's back end of the embedded default, in
// one process's memory: NewBackend builds it whole.
package memcache

import (
	"cmp"
	"container/list"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
	"weak"

	"github.com/overblik/overblik/aggregator"
)

// Cache keeps the most recently used timelines up to a fixed count, so memory
// stays bounded however many patients are looked up.
type Cache struct {
	mu    sync.Mutex
	max   int
	order *list.List // front = most recently used; values are *item
	items map[string]*list.Element
	index conflictIndex
}

type item struct {
	handle string
	// The timeline is held either decoded (t) or packed (p, see PutPacked),
	// with a weak pointer to the timeline it was packed from or last
	// unpacked to, for as long as something else keeps that alive.
	t       *aggregator.Timeline
	p       Packed
	w       weak.Pointer[aggregator.Timeline]
	changes []aggregator.Change // oldest first
	terms   terms               // what the conflict index holds of the timeline
}

// Packed is a timeline kept in an encoded form: a tenth of the memory of a
// decoded one, and nothing for the garbage collector to scan. Redis's
// fallback keeps thousands of timelines it will read again only while
// Redis is away, as the bytes it stored there.
type Packed interface {
	Unpack() (*aggregator.Timeline, error)
}

// has reports whether the item holds a timeline.
func (it *item) has() bool { return it.t != nil || it.p != nil }

// is reports whether the item holds t itself.
func (it *item) is(t *aggregator.Timeline) bool {
	return it.t == t || (it.p != nil && it.w.Value() == t)
}

// timeline returns the item's timeline, unpacking it unless the one it
// was packed from is still in memory. Called under the cache's lock.
func (it *item) timeline() (*aggregator.Timeline, error) {
	if it.t != nil || it.p == nil {
		return it.t, nil
	}
	if t := it.w.Value(); t != nil {
		return t, nil
	}
	t, err := it.p.Unpack()
	if err != nil {
		return nil, fmt.Errorf("memcache: unpack the timeline of %s: %w", it.handle, err)
	}
	it.w = weak.Make(t)
	return t, nil
}

// DefaultMax is how many timelines New(0) holds.
const DefaultMax = 10_000

// New returns a cache holding at most max timelines (DefaultMax when max <= 0).
func New(max int) *Cache {
	if max <= 0 {
		max = DefaultMax
	}
	return &Cache{max: max, order: list.New(), items: make(map[string]*list.Element)}
}

// Get returns the cached timeline. Callers must treat it as read-only: it is
// shared with every other reader.
func (c *Cache) Get(_ context.Context, handle string) (*aggregator.Timeline, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[handle]
	if !ok || !el.Value.(*item).has() { // changes kept, timeline not (yet)
		return nil, false, nil
	}
	t, err := el.Value.(*item).timeline()
	if err != nil {
		return nil, false, err
	}
	c.order.MoveToFront(el)
	return t, true, nil
}

// Put stores t for handle, evicting the least recently used timeline when full.
func (c *Cache) Put(_ context.Context, handle string, t *aggregator.Timeline) error {
	c.put(handle, t, nil)
	return nil
}

// PutPacked stores t for handle as p, its packed form: Get unpacks it
// again, unless t is still in memory elsewhere then.
func (c *Cache) PutPacked(_ context.Context, handle string, t *aggregator.Timeline, p Packed) error {
	c.put(handle, t, p)
	return nil
}

func (c *Cache) put(handle string, t *aggregator.Timeline, p Packed) {
	// The same timeline again (Redis's fallback copies each read it serves
	// from its near cache here): only its place in the LRU changes, and
	// indexing it anew would cost a cached read more than the read itself.
	c.mu.Lock()
	if el, ok := c.items[handle]; ok && el.Value.(*item).is(t) {
		c.order.MoveToFront(el)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	days, orgs := aggregator.IndexTerms(t)
	tm := terms{days: days, orgs: orgs}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[handle]
	if !ok {
		el = c.order.PushFront(&item{handle: handle})
		c.items[handle] = el
	}
	it := el.Value.(*item)
	if !tm.equal(it.terms) { // most builds find the same days and organisations
		c.index.remove(handle, it.terms)
		c.index.add(handle, tm)
	}
	it.terms = tm
	if p != nil {
		it.t, it.p, it.w = nil, p, weak.Make(t)
	} else {
		it.t, it.p, it.w = t, nil, weak.Pointer[aggregator.Timeline]{}
	}
	c.order.MoveToFront(el)
	c.evict()
}

// evict drops the least recently used patients, with their changes, beyond max.
func (c *Cache) evict() {
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		it := last.Value.(*item)
		c.index.remove(it.handle, it.terms)
		delete(c.items, it.handle)
	}
}

// AddChanges records a patient's changes and forgets those noticed before
// keepAfter. Changes live with the patient's timeline: when it is evicted
// they go too, which is what bounds memory here.
func (c *Cache) AddChanges(_ context.Context, handle string, changes []aggregator.Change, keepAfter time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[handle]
	if !ok {
		el = c.order.PushFront(&item{handle: handle})
		c.items[handle] = el
	}
	it := el.Value.(*item)
	kept := it.changes[:0]
	for _, ch := range it.changes {
		if !ch.Noticed.Before(keepAfter) {
			kept = append(kept, ch)
		}
	}
	for _, ch := range changes {
		if !ch.Noticed.Before(keepAfter) {
			kept = append(kept, ch)
		}
	}
	// Stable: changes noticed together keep the order they were added in.
	slices.SortStableFunc(kept, func(a, b aggregator.Change) int {
		return cmp.Or(a.Noticed.Compare(b.Noticed), cmp.Compare(a.Version, b.Version))
	})
	it.changes = kept
	c.evict()
	return nil
}

// Changes returns the patient's changes noticed after since, oldest first.
func (c *Cache) Changes(_ context.Context, handle string, since time.Time) ([]aggregator.Change, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[handle]
	if !ok {
		return nil, nil
	}
	var out []aggregator.Change
	for _, ch := range el.Value.(*item).changes {
		if ch.Noticed.After(since) {
			out = append(out, ch) // read-only for the caller, as timelines are
		}
	}
	return out, nil
}

// Range calls fn for each cached timeline, most recently used first, until
// fn returns false. It does not change the recency order. fn runs under the
// cache's lock, so it must not call back into the cache.
func (c *Cache) Range(ctx context.Context, fn func(handle string, t *aggregator.Timeline) bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for el := c.order.Front(); el != nil; el = el.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		it := el.Value.(*item)
		if !it.has() {
			continue
		}
		t, err := it.timeline()
		if err != nil {
			return err
		}
		if !fn(it.handle, t) {
			return nil
		}
	}
	return nil
}

// GetConflicts returns the cached timelines themselves (see
// aggregator.ConflictsReader): in memory, nothing is saved by cutting them
// down.
func (c *Cache) GetConflicts(ctx context.Context, handles []string) ([]*aggregator.Timeline, error) {
	out := make([]*aggregator.Timeline, len(handles))
	for i, h := range handles {
		out[i], _, _ = c.Get(ctx, h)
	}
	return out, nil
}
