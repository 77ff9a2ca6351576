-- The automation actions of issue 11: round-robin owner rotations and the SMS quota.

-- One rotation per (automation, step): the position of the next pick. assign_owner locks the
-- row (SELECT ... FOR UPDATE) in the transaction that writes the new owner and the step's
-- ledger row, so concurrent runs take turns and every pick moves the rotation by one.
CREATE TABLE automation_rotations (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    automation_id  uuid NOT NULL,
    step_id        text NOT NULL CHECK (length(step_id) BETWEEN 1 AND 40),
    position       bigint NOT NULL DEFAULT 0 CHECK (position >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, automation_id, step_id)
);
ALTER TABLE automation_rotations ENABLE ROW LEVEL SECURITY;
ALTER TABLE automation_rotations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON automation_rotations
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON automation_rotations TO crm_app;

-- send_sms counts against a daily quota, like emails_per_day.
INSERT INTO usage_metrics (key, period, description) VALUES
    ('sms_per_day', 'day', 'text messages sent today (UTC)');
INSERT INTO plan_limits (plan, metric, max_value) VALUES
    ('free', 'sms_per_day', 20),
    ('pro', 'sms_per_day', 2000),
    ('enterprise', 'sms_per_day', 50000);
