-- Chains of automations (issue 11): runs the router skips. (The tenant's depth limit is the
-- setting automation_max_chain_depth in tenants.settings, default 10.)

-- A run the router did not start: its trigger event came through a chain of automations
-- deeper than the tenant allows (skip_reason 'chain-depth'). 'skipped' joins the allowed
-- statuses, keeping whatever other migrations allowed: the check is rewritten from its
-- current definition rather than restated.
DO $$
DECLARE
    current_check text;
BEGIN
    SELECT pg_get_constraintdef(c.oid) INTO current_check
        FROM pg_constraint c
        WHERE c.conrelid = 'automation_runs'::regclass
          AND c.conname = 'automation_runs_status_check';
    IF current_check IS NULL THEN
        RAISE EXCEPTION 'automation_runs_status_check is missing';
    END IF;
    IF position('''skipped''' IN current_check) = 0 THEN
        ALTER TABLE automation_runs DROP CONSTRAINT automation_runs_status_check;
        EXECUTE 'ALTER TABLE automation_runs ADD CONSTRAINT automation_runs_status_check '
            || replace(current_check, 'ARRAY[', 'ARRAY[''skipped''::text, ');
    END IF;
END
$$;
ALTER TABLE automation_runs ADD COLUMN skip_reason text
    CHECK (skip_reason IS NULL OR skip_reason IN ('chain-depth'));

