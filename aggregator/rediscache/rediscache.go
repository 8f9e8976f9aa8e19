// Package rediscache is the timeline cache shared by the replicas of a
// deployment: timelines in Redis under the opaque patient handle, a lease per
// patient so one replica in the cluster refreshes while the others wait for
// its result, and a Fallback that keeps serving from memory when Redis is gone.
package rediscache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/overblik/overblik/aggregator"
)

// Options tune a Cache; zero values take the defaults.
type Options struct {
	// Prefix starts every key and channel, so deployments (and tests) can
	// share a Redis. Default "overblik:". It must not contain '{' or '}':
	// keys carry the handle as a Cluster hash tag.
	Prefix string
	// TTL is how long a timeline stays after its last write, so patients
	// nobody looks at any more leave Redis by themselves. Default 30 days.
	TTL time.Duration
	// PollInterval is how often Wait looks at the lease and the timeline when
	// no notification arrives (a lost message, a holder that died). Default 250ms.
	PollInterval time.Duration
	// ChangesTTL is how long a patient's changes stay after the last one
	// was recorded. Default aggregator.DefaultKeepChanges (90 days).
	ChangesTTL time.Duration
	// NearCache is how many decoded timelines the cache keeps in process,
	// so that reading an unchanged one costs a round trip with a stamp
	// instead of its bytes and their decoding. Default DefaultNearCache;
	// negative turns it off.
	NearCache int
	// SealKey, when set (at least MinSealKey bytes of secret), seals every
	// timeline and change record with AES-256-GCM, bound to its key name:
	// they are health data, and Redis, its snapshots and its replicas then
	// hold only ciphertext. A value that does not open under the key
	// (another key, altered, copied from another patient, or stored in the
	// clear) is a miss and is rebuilt.
	SealKey []byte
	Logger  *slog.Logger
}

// DefaultNearCache is how many decoded timelines a Cache keeps by default.
const DefaultNearCache = 2000

// Cache stores timelines in Redis. It implements aggregator.Cache and the
// lease methods Acquire and Wait. Safe for concurrent use.
type Cache struct {
	rdb        redis.UniversalClient
	prefix     string
	ttl        time.Duration
	changesTTL time.Duration
	poll       time.Duration
	near       near
	codec      *codec
	log        *slog.Logger
	held       sync.Map // handle -> *heldLease: the refresh leases this cache holds (lease.go)
	indexed    indexMemo
}

// New returns a cache on a client the caller owns (NewClient). It does not
// wait for Redis: a replica must start while Redis is down (see Fallback).
func New(rdb redis.UniversalClient, opts Options) (*Cache, error) {
	if rdb == nil {
		return nil, errors.New("rediscache: no client")
	}
	if opts.Prefix == "" {
		opts.Prefix = "overblik:"
	}
	if strings.ContainsAny(opts.Prefix, "{}") {
		return nil, fmt.Errorf("rediscache: prefix %q must not contain '{' or '}'", opts.Prefix)
	}
	if opts.TTL <= 0 {
		opts.TTL = 30 * 24 * time.Hour
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 250 * time.Millisecond
	}
	if opts.ChangesTTL <= 0 {
		opts.ChangesTTL = aggregator.DefaultKeepChanges
	}
	if opts.NearCache == 0 {
		opts.NearCache = DefaultNearCache
	}
	codec, err := newCodec(opts.SealKey)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Cache{rdb: rdb, prefix: opts.Prefix, ttl: opts.TTL, changesTTL: opts.ChangesTTL, poll: opts.PollInterval,
		near: near{max: opts.NearCache}, codec: codec, log: log}, nil
}

// Schemes NewClient accepts besides go-redis's own redis://, rediss:// and
// unix://. The rest of the URL is what go-redis's ParseFailoverURL and
// ParseClusterURL read after the scheme is turned back into redis(s).
const (
	schemeSentinel    = "redis-sentinel"  // redis-sentinel://[user:pw@]sentinel:26379[/db]?master_name=m&addr=s2:26379
	schemeSentinelTLS = "rediss-sentinel" // the same over TLS
	schemeCluster     = "redis-cluster"   // redis-cluster://[user:pw@]node:6379?addr=node2:6379
	schemeClusterTLS  = "rediss-cluster"  // the same over TLS
)

