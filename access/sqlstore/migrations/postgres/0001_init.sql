-- Handles, never identifiers: see the access package doc. Times are Unix microseconds (UTC),
-- as in the SQLite schema, so both backends page and compare alike.
CREATE TABLE delegations (
    id                 TEXT PRIMARY KEY,
    patient            TEXT NOT NULL,
    grantee            TEXT NOT NULL,
    label              TEXT NOT NULL DEFAULT '',
    patient_name       TEXT NOT NULL DEFAULT '',
    include_restricted BOOLEAN NOT NULL,
    created_us         BIGINT NOT NULL,
    until_us           BIGINT,
    revoked_us         BIGINT
);
CREATE INDEX delegations_patient ON delegations (patient, created_us);
CREATE INDEX delegations_grantee ON delegations (grantee, created_us);

CREATE TABLE blocks (
    patient  TEXT PRIMARY KEY,
    blocked  BOOLEAN NOT NULL,
    since_us BIGINT NOT NULL
);

CREATE TABLE audit_events (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_us        BIGINT NOT NULL,
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
