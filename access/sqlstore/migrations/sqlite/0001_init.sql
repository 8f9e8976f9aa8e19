-- Handles, never identifiers: see the access package doc. Times are Unix microseconds (UTC).
CREATE TABLE delegations (
    id                 TEXT PRIMARY KEY,
    patient            TEXT NOT NULL,
    grantee            TEXT NOT NULL,
    label              TEXT NOT NULL DEFAULT '',
    patient_name       TEXT NOT NULL DEFAULT '',
    include_restricted INTEGER NOT NULL,
    created_us         INTEGER NOT NULL,
    until_us           INTEGER,
    revoked_us         INTEGER
);
CREATE INDEX delegations_patient ON delegations (patient, created_us);
CREATE INDEX delegations_grantee ON delegations (grantee, created_us);

CREATE TABLE blocks (
    patient  TEXT PRIMARY KEY,
    blocked  INTEGER NOT NULL,
    since_us INTEGER NOT NULL
);

CREATE TABLE audit_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at_us        INTEGER NOT NULL,
    actor        TEXT NOT NULL,
    actor_role   TEXT NOT NULL,
    actor_name   TEXT NOT NULL,
    actor_handle TEXT NOT NULL,
    patient      TEXT NOT NULL,
    action       TEXT NOT NULL,
    reason       TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    ref          TEXT NOT NULL
);
CREATE INDEX audit_events_patient ON audit_events (patient, at_us, id);
