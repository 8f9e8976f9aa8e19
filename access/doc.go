// Package access decides who may see whose timeline, keeps the delegations and
// blocks those decisions rest on, and writes the audit log a patient reads to
// see who looked. It imports nothing of ours; package view asks it before any
// patient data is read.
//
// # Roles
//
//   - patient: their own timeline, their grants, their blocks, their audit log;
//   - relative: the timeline of a patient who delegated to them, while the
//     delegation is valid (not revoked, before its end date); restricted
//     entries only if the delegation includes them;
//   - clinician: any patient's timeline, with a reason, unless the patient
//     blocked clinician look-ups; every view and look-up is audited;
//   - admin: source status and configuration; never patient data.
//
// A person may hold several roles (a citizen login is typically both patient
// and relative); each role is tried in that order and the first that allows an
// action decides it, so the audit row names the role actually used.
//
// # Decisions
//
// [Decide] is pure: it takes the [Principal], the [Relation] between the
// principal and one patient (the delegations from that patient to the
// principal and whether the patient blocks clinicians), the action and the
// time. Everything that is refused because the caller may not see the patient
// is [ErrNotVisible], so web answers 404 exactly as for a handle that does not
// exist; [ErrInvalid] (and [ErrReasonRequired], which wraps it) is a bad
// request. A clinician without a reason gets ErrReasonRequired before the
// block is looked at, so the answer never tells whether a patient blocked.
// What a decision lets a viewer see of a timeline is worked out by package
// view, the one authorized read.
//
// # Identifiers are stored as handles
//
// The store holds no CPR numbers. A grantor, a grantee and the patient of an
// audit row are stored as the opaque handle aggregator.Patients.Handle
// computes from the person's identifier (an HMAC under the server secret):
// the logged-in person's identifier claim is turned into the same handle, so
// matching works, while a copy of the database gives away no identifiers and
// handles can be logged. The price: rotating the handle secret orphans every
// grant, block and audit row, so the secret must be kept (and backed up) as
// long as the database. The only personal data stored is what people must
// read: the label a patient gives a grant ("Mor"), the patient's name on the
// grant (for the relative's switcher), whom the grant is for as the patient
// reads it (the date part of the number they typed, 300241-xxxx, and the
// grantee's own name once that person has signed in), the name and
// workplace of whoever looked at a timeline and the reason they gave. None of it is ever logged or put in an
// error; Principal, Delegation and Event log without it.
//
// # Audit
//
// The caller of [Service.Decide] writes the audit row of a view or look-up
// with [Service.Audit] before it sends anything ([Service.Authorize] does
// both); when the write fails the caller must not send data. In production
// the rows go through a [GroupCommit], which commits the rows of concurrent
// requests together and releases each request only after the commit that
// holds its row. Grant, revoke, block and unblock write their audit row in
// the same transaction as the change. Refusals are audited only when a block
// stopped a clinician: the patient should know someone tried, while
// recording every 404 would let anyone fill the log with made-up handles.
//
// # Decisions without a database round trip
//
// A Service keeps each patient's block and delegations in memory for a
// while, so a view costs no query. Every change made through it drops them
// at once; with several replicas a [Broadcaster] (access/accessbus, Redis
// pub/sub) drops them on every replica, and a replica trusts its cache only
// while that feed is up.
//
// # Stores
//
// [Store] is defined here, by its consumer. access/sqlstore implements it on
// SQLite (the embedded default) and PostgreSQL with versioned, embedded
// migrations; access/storetest is the conformance suite both pass.
//
// # Use
//
// Patient data is read only through package view, which calls Decide and
// Audit. web builds the [Principal] from the session (Handle =
// Patients.Handle of the identifier claim); grants, revocations, blocks and
// the audit log page go through the Service methods of the same names; a
// grantee is named by the handle of the relative's identifier. A patient
// gives one person one delegation at a time ([ErrAlreadyGranted]), and
// auth tells [Service.SignedIn] of each login, which is how a grantee's
// name reaches the grants given to them.
package access
