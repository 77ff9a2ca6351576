-- Tenancy: plans and their limits (data, not code), usage counters, per-tenant rate-limit
-- windows, custom roles, invitations, user lifecycle (pending -> active -> deactivated),
-- tenant settings versioning, audit-log indexes for the filtered listing.
-- Every tenant-owned table: ENABLE + FORCE ROW LEVEL SECURITY and the tenant_isolation policy;
-- plans/usage_metrics/plan_limits are global reference data (read-only for crm_app).

-- ------------------------------------------------------------------ plans and limits

-- What can be limited, and over which period a usage counter runs ('none': a level, like the
-- number of users; otherwise a counter that restarts every minute/day/month, in UTC).
CREATE TABLE usage_metrics (
    key          text PRIMARY KEY CHECK (key ~ '^[a-z_]+$'),
    period       text NOT NULL CHECK (period IN ('none', 'minute', 'day', 'month')),
    description  text NOT NULL
);

CREATE TABLE plans (
    key       text PRIMARY KEY CHECK (key ~ '^[a-z]+$'),
    name      text NOT NULL,
    position  integer NOT NULL UNIQUE  -- order from the smallest plan to the largest
);

-- max_value NULL: unlimited.
CREATE TABLE plan_limits (
    plan       text NOT NULL REFERENCES plans (key),
    metric     text NOT NULL REFERENCES usage_metrics (key),
    max_value  bigint CHECK (max_value IS NULL OR max_value >= 0),
    PRIMARY KEY (plan, metric)
);

INSERT INTO usage_metrics (key, period, description) VALUES
    ('users',                     'none',   'active and invited users'),
    ('leads',                     'none',   'leads'),
    ('pipelines',                 'none',   'pipelines'),
    ('active_automations',        'none',   'automations in the active state'),
    ('automation_runs_per_month', 'month',  'automation runs started this calendar month (UTC)'),
    ('emails_per_day',            'day',    'emails sent today (UTC)'),
    ('api_requests_per_minute',   'minute', 'authenticated API requests this minute');

INSERT INTO plans (key, name, position) VALUES
    ('free', 'Free', 1), ('pro', 'Pro', 2), ('enterprise', 'Enterprise', 3);

INSERT INTO plan_limits (plan, metric, max_value) VALUES
    ('free', 'users', 5),
    ('free', 'leads', 1000),
    ('free', 'pipelines', 1),
    ('free', 'active_automations', 3),
    ('free', 'automation_runs_per_month', 1000),
    ('free', 'emails_per_day', 100),
    ('free', 'api_requests_per_minute', 120),
    ('pro', 'users', 25),
    ('pro', 'leads', 100000),
    ('pro', 'pipelines', 20),
    ('pro', 'active_automations', 50),
    ('pro', 'automation_runs_per_month', 100000),
    ('pro', 'emails_per_day', 10000),
    ('pro', 'api_requests_per_minute', 1200),
    ('enterprise', 'users', NULL),
    ('enterprise', 'leads', NULL),
    ('enterprise', 'pipelines', NULL),
    ('enterprise', 'active_automations', 500),
    ('enterprise', 'automation_runs_per_month', 2000000),
    ('enterprise', 'emails_per_day', 200000),
    ('enterprise', 'api_requests_per_minute', 6000);

ALTER TABLE tenants DROP CONSTRAINT tenants_plan_check;
ALTER TABLE tenants ADD CONSTRAINT tenants_plan_fkey FOREIGN KEY (plan) REFERENCES plans (key);
-- Settings are edited with If-Match: the version is their ETag.
ALTER TABLE tenants
    ADD COLUMN version integer NOT NULL DEFAULT 1,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- ------------------------------------------------------------------ usage counters

-- One row per (tenant, metric, period). Levels ('none' metrics) use period_start = epoch and
-- are kept exact by the triggers below, whatever code inserts or deletes the rows; periodic
-- counters are incremented by the code that consumes them (crm.services.plans).
CREATE TABLE usage_counters (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    metric        text NOT NULL REFERENCES usage_metrics (key),
    period_start  timestamptz NOT NULL,
    used          bigint NOT NULL DEFAULT 0 CHECK (used >= 0),
    PRIMARY KEY (tenant_id, metric, period_start)
);
ALTER TABLE usage_counters ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_counters FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_counters
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

