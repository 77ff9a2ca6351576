-- Chains of automations (issue 11): runs the router skips, and the tenant's depth limit.

-- A run the router did not start: its trigger event came through a chain of automations
-- deeper than the tenant allows (skip_reason 'chain-depth').
ALTER TABLE automation_runs DROP CONSTRAINT IF EXISTS automation_runs_status_check;
ALTER TABLE automation_runs ADD CONSTRAINT automation_runs_status_check
    CHECK (status IN ('running', 'succeeded', 'failed', 'timed_out', 'aborted',
                      'pending_redrive', 'skipped'));
ALTER TABLE automation_runs ADD COLUMN skip_reason text
    CHECK (skip_reason IS NULL OR skip_reason IN ('chain-depth'));

-- How deep a chain of automations (an automation's action triggering another) may go before
-- the router stops it; events carry their depth in the `chaindepth` CloudEvents extension.
ALTER TABLE tenants ADD COLUMN automation_max_chain_depth integer NOT NULL DEFAULT 10
    CHECK (automation_max_chain_depth BETWEEN 1 AND 100);
