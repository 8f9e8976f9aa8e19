-- One row per HospitalNotification received, keyed by who sent it and its
-- MessageHeader id. The patient is a handle, never a CPR number; facts is
-- the message's content about the stay as JSON (Facts), ack the
-- acknowledgement sent, which a resend gets again. Times are Unix
-- microseconds (UTC).
CREATE TABLE medcom_messages (
    source      TEXT NOT NULL,
    header_id   TEXT NOT NULL,
    bundle_id   TEXT NOT NULL,
    patient     TEXT NOT NULL,
    occurred_us INTEGER NOT NULL,
    sent_us     INTEGER NOT NULL,
    received_us INTEGER NOT NULL,
    facts       TEXT NOT NULL,
    ack         TEXT NOT NULL,
    PRIMARY KEY (source, header_id)
);
CREATE UNIQUE INDEX medcom_messages_bundle ON medcom_messages (source, bundle_id);
CREATE INDEX medcom_messages_patient ON medcom_messages (source, patient, occurred_us);