CREATE FUNCTION usage_bump(p_tenant uuid, p_metric text, p_delta integer) RETURNS void
    LANGUAGE sql
    SET search_path = public, pg_temp
    AS $$
        INSERT INTO usage_counters AS c (tenant_id, metric, period_start, used)
        VALUES (p_tenant, p_metric, 'epoch', greatest(p_delta, 0))
        ON CONFLICT (tenant_id, metric, period_start)
        DO UPDATE SET used = greatest(c.used + p_delta, 0)
    $$;

-- track_usage('<metric>'[, '<status>,<status>']): counts the rows of the table (only those
-- whose status is listed, when statuses are given). A table that grows a limited resource adds
-- one such trigger (the pipelines table will: track_usage('pipelines')).
CREATE FUNCTION track_usage() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = public, pg_temp
    AS $$
    DECLARE
        metric    text := TG_ARGV[0];
        statuses  text[] := CASE WHEN TG_NARGS > 1 THEN string_to_array(TG_ARGV[1], ',') END;
        counted_before  integer := 0;
        counted_after   integer := 0;
        tenant    uuid;
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            tenant := OLD.tenant_id;
            IF statuses IS NULL THEN
                counted_before := 1;
            ELSIF OLD.status = ANY (statuses) THEN
                counted_before := 1;
            END IF;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            tenant := NEW.tenant_id;
            IF statuses IS NULL THEN
                counted_after := 1;
            ELSIF NEW.status = ANY (statuses) THEN
                counted_after := 1;
            END IF;
        END IF;
        IF counted_after <> counted_before THEN
            PERFORM usage_bump(tenant, metric, counted_after - counted_before);
        END IF;
        RETURN NULL;
    END
    $$;

-- ------------------------------------------------------------------ custom roles and users

CREATE TABLE custom_roles (
    tenant_id         uuid NOT NULL REFERENCES tenants (id),
    key               text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_-]{1,39}$'
                          AND key NOT IN ('owner', 'admin', 'manager', 'seller', 'viewer')),
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    description       text NOT NULL DEFAULT '',
    permissions       text[] NOT NULL,
    own_records_only  boolean NOT NULL DEFAULT false,
    version           integer NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);
ALTER TABLE custom_roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE custom_roles FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON custom_roles
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- A user's role is a built-in role or one of the tenant's custom roles: the generated column
-- is NULL for built-in roles (never checked) and must name a custom role of the same tenant
-- otherwise.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_key CHECK (role ~ '^[a-z][a-z0-9_-]{1,39}$');
ALTER TABLE users ADD COLUMN custom_role text GENERATED ALWAYS AS (
    CASE WHEN role IN ('owner', 'admin', 'manager', 'seller', 'viewer') THEN NULL ELSE role END
) STORED;
ALTER TABLE users ADD CONSTRAINT users_custom_role_fkey
    FOREIGN KEY (tenant_id, custom_role) REFERENCES custom_roles (tenant_id, key);
-- Invited users are 'pending' until they accept and set a password.
ALTER TABLE users DROP CONSTRAINT users_status_check;
ALTER TABLE users ADD CONSTRAINT users_status_check
    CHECK (status IN ('pending', 'active', 'deactivated'));
ALTER TABLE users
    ADD COLUMN version integer NOT NULL DEFAULT 1,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX users_tenant_listing ON users (tenant_id, created_at, id);

-- ------------------------------------------------------------------ invitations

