-- In-app notifications (crm.services.notifications): one row per user and thing to tell, read
-- or unread, and each user's choice of kinds they do not want. source_key makes producing one
-- idempotent (the same event or dead letter notifies a user once). Tenant tables as in 0001.
CREATE TABLE notifications (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('record_assigned', 'task_assigned', 'task_due',
                    'import_finished', 'automation_failed', 'dead_letter', 'webhook_disabled',
                    'automation')),
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    link        text CHECK (length(link) <= 300),
    source_key  text NOT NULL CHECK (length(source_key) <= 200),
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    read_at     timestamptz,
    UNIQUE (user_id, kind, source_key)
);
CREATE INDEX notifications_listing ON notifications (tenant_id, user_id, created_at DESC, id DESC);
CREATE INDEX notifications_unread ON notifications (tenant_id, user_id, created_at DESC)
    WHERE read_at IS NULL;
ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
ALTER TABLE notifications FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notifications
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

CREATE TABLE notification_preferences (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    user_id      uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    muted_kinds  text[] NOT NULL DEFAULT '{}',
    updated_at   timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE notification_preferences ENABLE ROW LEVEL SECURITY;
ALTER TABLE notification_preferences FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notification_preferences
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- The due-soon task reminder runs as crm_relay (the cross-tenant housekeeping role) to find
-- which tenants have open tasks due soon that were not reminded yet; it sees only those rows,
-- and only their tenant and due time. The reminders are then written per tenant as crm_app.
CREATE POLICY relay_sees_due_tasks ON tasks FOR SELECT TO crm_relay
    USING (done_at IS NULL AND reminded_at IS NULL AND due_at IS NOT NULL);

GRANT SELECT, INSERT, UPDATE, DELETE ON notifications, notification_preferences TO crm_app;
GRANT SELECT (tenant_id, due_at) ON tasks TO crm_relay;
