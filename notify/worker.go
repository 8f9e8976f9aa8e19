package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// leaseName is the worker's lease: one worker in the cluster delivers.
const leaseName = "notify-worker"

// sweepAfter is how old a pending event must be before the worker handles
// it: younger ones are still being handled by the replica that built.
const sweepAfter = time.Minute

// Run is the worker: until ctx ends it takes (or waits for) the
// cluster-wide lease and, holding it, handles events a replica left
// behind, writes the day's reminders and delivers the notices that are
// due. It gives the lease up when it stops.
func (n *Notifier) Run(ctx context.Context) error {
	t := time.NewTicker(n.opts.Poll)
	defer t.Stop()
	defer func() {
		n.mu.Lock()
		held := !n.leaseUntil.IsZero()
		n.leaseUntil = time.Time{}
		n.mu.Unlock()
		if held {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := n.store.releaseLease(rctx, leaseName, n.opts.Holder); err != nil {
				n.log.Warn("notify lease not released; another replica takes over when it runs out", "err", err)
			}
		}
	}()
	for {
		if err := n.Tick(ctx); err != nil && ctx.Err() == nil {
			n.log.WarnContext(ctx, "notify worker", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-n.wake:
		}
	}
}

// Tick is one round of the worker; it does nothing unless this replica
// holds (or gets) the lease.
func (n *Notifier) Tick(ctx context.Context) error {
	n.tick.Lock()
	defer n.tick.Unlock()
	if ok, err := n.lease(ctx); err != nil || !ok {
		return err
	}
	now := n.opts.Now()
	evs, err := n.store.pendingEvents(ctx, now.Add(-sweepAfter), 100)
	if err != nil {
		return err
	}
	var errs []error
	for _, ev := range evs {
		if err := n.handle(ctx, ev); err != nil {
			errs = append(errs, fmt.Errorf("event %s v%d: %w", ev.Patient, ev.Version, err))
		}
	}
	if err := n.reminders(ctx, now); err != nil {
		errs = append(errs, fmt.Errorf("reminders: %w", err))
	}
	if err := n.deliver(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := n.store.forget(ctx, now.Add(-n.opts.Keep)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// lease takes or renews the worker's lease when less than two thirds of
// it are left, and says whether this replica holds it.
func (n *Notifier) lease(ctx context.Context) (bool, error) {
	now := n.opts.Now()
	n.mu.Lock()
	until := n.leaseUntil
	n.mu.Unlock()
	if until.Sub(now) > n.opts.LeaseFor*2/3 {
		return true, nil
	}
	next := now.Add(n.opts.LeaseFor)
	ok, err := n.store.acquireLease(ctx, leaseName, n.opts.Holder, now, next)
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil || !ok {
		n.leaseUntil = time.Time{}
		return false, err
	}
	if until.IsZero() {
		n.log.InfoContext(ctx, "this replica delivers notices", "holder", n.opts.Holder)
	}
	n.leaseUntil = next
	return true, nil
}

// deliver sends the due notices while the lease lasts.
func (n *Notifier) deliver(ctx context.Context) error {
	due, err := n.store.due(ctx, n.opts.Now(), 50)
	if err != nil {
		return err
	}
	for _, nt := range due {
		if ok, err := n.lease(ctx); err != nil || !ok {
			return err // another replica delivers the rest
		}
		if err := n.deliverOne(ctx, nt); err != nil {
			return err
		}
	}
	return nil
}

// deliverOne sends one notice, unless the recipient's quiet hours hold it
// back, and records how it went; its error is the store's, a failed send is
// recorded, not returned.
func (n *Notifier) deliverOne(ctx context.Context, nt notice) error {
	now := n.opts.Now()
	if local := now.In(n.opts.Location); inQuiet(local, nt.QuietFrom, nt.QuietTo) {
		return n.store.retry(ctx, nt.ID, nt.Attempts, quietEnd(local, nt.QuietTo), nt.LastError)
	}
	s := n.opts.Senders[nt.Channel]
	attempts := nt.Attempts + 1
	var err error
	if s == nil {
		err = fmt.Errorf("channel %s is not configured", nt.Channel)
	} else {
		// Bounded well inside the lease, so no other worker takes over while this one sends.
		sctx, cancel := context.WithTimeout(ctx, n.opts.LeaseFor/3)
		err = s.Send(sctx, Message{Key: nt.Key, Kind: nt.Kind, Channel: nt.Channel, To: nt.Address, Lang: nt.Lang,
			Subject: nt.Subject, Text: nt.Body, Link: nt.Link, Created: nt.Created})
		cancel()
	}
	if err == nil {
		if err := n.store.sent(ctx, nt.ID, attempts, n.opts.Now()); err != nil {
			// Sent but not marked: the next attempt carries the same key.
			return err
		}
		n.log.InfoContext(ctx, "notice sent", "key", nt.Key, "kind", nt.Kind, "channel", nt.Channel, "patient", nt.Patient, "attempts", attempts)
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: not the receiver's fault
	}
	msg := scrub(err.Error(), nt.Address)
	if attempts >= n.opts.MaxAttempts {
		n.log.WarnContext(ctx, "notice failed; giving up", "key", nt.Key, "kind", nt.Kind, "channel", nt.Channel, "attempts", attempts, "err", msg)
		return n.store.failed(ctx, nt.ID, attempts, msg, n.opts.Now())
	}
	wait := n.backoff(attempts)
	n.log.InfoContext(ctx, "notice not delivered; trying again", "key", nt.Key, "channel", nt.Channel, "attempts", attempts, "in", wait, "err", msg)
	return n.store.retry(ctx, nt.ID, attempts, n.opts.Now().Add(wait), msg)
}

// backoff is the wait after the attempts-th failed attempt.
func (n *Notifier) backoff(attempts int) time.Duration {
	d := n.opts.RetryAfter
	for i := 1; i < attempts && d < n.opts.RetryMax; i++ {
		d *= 2
	}
	return min(d, n.opts.RetryMax)
}

// scrub takes the address out of an error (an SMTP server's "550 <x@y>:
// no such user"), which the admin page shows and the log keeps.
func scrub(msg, address string) string {
	if address != "" {
		msg = strings.ReplaceAll(msg, address, "<recipient>")
	}
	if len(msg) > 500 {
		msg = msg[:500]
	}
	return msg
}
