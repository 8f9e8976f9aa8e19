// Package notify tells patients and their relatives, by e-mail or a signed
// webhook, when a refresh finds that an upcoming appointment was added,
// moved or cancelled or that a new high-severity conflict appeared, and
// reminds them the day before of the next day's appointments. It depends
// inward on view, access and aggregator; cmd wires Notifier.Changed as the
// aggregator's Options.Changed and runs Notifier.Run.
//
// # Who is told what
//
// A person's Preferences (kept here, set on /account) say the channel and
// address, which kinds they want, their quiet hours and which patients they
// follow: their own timeline and those delegated to them. Every notice is a
// read through view.Viewer.Open as its recipient (see Notifier), so it holds
// nothing the recipient may not see, and a recipient with nothing visible to
// be told gets no notice. By default a notice says only that there is
// something to see, with a link; the operator may turn details on per
// channel. No notice, log line or header carries a CPR number.
//
// # Exactly once
//
// Notices are rows of an outbox in SQL, unique on (patient, ref, recipient,
// kind), where ref is the timeline version of a change or the day of a
// reminder. The steps, and what a crash at each costs:
//
//  1. The aggregator stores a build and its changes (in the cache), then
//     calls Changed, under its refresh lease, so each version is seen once.
//     A crash before Changed records the event loses that version's notices.
//  2. Changed records the event (notify_events) and then works out and
//     writes the notices. A crash after the event is recorded leaves it
//     pending; the worker handles it a minute later, and a notice already in
//     the outbox is not written twice (nor read for again).
//  3. The audit row of each notice's read is written just before the
//     notice; a crash between them leaves a row without a notice, and the
//     retry writes another row with the notice.
//  4. One worker in the cluster delivers, holding a lease (notify_leases).
//     A crash between sending and marking sent sends the notice again with
//     the same idempotency key (Idempotency-Key, the e-mail's Message-ID),
//     which a receiver that honours it drops. A failed send is retried with
//     backoff and marked failed after MaxAttempts; /admin lists those.
//
// Reminders are written by the worker once the day's reminder time has
// come: one per recipient, patient and day (ref d2026-12-03), and the day's
// run is recorded once done.
package notify
