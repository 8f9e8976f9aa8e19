package web

import (
	"container/list"
	"sync"
)

// renderKey is everything a rendered body depends on. A timeline is
// immutable once built, so its handle and build time name its content.
type renderKey struct {
	handle     string
	version    int64  // Timeline.Version: one per stored build
	generated  int64  // Timeline.GeneratedAt in Unix nanoseconds, for caches that keep no versions
	view       string // "json", "page", ...
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

type rendered struct {
	key  renderKey
	body []byte
}

func newRenderCache(budget int) *renderCache {
	return &renderCache{budget: budget, order: list.New(), items: make(map[renderKey]*list.Element)}
}

// get returns the body rendered for k. Callers must not modify it.
func (c *renderCache) get(k renderKey) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*rendered).body, true
}

// put stores a copy of body for k; a body larger than the budget is not kept.
func (c *renderCache) put(k renderKey, body []byte) {
	if len(body) > c.budget {
		return
	}
	b := append([]byte(nil), body...)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		r := el.Value.(*rendered)
		c.used += len(b) - len(r.body)
		r.body = b
		c.order.MoveToFront(el)
	} else {
		c.items[k] = c.order.PushFront(&rendered{key: k, body: b})
		c.used += len(b)
	}
	for c.used > c.budget {
		last := c.order.Back()
		r := last.Value.(*rendered)
		c.order.Remove(last)
		delete(c.items, r.key)
		c.used -= len(r.body)
	}
}
