-- Pipelines, their ordered stages, deals and the deals' stage history.
-- Every table: tenant_id + ENABLE + FORCE ROW LEVEL SECURITY + the tenant_isolation policy.
-- Cross-tenant references between these tables are impossible in the schema itself: a
-- stage's pipeline, a deal's pipeline and a history row's deal are composite foreign keys on
-- (tenant_id, id), and a deal's stage is a composite key on (pipeline_id, id), so a deal's
-- stage always belongs to the deal's pipeline. (A deal's owner and lead are plain keys: the
-- service checks they are of the tenant, reading them through RLS.)

CREATE TABLE pipelines (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    is_default   boolean NOT NULL DEFAULT false,
    archived_at  timestamptz,
    created_by   uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    version      integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    UNIQUE (tenant_id, id),
    -- the default pipeline (where deals go when none is named) is never archived
    CHECK (NOT (is_default AND archived_at IS NOT NULL))
);
-- one default pipeline per tenant
CREATE UNIQUE INDEX pipelines_one_default ON pipelines (tenant_id) WHERE is_default;
-- GET /pipelines: keyset on (created_at, id)
CREATE INDEX pipelines_tenant_created ON pipelines (tenant_id, created_at, id);
-- the plan's pipeline limit counts every pipeline, archived ones too (0004's usage counters)
CREATE TRIGGER pipelines_usage AFTER INSERT OR DELETE ON pipelines
    FOR EACH ROW EXECUTE FUNCTION track_usage('pipelines');
ALTER TABLE pipelines ENABLE ROW LEVEL SECURITY;
ALTER TABLE pipelines FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON pipelines
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

CREATE TABLE pipeline_stages (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL,
    pipeline_id  uuid NOT NULL,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 60),
    position     integer NOT NULL CHECK (position >= 0),
    probability  smallint NOT NULL CHECK (probability BETWEEN 0 AND 100),
    kind         text NOT NULL CHECK (kind IN ('open', 'won', 'lost')),
    FOREIGN KEY (tenant_id, pipeline_id) REFERENCES pipelines (tenant_id, id),
    UNIQUE (pipeline_id, id),
    -- deferred: a reorder rewrites every position in one transaction
    UNIQUE (pipeline_id, position) DEFERRABLE INITIALLY DEFERRED,
    CHECK (kind = 'open' OR probability = CASE kind WHEN 'won' THEN 100 ELSE 0 END)
);
ALTER TABLE pipeline_stages ENABLE ROW LEVEL SECURITY;
ALTER TABLE pipeline_stages FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON pipeline_stages
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- contact_id has no foreign key yet: the contacts table arrives with the contacts part of the
-- CRM core; its migration adds the constraint. lead_id and owner_id are set to NULL if their
-- row is ever hard-deleted (leads are purged 30 days after a soft delete).
CREATE TABLE deals (
    id                   uuid PRIMARY KEY,
    tenant_id            uuid NOT NULL REFERENCES tenants (id),
    title                text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    value                numeric(16, 2) NOT NULL DEFAULT 0 CHECK (value >= 0),
    currency             text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- NULL: the stage's probability applies; set: the deal's own override
    probability          smallint CHECK (probability BETWEEN 0 AND 100),
    expected_close_date  date,
    owner_id             uuid REFERENCES users (id) ON DELETE SET NULL,
    lead_id              uuid REFERENCES leads (id) ON DELETE SET NULL,
    contact_id           uuid,
    pipeline_id          uuid NOT NULL,
    stage_id             uuid NOT NULL,
    -- the stage's kind, kept on the deal so the status filter is an index scan
    status               text NOT NULL CHECK (status IN ('open', 'won', 'lost')),
    lost_reason          text CHECK (length(lost_reason) BETWEEN 1 AND 500),
    stage_entered_at     timestamptz NOT NULL,
    closed_at            timestamptz,
    created_by           uuid,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    deleted_at           timestamptz,
    version              integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, pipeline_id) REFERENCES pipelines (tenant_id, id),
    FOREIGN KEY (pipeline_id, stage_id) REFERENCES pipeline_stages (pipeline_id, id),
    CHECK ((status = 'lost') = (lost_reason IS NOT NULL)),
    CHECK ((status = 'open') = (closed_at IS NULL))
);
-- Lists: every index leads with tenant_id (the RLS predicate) and covers live deals only, in
-- the sort orders GET /deals offers, with id as the keyset tie-break. Btree scans backwards,
-- so each serves both asc and desc.
CREATE INDEX deals_created ON deals (tenant_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX deals_updated ON deals (tenant_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX deals_value ON deals (tenant_id, value, id) WHERE deleted_at IS NULL;
CREATE INDEX deals_expected_close ON deals (tenant_id, expected_close_date, id)
    WHERE deleted_at IS NULL;
-- filters: pipeline, stage (also the board's columns), owner (also the sellers' rule), status
CREATE INDEX deals_pipeline ON deals (tenant_id, pipeline_id, created_at, id)
    WHERE deleted_at IS NULL;
CREATE INDEX deals_stage ON deals (tenant_id, stage_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX deals_owner ON deals (tenant_id, owner_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX deals_status ON deals (tenant_id, status, created_at, id) WHERE deleted_at IS NULL;
-- stage removal asks whether any deal (deleted ones too: they can be restored) is in a stage
CREATE INDEX deals_any_stage ON deals (stage_id);
ALTER TABLE deals ENABLE ROW LEVEL SECURITY;
ALTER TABLE deals FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON deals
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- One row per stay of a deal in a stage. stage_name is the name when the deal was there (a
-- stage can be renamed or removed later); left_at is NULL for the current stay.
CREATE TABLE deal_stage_history (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    deal_id        uuid NOT NULL,
    pipeline_id    uuid NOT NULL,
    stage_id       uuid NOT NULL,
    stage_name     text NOT NULL,
    from_stage_id  uuid,
    entered_at     timestamptz NOT NULL,
    left_at        timestamptz,
    reason         text CHECK (length(reason) <= 500),
    moved_by       uuid,
    FOREIGN KEY (tenant_id, deal_id) REFERENCES deals (tenant_id, id) ON DELETE CASCADE,
    CHECK (left_at IS NULL OR left_at >= entered_at)
);
CREATE INDEX deal_stage_history_deal ON deal_stage_history (tenant_id, deal_id, entered_at, id);
-- a deal is in one stage at a time
CREATE UNIQUE INDEX deal_stage_history_current ON deal_stage_history (deal_id)
    WHERE left_at IS NULL;
ALTER TABLE deal_stage_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE deal_stage_history FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON deal_stage_history
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- ------------------------------------------------------------------ grants
-- Deals are soft-deleted and history is kept: the app role may not DELETE either. Stages are
-- removed when a pipeline is edited (only while no deal is in them: the foreign key says so).
GRANT SELECT, INSERT, UPDATE ON pipelines, deals, deal_stage_history TO crm_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON pipeline_stages TO crm_app;
