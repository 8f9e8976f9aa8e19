-- notify's tables beside access's, in the same database; versions in notify_schema_migrations.
-- People are handles, never identifiers. Times are Unix microseconds (UTC).

-- One person's preferences: where and what to be told. name and subject are what the
-- patient's log shows of a relative a notice went to; address is personal data: never log it.
CREATE TABLE notify_prefs (
    person      TEXT PRIMARY KEY,
    subject     TEXT NOT NULL,
    name        TEXT NOT NULL,
    lang        TEXT NOT NULL,
    channel     TEXT NOT NULL,
    address     TEXT NOT NULL,
    changes     INTEGER NOT NULL,
    conflicts   INTEGER NOT NULL,
    reminders   INTEGER NOT NULL,
    quiet_from  INTEGER NOT NULL,
    quiet_to    INTEGER NOT NULL,
    updated_us  INTEGER NOT NULL
);

-- The patients a person opted in to notices about (their own handle for their own).
CREATE TABLE notify_follows (
    person  TEXT NOT NULL,
    patient TEXT NOT NULL,
    PRIMARY KEY (person, patient)
);
CREATE INDEX notify_follows_patient ON notify_follows (patient);

-- A build that may call for notices, written before its notices are worked out, so a
-- replica that dies in between leaves it to the worker. One per patient and version.
CREATE TABLE notify_events (
    patient     TEXT NOT NULL,
    version     INTEGER NOT NULL,
    noticed_us  INTEGER NOT NULL,
    changes     INTEGER NOT NULL,
    conflicts   TEXT NOT NULL,
    created_us  INTEGER NOT NULL,
    handled_us  INTEGER,
    PRIMARY KEY (patient, version)
);
CREATE INDEX notify_events_pending ON notify_events (handled_us, created_us);

-- The outbox: one row per notice, once per (patient, ref, recipient, kind), where ref is
-- the version (v42) of a change or the day (d2026-12-03) of a reminder. ikey is the
-- idempotency key receivers see. subject and body hold details only when the operator
-- turned them on for the channel.
CREATE TABLE notify_outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    ikey        TEXT NOT NULL UNIQUE,
    patient     TEXT NOT NULL,
    ref         TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    channel     TEXT NOT NULL,
    address     TEXT NOT NULL,
    lang        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    link        TEXT NOT NULL,
    quiet_from  INTEGER NOT NULL,
    quiet_to    INTEGER NOT NULL,
    created_us  INTEGER NOT NULL,
    next_us     INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    state       TEXT NOT NULL,
    last_error  TEXT NOT NULL DEFAULT '',
    done_us     INTEGER,
    UNIQUE (patient, ref, recipient, kind)
);
CREATE INDEX notify_outbox_due ON notify_outbox (state, next_us);

-- The cluster-wide lease of the delivering worker.
CREATE TABLE notify_leases (
    name     TEXT PRIMARY KEY,
    holder   TEXT NOT NULL,
    until_us INTEGER NOT NULL
);

-- Work done once in the cluster, such as a day's reminders (reminders:2026-12-02).
CREATE TABLE notify_runs (
    name    TEXT PRIMARY KEY,
    done_us INTEGER NOT NULL
);
