-- The event backbone: per-aggregate sequence numbers on the outbox, the consumers'
-- processed-events ledger, the dead letters admins redrive or discard, and what the relay
-- needs to prune. Tenant tables follow 0001: tenant_id, ENABLE + FORCE RLS, tenant_isolation.

-- ------------------------------------------------------------------ sequence numbers
-- The last sequence number handed out per aggregate (the event's subject, e.g. leads/<id>).
-- The outbox insert bumps it in the same transaction (INSERT .. ON CONFLICT DO UPDATE), so two
-- transactions writing events of one aggregate serialise on this row and get 1, 2, 3, ...
-- It lives apart from the outbox because pruning deletes outbox rows.
CREATE TABLE aggregate_sequences (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    aggregate      text NOT NULL,
    last_sequence  bigint NOT NULL CHECK (last_sequence > 0),
    PRIMARY KEY (tenant_id, aggregate)
);
ALTER TABLE aggregate_sequences ENABLE ROW LEVEL SECURITY;
ALTER TABLE aggregate_sequences FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON aggregate_sequences
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- Rows written before this migration have no aggregate or sequence (NULL); every new row has
-- both, and the envelope carries the number as the `aggregatesequence` extension.
ALTER TABLE outbox ADD COLUMN aggregate text, ADD COLUMN sequence bigint;
ALTER TABLE outbox ADD CONSTRAINT outbox_aggregate_sequence_unique
    UNIQUE (tenant_id, aggregate, sequence);

-- The relay's pruning scans published rows by age.
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;

-- ------------------------------------------------------------------ processed events
-- "Consumer X handled event E": inserted in the same transaction as X's effect, so a
-- redelivered or republished event finds the row and does nothing. A duplicate bumps
-- duplicate_deliveries instead (that is how often at-least-once delivery repeated itself).
CREATE TABLE processed_events (
    tenant_id             uuid NOT NULL REFERENCES tenants (id),
    consumer              text NOT NULL,
    event_id              uuid NOT NULL,
    processed_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    duplicate_deliveries  integer NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, consumer, event_id)
);
CREATE INDEX processed_events_age ON processed_events (processed_at);
ALTER TABLE processed_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE processed_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON processed_events
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
-- The relay prunes rows older than the retention period, across tenants. The ledger holds
-- only ids, so this read is no wider than the relay's read of the outbox.
CREATE POLICY relay_prunes_all_tenants ON processed_events TO crm_relay
    USING (true) WITH CHECK (false);

-- ------------------------------------------------------------------ dead letters
CREATE TABLE dead_letters (
    id                uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL REFERENCES tenants (id),
    consumer          text NOT NULL CHECK (consumer ~ '^[a-z][a-z0-9_]*$'),
    event_id          uuid NOT NULL,
    event_type        text NOT NULL,
    envelope          jsonb NOT NULL,
    error             text NOT NULL,
    attempts          integer NOT NULL CHECK (attempts >= 0),
    first_failed_at   timestamptz NOT NULL,
    last_failed_at    timestamptz NOT NULL,
    dead_lettered_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    status            text NOT NULL DEFAULT 'dead' CHECK (status IN ('dead', 'redriven')),
    redriven_at       timestamptz,
    redriven_by       uuid,
    CHECK ((status = 'redriven') = (redriven_at IS NOT NULL))
);
-- One open dead letter per (consumer, event): a redelivered DLQ message updates it.
CREATE UNIQUE INDEX dead_letters_open
    ON dead_letters (tenant_id, consumer, event_id) WHERE status = 'dead';
CREATE INDEX dead_letters_listing
    ON dead_letters (tenant_id, status, dead_lettered_at DESC, id DESC);
ALTER TABLE dead_letters ENABLE ROW LEVEL SECURITY;
ALTER TABLE dead_letters FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON dead_letters
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- ------------------------------------------------------------------ grants
GRANT SELECT, INSERT, UPDATE ON aggregate_sequences TO crm_app;
GRANT SELECT, INSERT, UPDATE ON processed_events TO crm_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON dead_letters TO crm_app;
GRANT DELETE ON outbox TO crm_relay;
GRANT SELECT, DELETE ON processed_events TO crm_relay;