// NewClient makes a go-redis client from a URL: redis://, rediss:// or
// unix:// for a single server (go-redis ParseURL), redis-sentinel:// or
// rediss-sentinel:// for Sentinel (master_name is required; the userinfo
// authenticates to the sentinels, username and password query parameters to
// the master), redis-cluster:// or rediss-cluster:// for Cluster (more seed
// nodes as addr query parameters). Other query parameters are go-redis's.
// Contexts always bound calls (ContextTimeoutEnabled). Errors never repeat
// the URL, which may hold a password.
func NewClient(rawURL string) (redis.UniversalClient, error) {
	cfg, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.failover != nil:
		return redis.NewFailoverClient(cfg.failover), nil
	case cfg.cluster != nil:
		return redis.NewClusterClient(cfg.cluster), nil
	default:
		return redis.NewClient(cfg.single), nil
	}
}

// clientConfig is what a URL selects: exactly one of the three is set.
type clientConfig struct {
	single   *redis.Options
	failover *redis.FailoverOptions
	cluster  *redis.ClusterOptions
}

func parseURL(rawURL string) (clientConfig, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, password included
		}
		return clientConfig{}, fmt.Errorf("rediscache: redis URL: %w", err)
	}
	// go-redis parses the redis(s) form of the special schemes.
	rewrite := func(scheme string) string {
		v := *u
		v.Scheme = scheme
		return v.String()
	}
	var cfg clientConfig
	switch u.Scheme {
	case "redis", "rediss", "unix":
		cfg.single, err = redis.ParseURL(rawURL)
	case schemeSentinel, schemeSentinelTLS:
		cfg.failover, err = redis.ParseFailoverURL(rewrite(strings.TrimSuffix(u.Scheme, "-sentinel")))
		if err == nil && cfg.failover.MasterName == "" {
			err = errors.New("a Sentinel URL needs master_name=<name>")
		}
	case schemeCluster, schemeClusterTLS:
		if p := strings.Trim(u.Path, "/"); p != "" && p != "0" {
			// Cluster has one database; silently ignoring /3 would hide a mistake.
			return clientConfig{}, fmt.Errorf("rediscache: redis URL: a Cluster has no database %q", p)
		}
		v := *u
		v.Path = ""
		v.Scheme = strings.TrimSuffix(u.Scheme, "-cluster")
		cfg.cluster, err = redis.ParseClusterURL(v.String())
	default:
		return clientConfig{}, fmt.Errorf("rediscache: redis URL: unknown scheme %q (want redis, rediss, unix, %s, %s, %s or %s)",
			u.Scheme, schemeSentinel, schemeSentinelTLS, schemeCluster, schemeClusterTLS)
	}
	if err != nil {
		return clientConfig{}, fmt.Errorf("rediscache: redis URL: %w", err)
	}
	// Without it go-redis ignores context deadlines on the socket, so a Redis
	// that accepts but never answers holds each call for its read timeout and
	// retries, and Fallback's OpTimeout would not bound anything.
	switch {
	case cfg.single != nil:
		cfg.single.ContextTimeoutEnabled = true
	case cfg.failover != nil:
		cfg.failover.ContextTimeoutEnabled = true
	case cfg.cluster != nil:
		cfg.cluster.ContextTimeoutEnabled = true
	}
	return cfg, nil
}

// Keys put the handle in a hash tag so a patient's timeline and lease live on
// one Cluster slot and can be read in one pipeline.
func (c *Cache) timelineKey(handle string) string { return c.prefix + "{" + handle + "}:timeline" }
func (c *Cache) leaseKey(handle string) string    { return c.prefix + "{" + handle + "}:lease" }
func (c *Cache) channel(handle string) string     { return c.prefix + "{" + handle + "}:updated" }

// Get returns the patient's timeline. A timeline that cannot be read (a newer
// schema during a rolling deploy, a damaged value, one that does not open
// under the seal key) is a miss: the caller rebuilds and overwrites it.
func (c *Cache) Get(ctx context.Context, handle string) (*aggregator.Timeline, bool, error) {
	t, _, ok, err := c.get(ctx, handle)
	return t, ok, err
}

// get is Get that also returns the stored bytes the timeline was read from.
func (c *Cache) get(ctx context.Context, handle string) (*aggregator.Timeline, []byte, bool, error) {
	if c.near.max > 0 {
		return c.getNear(ctx, handle)
	}
	b, err := c.rdb.Get(ctx, c.timelineKey(handle)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("rediscache: get timeline of %s: %w", handle, err)
	}
	t, ok, err := c.decode(ctx, handle, b)
	return t, b, ok, err
}

