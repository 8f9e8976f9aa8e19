package access

import (
	"context"
	"sync"
	"time"
)

// Broadcaster tells every replica (this one included) that a patient's
// grants or block changed, so each drops what it cached about that patient.
// access/accessbus implements it on Redis pub/sub.
type Broadcaster interface {
	Broadcast(ctx context.Context, patient string) error
}

// relationCache keeps, per replica, the blocks and delegations decisions
// rest on, so a view costs no database round trip. Entries are dropped at
// once when the patient's access changes (Invalidate, on this replica by
// the Service, on the others by the Broadcaster's feed), and live at most
// ttl anyway, which bounds the harm of a broadcast that never arrived.
// While the feed is down the cache is bypassed: a replica that may have
// missed an invalidation must not answer from what it cached.
type relationCache struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu     sync.Mutex
	usable bool   // false while the feed is down (or not up yet)
	gen    uint64 // bumped by every invalidation: a read that began before one is not kept
	blocks map[string]cachedBlock
	dels   map[string]map[string]cachedDelegations // patient -> grantee
	n      int
}

type cachedBlock struct {
	blocked bool
	at      time.Time
}

type cachedDelegations struct {
	ds []Delegation
	at time.Time
}

func newRelationCache(ttl time.Duration, max int, now func() time.Time, usable bool) *relationCache {
	c := &relationCache{ttl: ttl, max: max, now: now, usable: usable}
	c.clear()
	return c
}

func (c *relationCache) clear() {
	c.blocks = map[string]cachedBlock{}
	c.dels = map[string]map[string]cachedDelegations{}
	c.n = 0
}

// generation is what a reader notes before it goes to the store; put
// keeps the result only if nothing was invalidated meanwhile.
func (c *relationCache) generation() (uint64, bool) {
	if c == nil {
		return 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen, c.usable
}

func (c *relationCache) block(patient string) (bool, bool) {
	if c == nil {
		return false, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.blocks[patient]
	if !ok || !c.usable || c.now().Sub(b.at) >= c.ttl {
		return false, false
	}
	return b.blocked, true
}

func (c *relationCache) putBlock(gen uint64, patient string, blocked bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.usable || gen != c.gen {
		return
	}
	c.grow()
	c.blocks[patient] = cachedBlock{blocked: blocked, at: c.now()}
}

func (c *relationCache) delegations(patient, grantee string) ([]Delegation, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.dels[patient][grantee]
	if !ok || !c.usable || c.now().Sub(d.at) >= c.ttl {
		return nil, false
	}
	return d.ds, true
}

func (c *relationCache) putDelegations(gen uint64, patient, grantee string, ds []Delegation) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.usable || gen != c.gen {
		return
	}
	c.grow()
	m := c.dels[patient]
	if m == nil {
		m = map[string]cachedDelegations{}
		c.dels[patient] = m
	}
	m[grantee] = cachedDelegations{ds: ds, at: c.now()}
}

// grow makes room for one more entry: past max, everything goes, which
// costs one store read per patient and keeps the bound simple.
func (c *relationCache) grow() {
	c.n++
	if c.n > c.max {
		c.clear()
		c.n = 1
	}
}

func (c *relationCache) invalidate(patient string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if _, ok := c.blocks[patient]; ok {
		delete(c.blocks, patient)
		c.n--
	}
	c.n -= len(c.dels[patient])
	delete(c.dels, patient)
}

// reset forgets everything and says whether the cache may be used: false
// while the feed that carries invalidations is down.
func (c *relationCache) reset(usable bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.usable = usable
	c.clear()
}
