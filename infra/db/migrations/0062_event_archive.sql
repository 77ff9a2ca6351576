-- The event archive: every domain event a tenant's changes produced, kept for the plan's
-- retention so that POST /automations/{id}/backtest can replay a period longer than the
-- outbox keeps its rows.
--
-- Why a Postgres table filled by a trigger on the outbox: the copy is written in the very
-- transaction that wrote the event, so the archive is complete by construction (no consumer
-- to lag, fail or be redelivered to), it is scoped per tenant by the same row-level security,
-- a backtest reads a tenant's period through one index, and the GDPR erasure scrubs it with
-- the outbox (crm.adapters.postgres.gdpr). An analytics store (OpenSearch) would need its own
-- consumer and its own erasure path for the same data.
CREATE TABLE event_archive (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    type         text NOT NULL,
    subject      text,
    occurred_at  timestamptz NOT NULL,
    envelope     jsonb NOT NULL
);
CREATE INDEX event_archive_period ON event_archive (tenant_id, type, occurred_at, id);
CREATE INDEX event_archive_subject ON event_archive (tenant_id, subject);
ALTER TABLE event_archive ENABLE ROW LEVEL SECURITY;
ALTER TABLE event_archive FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON event_archive
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE ON event_archive TO crm_app;

CREATE FUNCTION archive_outbox_event() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = public, pg_temp
    AS $$
    BEGIN
        INSERT INTO event_archive (id, tenant_id, type, subject, occurred_at, envelope)
        VALUES (NEW.id, NEW.tenant_id, NEW.type, NEW.envelope->>'subject',
                coalesce((NEW.envelope->>'time')::timestamptz, NEW.created_at), NEW.envelope)
        ON CONFLICT (id) DO NOTHING;
        RETURN NULL;
    END
    $$;
CREATE TRIGGER archive_event AFTER INSERT ON outbox
    FOR EACH ROW EXECUTE FUNCTION archive_outbox_event();

-- Retention per plan, in days.
ALTER TABLE plans ADD COLUMN event_archive_days integer NOT NULL DEFAULT 30
    CHECK (event_archive_days BETWEEN 1 AND 3650);
UPDATE plans SET event_archive_days = 30 WHERE key = 'free';
UPDATE plans SET event_archive_days = 180 WHERE key = 'pro';
UPDATE plans SET event_archive_days = 730 WHERE key = 'enterprise';

-- Housekeeping (crm_relay) learns which tenants have archived events, as it learns which
-- have expired deletions (0007); each tenant's rows past its plan's retention are then
-- deleted in that tenant's own transaction by the app role.
CREATE POLICY relay_sees_archive_tenants ON event_archive FOR SELECT TO crm_relay USING (true);
GRANT SELECT (tenant_id, occurred_at) ON event_archive TO crm_relay;
GRANT DELETE ON event_archive TO crm_app;