func (c *Cache) decode(ctx context.Context, handle string, b []byte) (*aggregator.Timeline, bool, error) {
	t, err := c.codec.decodeTimeline(b, c.timelineKey(handle))
	switch {
	case errors.Is(err, errNewerSchema):
		// Expected while a newer release rolls out: not worth a warning.
		c.log.DebugContext(ctx, "cached timeline has a newer schema; treated as a miss", "patient", handle, "err", err)
		return nil, false, nil
	case errors.Is(err, errUnsealed):
		// Expected once per patient after the seal key is set or changed;
		// otherwise someone wrote to Redis who should not have.
		c.log.WarnContext(ctx, "cached timeline does not open under the seal key; treated as a miss", "patient", handle, "err", err)
		return nil, false, nil
	case err != nil:
		c.log.WarnContext(ctx, "cached timeline unreadable; treated as a miss", "patient", handle, "err", err)
		return nil, false, nil
	}
	return t, true, nil
}

// Put indexes t's conflicts (index.go), then stores t with the cache's
// TTL, and the stamp of its bytes (see near.go) and its conflicts alone
// (see conflicts.go) in the same transaction, and tells waiting replicas.
func (c *Cache) Put(ctx context.Context, handle string, t *aggregator.Timeline) error {
	return c.put(ctx, handle, t, c.encode(handle, t), nil)
}

// PutWithChanges is Put with AddChanges of changes in the same transaction
// (aggregator.ChangesPutter): the patient's keys share a slot.
func (c *Cache) PutWithChanges(ctx context.Context, handle string, t *aggregator.Timeline, changes []aggregator.Change, keepAfter time.Time) error {
	add, err := c.addChanges(ctx, handle, changes, keepAfter)
	if err != nil {
		return err
	}
	return c.put(ctx, handle, t, c.encode(handle, t), add)
}

// encode is the value Put stores for t.
func (c *Cache) encode(handle string, t *aggregator.Timeline) []byte {
	return c.codec.encodeTimeline(t, c.timelineKey(handle))
}

// put is Put of t encoded as b.
//
// also, when not nil, queues more commands on the patient's keys in the
// same transaction (PutWithChanges).
func (c *Cache) put(ctx context.Context, handle string, t *aggregator.Timeline, b []byte, also func(context.Context, redis.Pipeliner)) error {
	stamp := stampOf(b)
	cb := c.encodeConflicts(t, handle, stamp)
	// The build stored under this cache's lease releases it in the same
	// step (heldLease): the holder's release then has nothing to send.
	var l *heldLease
	if v, ok := c.held.Load(handle); ok {
		l = v.(*heldLease)
	}
	terms, now := c.indexTerms(t), time.Now()
	at, skip := time.Time{}, false
	if l != nil {
		at, skip = c.indexed.current(handle, terms, l.stamp, now, c.indexRewrite())
	}
	if !skip {
		if err := c.index(ctx, handle, terms, now); err != nil { // first: see index.go
			c.indexed.forget(handle)
			return err
		}
		at = now
	}
	var released *redis.Cmd
	_, err := c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, c.timelineKey(handle), b, c.ttl)
		p.Set(ctx, c.stampKey(handle), stamp, c.ttl)
		p.Set(ctx, c.conflictsKey(handle), cb, c.ttl) // see conflicts.go
		if also != nil {
			also(ctx, p)
		}
		p.Publish(ctx, c.channel(handle), "put")
		if l != nil {
			released = l.queueRelease(ctx, p, c.channel(handle))
		}
		return nil
	})
	if err != nil {
		c.indexed.forget(handle)
		return fmt.Errorf("rediscache: put timeline of %s: %w", handle, err)
	}
	c.indexed.put(handle, indexed{terms: terms, at: at, stamp: stamp})
	if released != nil {
		l.released(released)
	}
	// Who stored a build reads it back soon (the viewer who asked, a
	// notice): for a stamp, not its bytes and their decoding.
	c.near.put(handle, nearItem{stamp: stamp, t: t, b: b})
	return nil
}

// stored is a timeline as Redis holds it (encode's bytes), which the
// fallback keeps in memory.
type stored struct {
	c    *codec
	name string // the Redis key, which a sealed value is bound to
	b    []byte
}

func (s stored) Unpack() (*aggregator.Timeline, error) { return s.c.decodeTimeline(s.b, s.name) }

// packed is b, a value of handle's timeline key, as the fallback keeps it.
func (c *Cache) packed(handle string, b []byte) stored {
	return stored{c: c.codec, name: c.timelineKey(handle), b: b}
}

// Ping checks that Redis answers.
func (c *Cache) Ping(ctx context.Context) error {
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("rediscache: ping: %w", err)
	}
	return nil
}
