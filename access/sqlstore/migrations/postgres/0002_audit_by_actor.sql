-- A clinician's worklist covers the patients they looked up lately: their
-- own audit rows, found by actor and time.
CREATE INDEX audit_events_actor ON audit_events (actor, at_us);