-- The token is only in the invitation email; the table keeps its SHA-256. The token starts
-- with the tenant id, so accepting (a public request) needs no lookup across tenants.
CREATE TABLE invitations (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    user_id      uuid NOT NULL REFERENCES users (id),
    token_hash   text NOT NULL UNIQUE,
    expires_at   timestamptz NOT NULL,
    accepted_at  timestamptz,
    revoked_at   timestamptz,
    created_by   uuid,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invitations_user ON invitations (tenant_id, user_id);
ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invitations
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- ------------------------------------------------------------------ rate limiting

-- One row per tenant: the current fixed one-minute window and its request count. UNLOGGED:
-- losing it in a crash only gives tenants a fresh window, and it skips the WAL on the hottest
-- write of the API.
CREATE UNLOGGED TABLE rate_limit_windows (
    tenant_id      uuid PRIMARY KEY,  -- no foreign key: a token of a deleted tenant gets 401
    window_start   timestamptz NOT NULL,
    request_count  integer NOT NULL
);
ALTER TABLE rate_limit_windows ENABLE ROW LEVEL SECURITY;
ALTER TABLE rate_limit_windows FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON rate_limit_windows
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- Called once per authenticated API request, outside any transaction (one round trip): scopes
-- itself to the tenant (transaction-local, so it ends with the statement), counts the request
-- in the tenant's window, and returns the window (seconds to its end by the database's clock,
-- the one that cuts windows), the plan's limit and the caller's current role (with a custom
-- role's grant) and status. Runs as the caller (crm_app), under RLS.
CREATE FUNCTION admit_api_request(p_tenant uuid, p_user uuid)
    RETURNS TABLE (
        request_count     integer,
        request_limit     bigint,
        window_start      timestamptz,
        reset_seconds     integer,
        user_role         text,
        user_status       text,
        permissions       text[],
        own_records_only  boolean
    )
    LANGUAGE plpgsql
    SET search_path = public, pg_temp
    AS $$
    #variable_conflict use_column
    DECLARE
        current_tenant text := current_setting('app.tenant_id', true);
    BEGIN
        IF coalesce(current_tenant, '') NOT IN ('', p_tenant::text) THEN
            RAISE EXCEPTION 'admit_api_request inside a transaction of another tenant';
        END IF;
        PERFORM set_config('app.tenant_id', p_tenant::text, true);
        -- A lost increment after a crash is acceptable; waiting for the WAL flush is not.
        PERFORM set_config('synchronous_commit', 'off', true);
        RETURN QUERY
        WITH counted AS (
            INSERT INTO rate_limit_windows AS w (tenant_id, window_start, request_count)
            VALUES (p_tenant, date_trunc('minute', clock_timestamp()), 1)
            -- A request that read the clock just before a newer one counts in the newer window
            -- rather than moving the window back.
            ON CONFLICT (tenant_id) DO UPDATE SET
                request_count = CASE WHEN excluded.window_start > w.window_start
                                     THEN 1 ELSE w.request_count + 1 END,
                window_start = greatest(w.window_start, excluded.window_start)
            RETURNING w.request_count, w.window_start
        )
        SELECT counted.request_count,
               (SELECT l.max_value FROM tenants t
                  JOIN plan_limits l ON l.plan = t.plan AND l.metric = 'api_requests_per_minute'
                 WHERE t.id = p_tenant),
               counted.window_start,
               greatest(1, ceil(extract(epoch FROM counted.window_start + interval '1 minute'
                                               - clock_timestamp())))::integer,
               u.role, u.status, r.permissions, coalesce(r.own_records_only, false)
        FROM counted
        LEFT JOIN users u ON u.id = p_user
        LEFT JOIN custom_roles r ON r.tenant_id = u.tenant_id AND r.key = u.custom_role;
    END
    $$;

-- ------------------------------------------------------------------ usage triggers + backfill

CREATE TRIGGER users_usage AFTER INSERT OR UPDATE OF status OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION track_usage('users', 'active,pending');
CREATE TRIGGER leads_usage AFTER INSERT OR DELETE ON leads
    FOR EACH ROW EXECUTE FUNCTION track_usage('leads');
CREATE TRIGGER automations_usage AFTER INSERT OR UPDATE OF status OR DELETE ON automations
    FOR EACH ROW EXECUTE FUNCTION track_usage('active_automations', 'active');

INSERT INTO usage_counters (tenant_id, metric, period_start, used)
SELECT tenant_id, 'users', timestamptz 'epoch', count(*) FROM users
 WHERE status IN ('active', 'pending') GROUP BY tenant_id
UNION ALL
SELECT tenant_id, 'leads', timestamptz 'epoch', count(*) FROM leads GROUP BY tenant_id
UNION ALL
SELECT tenant_id, 'active_automations', timestamptz 'epoch', count(*) FROM automations
 WHERE status = 'active' GROUP BY tenant_id;

-- ------------------------------------------------------------------ audit-log filters

CREATE INDEX audit_log_tenant_actor ON audit_log (tenant_id, actor_id, occurred_at DESC, id DESC);
CREATE INDEX audit_log_tenant_entity
    ON audit_log (tenant_id, entity_type, entity_id, occurred_at DESC, id DESC);

-- ------------------------------------------------------------------ grants

GRANT SELECT ON usage_metrics, plans, plan_limits TO crm_app;
GRANT SELECT, INSERT, UPDATE ON usage_counters, custom_roles, invitations, rate_limit_windows
    TO crm_app;
GRANT EXECUTE ON FUNCTION usage_bump(uuid, text, integer), track_usage(),
    admit_api_request(uuid, uuid) TO crm_app;
