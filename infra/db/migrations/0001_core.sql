-- Core schema of the walking skeleton: tenants, users, leads, automations, the outbox and the
-- idempotency ledgers. Every tenant-owned table has ENABLE + FORCE ROW LEVEL SECURITY with a
-- policy on app.tenant_id; an unset tenant sees nothing (NULL never equals a uuid).
-- Runs as the migration owner. The runner creates the login roles crm_app (the functions) and
-- crm_relay (the outbox relay) before this file; they own nothing, so they can neither disable
-- RLS nor alter a policy. Their grants are at the end of this file.

CREATE FUNCTION app_tenant_id() RETURNS uuid
    LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$;

CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    plan        text NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'pro', 'enterprise')),
    settings    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
    USING (id = app_tenant_id()) WITH CHECK (id = app_tenant_id());

CREATE TABLE users (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    email          text NOT NULL CHECK (email = lower(email)),
    name           text NOT NULL,
    password_hash  text NOT NULL,
    role           text NOT NULL CHECK (role IN ('owner', 'admin', 'manager', 'seller', 'viewer')),
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deactivated')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, email)
);
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- Login needs "which tenants does this email belong to?" before any tenant is known. This
-- directory holds only that mapping; the app role may insert into it but never read it: the
-- one way to read is find_login_tenants(), which returns the tenant ids for one exact email.
CREATE TABLE login_directory (
    email      text NOT NULL CHECK (email = lower(email)),
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    tenant_slug  text NOT NULL,
    user_id      uuid NOT NULL,
    PRIMARY KEY (email, tenant_id)
);

CREATE FUNCTION find_login_tenants(p_email text)
    RETURNS TABLE (tenant_id uuid, tenant_slug text, user_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$
        SELECT d.tenant_id, d.tenant_slug, d.user_id
        FROM login_directory d
        WHERE d.email = lower(p_email)
        ORDER BY d.tenant_slug
    $$;
REVOKE ALL ON FUNCTION find_login_tenants(text) FROM PUBLIC;

CREATE TABLE leads (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    name        text NOT NULL,
    email       text,
    phone       text,
    company     text,
    source      text,
    status      text NOT NULL DEFAULT 'new'
                CHECK (status IN ('new', 'qualified', 'lost', 'converted')),
    owner_id    uuid,
    created_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    version     integer NOT NULL DEFAULT 1
);
CREATE INDEX leads_tenant_created ON leads (tenant_id, created_at DESC, id);
ALTER TABLE leads ENABLE ROW LEVEL SECURITY;
ALTER TABLE leads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON leads
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

CREATE TABLE automations (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    name             text NOT NULL,
    trigger_event    text NOT NULL,
    status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
    current_version  integer NOT NULL,
    created_by       uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX automations_trigger ON automations (tenant_id, trigger_event) WHERE status = 'active';
ALTER TABLE automations ENABLE ROW LEVEL SECURITY;
ALTER TABLE automations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON automations
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

CREATE TABLE automation_versions (
    id                 uuid PRIMARY KEY,
    tenant_id          uuid NOT NULL REFERENCES tenants (id),
    automation_id      uuid NOT NULL REFERENCES automations (id),
    version            integer NOT NULL,
    definition         jsonb NOT NULL,
    state_machine_arn  text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (automation_id, version)
);
ALTER TABLE automation_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE automation_versions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON automation_versions
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- One row per (automation version, triggering event): the router's ledger. Its id is derived
-- from both, so a redelivered event maps onto the same run and the same execution name.
CREATE TABLE automation_runs (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    automation_id   uuid NOT NULL REFERENCES automations (id),
    version_id      uuid NOT NULL REFERENCES automation_versions (id),
    event_id        uuid NOT NULL,
    execution_name  text NOT NULL,
    execution_arn   text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (version_id, event_id)
);
ALTER TABLE automation_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE automation_runs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON automation_runs
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- The exactly-once ledger of side effects: a row per (run, step). The row is inserted in the
-- same transaction that performs the effect, so a retried or duplicated step finds it and
-- does nothing.
CREATE TABLE action_executions (
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    idempotency_key  text NOT NULL,
    run_id           uuid NOT NULL,
    step_id          text NOT NULL,
    kind             text NOT NULL,
    result           jsonb NOT NULL DEFAULT '{}'::jsonb,
    executed_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, idempotency_key)
);
ALTER TABLE action_executions ENABLE ROW LEVEL SECURITY;
ALTER TABLE action_executions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON action_executions
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- Transactional outbox. Written by the app role in the same transaction as the change; read
-- across tenants only by crm_relay (its own policy below), never by the app role.
CREATE TABLE outbox (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    type          text NOT NULL,
    envelope      jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at  timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text
);
CREATE INDEX outbox_unpublished ON outbox (created_at) WHERE published_at IS NULL;
ALTER TABLE outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbox FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON outbox
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
CREATE POLICY relay_sweeps_all_tenants ON outbox TO crm_relay USING (true) WITH CHECK (true);

-- Responses to POSTs that carried an Idempotency-Key, replayed on a retry of the same request.
CREATE TABLE idempotency_keys (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    key           text NOT NULL,
    request_hash  text NOT NULL,
    status_code   integer NOT NULL,
    response      jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);
ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON idempotency_keys
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- ------------------------------------------------------------------ grants
GRANT USAGE ON SCHEMA public TO crm_app, crm_relay;
GRANT SELECT, INSERT, UPDATE, DELETE ON
    tenants, users, leads, automations, automation_versions, automation_runs,
    action_executions, outbox, idempotency_keys
    TO crm_app;
GRANT INSERT ON login_directory TO crm_app;
GRANT EXECUTE ON FUNCTION find_login_tenants(text) TO crm_app;
GRANT EXECUTE ON FUNCTION app_tenant_id() TO crm_app, crm_relay;
GRANT SELECT, UPDATE ON outbox TO crm_relay;
