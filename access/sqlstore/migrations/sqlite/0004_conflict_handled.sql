-- Conflicts a clinician marked handled (see access/handled.go), by the
-- patient's handle and the conflict's stable id: handles, never identifiers.
-- The first mark stands; a conflict that changes has a new id.
CREATE TABLE conflict_handled (
    patient    TEXT NOT NULL,
    conflict   TEXT NOT NULL,
    actor      TEXT NOT NULL,
    actor_name TEXT NOT NULL,
    at_us      INTEGER NOT NULL,
    PRIMARY KEY (patient, conflict)
);
