-- Webhook subscriptions for integrators: endpoints (URL, event types, signing secret) and the
-- delivery ledger of the webhook worker (q.webhook). Tenant tables follow 0001: tenant_id,
-- ENABLE + FORCE RLS, tenant_isolation.

-- ------------------------------------------------------------------ endpoints
-- event_types holds catalogued types (crm.lead.created) or prefixes (crm.deal.*); the API
-- validates them against the event catalog. secret_encrypted is the Standard Webhooks signing
-- secret (whsec_...) sealed with AES-256-GCM (crm.adapters.secrets.field_cipher, bound to the
-- endpoint's id): the worker must read it back to sign, so it cannot be a digest.
CREATE TABLE webhook_endpoints (
    id                uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL REFERENCES tenants (id),
    url               text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    description       text CHECK (length(description) <= 500),
    event_types       text[] NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 100),
    active            boolean NOT NULL DEFAULT true,
    secret_encrypted  text NOT NULL,
    created_by        uuid REFERENCES users (id),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    version           integer NOT NULL DEFAULT 1 CHECK (version > 0)
);
-- The list (newest first) and the worker's lookup of a tenant's active endpoints.
CREATE INDEX webhook_endpoints_listing
    ON webhook_endpoints (tenant_id, created_at DESC, id DESC);
CREATE INDEX webhook_endpoints_active
    ON webhook_endpoints (tenant_id) WHERE active;
ALTER TABLE webhook_endpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_endpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_endpoints
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- ------------------------------------------------------------------ deliveries
-- One row per (endpoint, event): its id is the webhook-id header, stable across retries, and
-- a row that says delivered makes a retried event skip that endpoint. last_error is short and
-- never holds a response body (a receiver's answer is its business, not ours to keep).
CREATE TABLE webhook_deliveries (
    id                uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL REFERENCES tenants (id),
    endpoint_id       uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id          uuid NOT NULL,
    event_type        text NOT NULL,
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts          integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_status_code  integer,
    last_error        text CHECK (length(last_error) <= 300),
    first_attempt_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_attempt_at   timestamptz,
    delivered_at      timestamptz,
    CHECK ((status = 'delivered') = (delivered_at IS NOT NULL)),
    UNIQUE (endpoint_id, event_id)
);
-- GET /webhooks/{id}/deliveries: newest first, optionally one status.
CREATE INDEX webhook_deliveries_listing
    ON webhook_deliveries (tenant_id, endpoint_id, first_attempt_at DESC, id DESC);
CREATE INDEX webhook_deliveries_by_status
    ON webhook_deliveries (tenant_id, endpoint_id, status, first_attempt_at DESC, id DESC);
ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_deliveries
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- ------------------------------------------------------------------ grants
-- Deleting an endpoint deletes its delivery ledger with it (ON DELETE CASCADE).
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints, webhook_deliveries TO crm_app;
