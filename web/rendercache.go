package web

import (
	"container/list"
	"sync"
)

// renderKey is everything a rendered body depends on. A timeline is
// immutable once built, so its handle and build name its content.
type renderKey struct {
	handle     string
	version    int64  // Timeline.Version: one per stored build
	generated  int64  // Timeline.GeneratedAt in Unix nanoseconds, for caches that keep no versions
	view       string // "json", "days", ...
	lang       string
	restricted bool  // whether restricted entries were shown
	minute     int64 // pages group by today and mark what is ongoing: they age by the minute; 0 for JSON
}

// renderCache keeps rendered bodies of timelines, least recently used out
// first, within a byte budget: rendering a 100-entry page costs about 50
// times what writing its cached bytes does.
type renderCache struct {
	mu     sync.Mutex
	budget int
	used   int
	order  *list.List // front = most recently used; values are *rendered
	items  map[renderKey]*list.Element
}

// rendered holds a body as bytes (written as a response as is) or as text
// (embedded in a page without a copy).
type rendered struct {
	key  renderKey
	body []byte
	text string
}

func (r *rendered) size() int { return len(r.body) + len(r.text) }

func newRenderCache(budget int) *renderCache {
	return &renderCache{budget: budget, order: list.New(), items: make(map[renderKey]*list.Element)}
}

// get returns the bytes rendered for k. Callers must not modify them.
func (c *renderCache) get(k renderKey) ([]byte, bool) {
	r, ok := c.lookup(k)
	if !ok || r.body == nil {
		return nil, false
	}
	return r.body, true
}

// getText returns the text rendered for k.
func (c *renderCache) getText(k renderKey) (string, bool) {
	r, ok := c.lookup(k)
	if !ok || r.body != nil {
		return "", false
	}
	return r.text, true
}

func (c *renderCache) lookup(k renderKey) (rendered, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return rendered{}, false
	}
	c.order.MoveToFront(el)
	return *el.Value.(*rendered), true
}

// put stores a copy of body for k; a body larger than the budget is not kept.
func (c *renderCache) put(k renderKey, body []byte) {
	c.store(&rendered{key: k, body: append([]byte{}, body...)})
}

// putText stores text for k.
func (c *renderCache) putText(k renderKey, text string) {
	c.store(&rendered{key: k, text: text})
}

func (c *renderCache) store(r *rendered) {
	if r.size() > c.budget {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[r.key]; ok {
		c.used += r.size() - el.Value.(*rendered).size()
		el.Value = r
		c.order.MoveToFront(el)
	} else {
		c.items[r.key] = c.order.PushFront(r)
		c.used += r.size()
	}
	for c.used > c.budget {
		last := c.order.Back()
		old := last.Value.(*rendered)
		c.order.Remove(last)
		delete(c.items, old.key)
		c.used -= old.size()
	}
}
