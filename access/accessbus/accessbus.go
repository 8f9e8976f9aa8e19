// Package accessbus carries "this patient's grants or block changed" between
// the replicas of a deployment over Redis pub/sub, so each replica's cached
// decisions (see access.Service) are dropped at once on every replica.
//
// Pub/sub loses messages while a subscriber is disconnected. So a replica
// trusts its cache only while its subscription is known to be up: Run calls
// Reset(false) when the connection fails or stops answering pings, and
// Reset(true), which also forgets everything cached, once it listens again.
//
// A Broadcast returns once every replica that received the message (PUBLISH
// says how many) has acknowledged it, having dropped what it cached: so the
// next request on any replica is decided on the change. A replica that does
// not answer within Echo costs the wait, and is caught by its own cache's
// expiry. (On a Redis Cluster, PUBLISH counts the subscribers of the node
// it reached; replicas listening on other nodes acknowledge too, but are not
// waited for.)
package accessbus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Invalidator is what the bus drives; *access.Service is one.
type Invalidator interface {
	Invalidate(patient string)
	Reset(usable bool)
}

// Bus publishes and listens on one channel.
type Bus struct {
	rdb     redis.UniversalClient
	channel string
	log     *slog.Logger
	id      string // this replica's, to know its own messages
	echo    time.Duration
	ping    time.Duration

	mu      sync.Mutex
	waiting map[string]*pending // message token -> its publisher
	seq     uint64
}

// pending is one Broadcast waiting for its acknowledgements.
type pending struct {
	want, got int64
	done      chan struct{}
}

// Options tune a Bus; zero values take the defaults.
type Options struct {
	// Channel is the pub/sub channel; default "overblik:access".
	Channel string
	// Echo is how long Broadcast waits for the replicas' acknowledgements;
	// default 1s. Past it, Broadcast returns an error (the change is made:
	// a replica that did not answer follows within its cache time).
	Echo time.Duration
	// Ping is how often a quiet subscription is checked; default 5s.
	Ping   time.Duration
	Logger *slog.Logger
}

// New returns a bus on rdb; Run must be running for Broadcast to return
// nil.
func New(rdb redis.UniversalClient, opts Options) (*Bus, error) {
	if rdb == nil {
		return nil, errors.New("accessbus: no Redis client")
	}
	if opts.Channel == "" {
		opts.Channel = "overblik:access"
	}
	if opts.Echo <= 0 {
		opts.Echo = time.Second
	}
	if opts.Ping <= 0 {
		opts.Ping = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var b [8]byte
	rand.Read(b[:])
	return &Bus{rdb: rdb, channel: opts.Channel, log: opts.Logger, id: hex.EncodeToString(b[:]),
		echo: opts.Echo, ping: opts.Ping, waiting: map[string]*pending{}}, nil
}

// Messages on the channel: "inv TOKEN PATIENT" and "ack TOKEN". The handle
// is opaque: safe on the wire and in Redis's logs.
const (
	kindInvalidate = "inv"
	kindAck        = "ack"
)

// Broadcast tells every replica that patient's access changed, and returns
// once each replica that received it has dropped what it cached.
func (b *Bus) Broadcast(ctx context.Context, patient string) error {
	b.mu.Lock()
	b.seq++
	token := fmt.Sprintf("%s.%d", b.id, b.seq)
	p := &pending{want: -1, done: make(chan struct{})}
	b.waiting[token] = p
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.waiting, token)
		b.mu.Unlock()
	}()
	n, err := b.rdb.Publish(ctx, b.channel, kindInvalidate+" "+token+" "+patient).Result()
	if err != nil {
		return fmt.Errorf("accessbus: publish: %w", err)
	}
	b.mu.Lock()
	p.want = n
	if p.got >= p.want {
		close(p.done)
	}
	b.mu.Unlock()
	t := time.NewTimer(b.echo)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		return fmt.Errorf("accessbus: %d of %d replicas acknowledged in time", p.acks(&b.mu), n)
	case <-ctx.Done():
		return fmt.Errorf("accessbus: %w", ctx.Err())
	}
}

func (p *pending) acks(mu *sync.Mutex) int64 {
	mu.Lock()
	defer mu.Unlock()
	return p.got
}

// ack counts one acknowledgement of a Broadcast of this replica.
func (b *Bus) ack(token string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.waiting[token]
	if !ok {
		return
	}
	p.got++
	if p.want >= 0 && p.got == p.want {
		close(p.done)
	}
}

// Run listens until ctx ends, driving inv: every message invalidates its
// patient, and the cache is usable only while the subscription is up. It
// reconnects by itself and returns nil when ctx ends.
func (b *Bus) Run(ctx context.Context, inv Invalidator) error {
	inv.Reset(false)
	defer inv.Reset(false)
	for ctx.Err() == nil {
		err := b.listen(ctx, inv)
		inv.Reset(false)
		if ctx.Err() != nil {
			return nil
		}
		b.log.WarnContext(ctx, "access change feed lost; deciding from the database until it is back", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	return nil
}

func (b *Bus) listen(ctx context.Context, inv Invalidator) error {
	ps := b.rdb.Subscribe(ctx, b.channel)
	defer ps.Close()
	// A receive waits on the connection, not on ctx: closing it ends the wait.
	stop := context.AfterFunc(ctx, func() { ps.Close() })
	defer stop()
	up := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, b.ping)
		if err != nil {
			var timeout interface{ Timeout() bool }
			if errors.As(err, &timeout) && timeout.Timeout() && ctx.Err() == nil {
				if perr := ps.Ping(ctx); perr != nil {
					return fmt.Errorf("ping: %w", perr)
				}
				continue
			}
			return err
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == b.channel {
				// Listening (again): whatever happened meanwhile, start
				// from nothing.
				inv.Reset(true)
				if !up {
					b.log.InfoContext(ctx, "access change feed listening")
				}
				up = true
			}
		case *redis.Message:
			kind, rest, _ := strings.Cut(m.Payload, " ")
			switch kind {
			case kindInvalidate:
				token, patient, ok := strings.Cut(rest, " ")
				if !ok || patient == "" {
					continue
				}
				inv.Invalidate(patient)
				// Dropped: tell the replica that made the change.
				if err := b.rdb.Publish(ctx, b.channel, kindAck+" "+token).Err(); err != nil {
					b.log.WarnContext(ctx, "acknowledging an access change failed", "err", err)
				}
			case kindAck:
				b.ack(rest)
			}
		case *redis.Pong:
		}
	}
}
