-- Tasks (crm.services.tasks): a sales rep's work items: a call, meeting, email or to-do with a
-- due moment, an assignee and maybe a linked lead, contact or deal. reminded_at: when the
-- due-soon reminder notified the assignee (once per due moment: a new due_at clears it).
-- Tenant table as in 0001.
CREATE TABLE tasks (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    title        text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    type         text NOT NULL CHECK (type IN ('call', 'meeting', 'email', 'todo')),
    due_at       timestamptz,
    assignee_id  uuid REFERENCES users (id),
    record_kind  text CHECK (record_kind IN ('lead', 'contact', 'deal')),
    record_id    uuid,
    notes        text CHECK (length(notes) <= 10000),
    done_at      timestamptz,
    reminded_at  timestamptz,
    created_by   uuid REFERENCES users (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    version      integer NOT NULL DEFAULT 1 CHECK (version > 0),
    CHECK ((record_kind IS NULL) = (record_id IS NULL))
);
CREATE INDEX tasks_listing ON tasks (tenant_id, created_at DESC, id DESC);
CREATE INDEX tasks_by_assignee ON tasks (tenant_id, assignee_id, due_at) WHERE done_at IS NULL;
CREATE INDEX tasks_by_record ON tasks (tenant_id, record_kind, record_id, created_at DESC)
    WHERE record_id IS NOT NULL;
-- The reminder schedule: open tasks due soon that were not reminded yet.
CREATE INDEX tasks_due ON tasks (due_at) WHERE done_at IS NULL AND reminded_at IS NULL;
ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE tasks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tasks
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

GRANT SELECT, INSERT, UPDATE, DELETE ON tasks TO crm_app;
