-- Automations you can author, evolve and operate (issue 10).
--
-- An automation has one editable draft (automations.draft) and immutable, numbered published
-- versions (automation_versions). current_version is the live version: NULL until the first
-- publish. status: draft (never published: never fires), active, paused, archived (no new
-- runs, kept for its history). revision is the row's ETag: it grows by one per change.
-- trigger_event stays the catalog event type the router subscribes the live version to.

ALTER TABLE automations DROP CONSTRAINT automations_status_check;
ALTER TABLE automations ADD CONSTRAINT automations_status_check
    CHECK (status IN ('draft', 'active', 'paused', 'archived'));
ALTER TABLE automations ALTER COLUMN current_version DROP NOT NULL;
ALTER TABLE automations
    ADD COLUMN draft jsonb,
    ADD COLUMN revision integer NOT NULL DEFAULT 1,
    ADD COLUMN archived_at timestamptz;

ALTER TABLE automation_versions
    ADD COLUMN asl jsonb,
    ADD COLUMN published_by uuid;

-- Existing automations: their draft is their live version (FORCE lifted for the copy, as in
-- 0007).
ALTER TABLE automations NO FORCE ROW LEVEL SECURITY;
ALTER TABLE automation_versions NO FORCE ROW LEVEL SECURITY;
UPDATE automations a SET draft = v.definition
    FROM automation_versions v
    WHERE v.automation_id = a.id AND v.version = a.current_version;
ALTER TABLE automations FORCE ROW LEVEL SECURITY;
ALTER TABLE automation_versions FORCE ROW LEVEL SECURITY;
ALTER TABLE automations ALTER COLUMN draft SET NOT NULL;

-- The automations list: newest first, optionally by status.
CREATE INDEX automations_listing ON automations (tenant_id, created_at DESC, id DESC);

-- Runs: skipped (never started: plan limit, re-enrolment policy; `reason` says why),
-- cancelled (stopped by a person or by archiving), exited (the exit condition matched).
-- attempt counts executions of the run: a retry starts the next one.
ALTER TABLE automation_runs DROP CONSTRAINT automation_runs_status_check;
ALTER TABLE automation_runs ADD CONSTRAINT automation_runs_status_check
    CHECK (status IN ('running', 'succeeded', 'failed', 'timed_out', 'aborted',
                      'pending_redrive', 'skipped', 'cancelled', 'exited'));
ALTER TABLE automation_runs
    ADD COLUMN reason text,
    ADD COLUMN attempt integer NOT NULL DEFAULT 1;

-- Re-enrolment policies look up an automation's runs for one record.
CREATE INDEX automation_runs_by_subject ON automation_runs (tenant_id, automation_id, subject);
