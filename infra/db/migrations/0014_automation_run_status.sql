-- Runs you can inspect: GET /automations/{id}/runs lists an automation's runs with their
-- status, and GET /automation-runs/{id} reads one step by step from Step Functions.
--
-- status/finished_at are a cache of the execution's outcome (DescribeExecution). The router
-- inserts a run as 'running'; the API describes only the runs still 'running' that it is
-- about to show and writes their final outcome back, so a finished run costs no AWS call on
-- later reads and a list page costs at most one call per row still running.
ALTER TABLE automation_runs
    ADD COLUMN status text NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'succeeded', 'failed', 'timed_out', 'aborted',
                          'pending_redrive')),
    ADD COLUMN finished_at timestamptz,
    -- The triggering event's type, kept with the run: the outbox row it is copied from is
    -- pruned after its retention period.
    ADD COLUMN event_type text;

-- 0007's trigger copies the subject from the event's outbox row; it now copies the type too.
CREATE OR REPLACE FUNCTION automation_run_subject() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = public, pg_temp
    AS $$
    DECLARE
        found_subject text;
        found_type text;
    BEGIN
        IF NEW.subject IS NULL OR NEW.event_type IS NULL THEN
            SELECT o.aggregate, o.type INTO found_subject, found_type
                FROM outbox o WHERE o.id = NEW.event_id;
            NEW.subject := coalesce(NEW.subject, found_subject);
            NEW.event_type := coalesce(NEW.event_type, found_type);
        END IF;
        RETURN NEW;
    END
    $$;

-- Runs recorded before this migration (FORCE lifted for the copy, as in 0007).
ALTER TABLE automation_runs NO FORCE ROW LEVEL SECURITY;
ALTER TABLE outbox NO FORCE ROW LEVEL SECURITY;
UPDATE automation_runs r SET event_type = o.type
    FROM outbox o WHERE o.id = r.event_id AND r.event_type IS NULL;
ALTER TABLE automation_runs FORCE ROW LEVEL SECURITY;
ALTER TABLE outbox FORCE ROW LEVEL SECURITY;

-- The runs list: one automation's runs, newest first (optionally of some statuses).
CREATE INDEX automation_runs_listing
    ON automation_runs (tenant_id, automation_id, created_at DESC, id DESC);

-- A run's action ledger, read with the run (the primary key is by idempotency key).
CREATE INDEX action_executions_by_run ON action_executions (tenant_id, run_id);
