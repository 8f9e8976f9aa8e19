package memcache

import (
	"context"
	"sync"
)

// Cursors keep the change feeds' positions in process (see aggregator.Cursors).
type Cursors struct {
	mu sync.Mutex
	m  map[string]string
}

// NewCursors returns cursors that all start empty.
func NewCursors() *Cursors { return &Cursors{m: map[string]string{}} }

func (c *Cursors) Cursor(_ context.Context, source string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[source], nil
}

func (c *Cursors) AdvanceCursor(_ context.Context, source, from, next string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[source] != from {
		return false, nil
	}
	c.m[source] = next
	return true, nil
}
