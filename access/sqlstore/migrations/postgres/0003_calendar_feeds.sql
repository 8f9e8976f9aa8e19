-- Calendar feeds (see access/feeds.go): a viewer's subscription to a patient's
-- timeline, found by the SHA-256 of the secret in its address; the secret
-- itself is never stored. Handles, never identifiers. At most one active feed
-- per viewer and patient: a new one revokes the old in the same transaction.
CREATE TABLE calendar_feeds (
    id            TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL UNIQUE,
    patient       TEXT NOT NULL,
    subject       TEXT NOT NULL,
    roles         TEXT NOT NULL,
    handle        TEXT NOT NULL,
    name          TEXT NOT NULL,
    lang          TEXT NOT NULL,
    created_us    BIGINT NOT NULL,
    revoked_us    BIGINT
);
CREATE UNIQUE INDEX calendar_feeds_active ON calendar_feeds (subject, patient) WHERE revoked_us IS NULL;
