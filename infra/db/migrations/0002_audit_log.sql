-- The audit log: append-only, one row per mutating request or security event, written in the
-- same transaction as the change it records. The app role may INSERT and SELECT, never UPDATE
-- or DELETE (checked by tests/integration/test_audit_log.py).

CREATE TABLE audit_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    occurred_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_type   text NOT NULL CHECK (actor_type IN ('user', 'api_key', 'system', 'anonymous')),
    actor_id     uuid,
    action       text NOT NULL CHECK (action ~ '^[a-z_]+(\.[a-z_]+)+$'),
    entity_type  text,
    entity_id    text,
    changes      jsonb NOT NULL DEFAULT '{}'::jsonb,
    ip           inet,
    user_agent   text,
    request_id   text
);
CREATE INDEX audit_log_tenant_time ON audit_log (tenant_id, occurred_at DESC, id DESC);
CREATE INDEX audit_log_tenant_action ON audit_log (tenant_id, action, occurred_at DESC);
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

GRANT SELECT, INSERT ON audit_log TO crm_app;
