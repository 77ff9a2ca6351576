-- Open WebSocket connections (API Gateway v2 WebSocket API): $connect stores one row with the
-- caller the authorizer established, $disconnect deletes it, and the realtime notifier
-- (q.realtime) reads a tenant's rows in that tenant's unit of work to post each event to them;
-- a post answered 410 Gone deletes the stale row. Tenant table as in 0001: tenant_id,
-- ENABLE + FORCE RLS, tenant_isolation. The role is NOT copied here: the notifier reads the
-- user's current role (and status) per batch, so a demotion applies to open connections too.
-- scopes: an API key's scopes at connect time (NULL for a user's token).
CREATE TABLE ws_connections (
    connection_id  text PRIMARY KEY CHECK (length(connection_id) BETWEEN 1 AND 128),
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    api_key_id     uuid,
    scopes         text[],
    connected_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ws_connections_tenant ON ws_connections (tenant_id);
ALTER TABLE ws_connections ENABLE ROW LEVEL SECURITY;
ALTER TABLE ws_connections FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ws_connections
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

GRANT SELECT, INSERT, UPDATE, DELETE ON ws_connections TO crm_app;
