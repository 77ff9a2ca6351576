-- Run lifecycle events (crm.automation.run_succeeded/failed) need someone to notice that an
-- execution ended even when nobody reads its run: a scheduled sweep asks, as crm_relay (the
-- cross-tenant housekeeping role), which tenants have runs still recorded as running, then
-- describes them per tenant as crm_app. The policy shows crm_relay those rows only, and only
-- their tenant and start time.
CREATE POLICY relay_sees_running_runs ON automation_runs FOR SELECT TO crm_relay
    USING (status = 'running');
GRANT SELECT (tenant_id, status, created_at) ON automation_runs TO crm_relay;

CREATE INDEX automation_runs_running ON automation_runs (created_at) WHERE status = 'running';
