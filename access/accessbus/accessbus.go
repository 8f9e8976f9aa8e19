// Package accessbus carries "this patient's grants or block changed" between
// the replicas of a deployment over Redis pub/sub, so each replica's cached
// decisions (see access.Service) are dropped at once on every replica.
//
// Pub/sub loses messages while a subscriber is disconnected. So a replica
// trusts its cache only while its subscription is known to be up: Run calls
// Reset(false) when the connection fails or stops answering pings, and
// Reset(true), which also forgets everything cached, once it listens again.
// A Broadcast returns after the publishing replica's own subscription has
// seen the message, by which time Redis has handed it to every subscriber.
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
	waiting map[string]chan struct{} // message token -> its publisher
	seq     uint64
}

// Options tune a Bus; zero values take the defaults.
type Options struct {
	// Channel is the pub/sub channel; default "overblik:access".
	Channel string
	// Echo is how long Broadcast waits for its own message to come back;
	// default 1s. Past it, Broadcast returns an error (the change is made:
	// the other replicas follow within the cache time).
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
		echo: opts.Echo, ping: opts.Ping, waiting: map[string]chan struct{}{}}, nil
}

// Broadcast tells every replica that patient's access changed, and returns
// once this replica's own subscription has received it.
func (b *Bus) Broadcast(ctx context.Context, patient string) error {
	b.mu.Lock()
	b.seq++
	token := fmt.Sprintf("%s.%d", b.id, b.seq)
	seen := make(chan struct{})
	b.waiting[token] = seen
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.waiting, token)
		b.mu.Unlock()
	}()
	// The handle is opaque: safe on the wire and in Redis's logs.
	if err := b.rdb.Publish(ctx, b.channel, token+" "+patient).Err(); err != nil {
		return fmt.Errorf("accessbus: publish: %w", err)
	}
	t := time.NewTimer(b.echo)
	defer t.Stop()
	select {
	case <-seen:
		return nil
	case <-t.C:
		return errors.New("accessbus: the message did not come back in time")
	case <-ctx.Done():
		return fmt.Errorf("accessbus: %w", ctx.Err())
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
			token, patient, ok := strings.Cut(m.Payload, " ")
			if !ok || patient == "" {
				continue
			}
			inv.Invalidate(patient)
			b.mu.Lock()
			if seen, ok := b.waiting[token]; ok {
				close(seen)
				delete(b.waiting, token)
			}
			b.mu.Unlock()
		case *redis.Pong:
		}
	}
}
