-- Whom a delegation is for, as the patient reads it beside their label:
-- the date part of the CPR number they typed (300241-xxxx; the number itself
-- is never stored, the grantee is their handle) and the grantee's own name,
-- stored when that person signs in.
ALTER TABLE delegations ADD COLUMN grantee_masked TEXT NOT NULL DEFAULT '';
ALTER TABLE delegations ADD COLUMN grantee_name TEXT NOT NULL DEFAULT '';
-- A clinician's workplace on its own, so the patient's log shows it beside
-- the name; rows from before have it in actor_name ("Name, Workplace").
ALTER TABLE audit_events ADD COLUMN actor_org TEXT NOT NULL DEFAULT '';
