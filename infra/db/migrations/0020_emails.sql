-- The email pipeline (crm.services.emails): one ledger row per email, its status history, and
-- the tenant's suppression list. Tenant tables follow 0001: tenant_id, ENABLE + FORCE RLS,
-- tenant_isolation.

-- ------------------------------------------------------------------ emails
-- A row is written with its crm.email.requested event in the requester's transaction (status
-- queued); the email worker (q.email) sends it and records the provider's message id (sent),
-- or why it was not sent (rejected: suppressed address or daily quota; failed: the transport
-- kept failing, the event is in the dead letters). SES notifications move it on (delivered,
-- bounced, complained).
-- record_kind/record_id: the lead, contact or user it was sent to (NULL for an address only).
-- sensitive: the body carries a secret (an invitation or reset link); it is cleared once sent.
CREATE TABLE emails (
    id                   uuid PRIMARY KEY,
    tenant_id            uuid NOT NULL REFERENCES tenants (id),
    record_kind          text CHECK (record_kind IN ('lead', 'contact', 'user')),
    record_id            uuid,
    to_address           text NOT NULL CHECK (length(to_address) BETWEEN 3 AND 320),
    from_address         text NOT NULL CHECK (length(from_address) BETWEEN 3 AND 320),
    purpose              text NOT NULL CHECK (purpose IN
                             ('message', 'invitation', 'password_reset', 'automation')),
    marketing            boolean NOT NULL DEFAULT false,
    sensitive            boolean NOT NULL DEFAULT false,
    subject              text NOT NULL CHECK (length(subject) BETWEEN 1 AND 998),
    text_body            text,
    html_body            text,
    template_id          uuid,
    template_version     integer,
    status               text NOT NULL DEFAULT 'queued' CHECK (status IN
                             ('queued', 'sent', 'delivered', 'bounced', 'complained',
                              'rejected', 'failed')),
    status_reason        text CHECK (length(status_reason) <= 500),
    provider             text CHECK (provider IN ('ses', 'smtp')),
    provider_message_id  text,
    attempts             integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_by           uuid REFERENCES users (id),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    sent_at              timestamptz,
    CHECK ((record_kind IS NULL) = (record_id IS NULL))
);
-- GET /emails (newest first; by status, record or template) and the timeline of a record.
CREATE INDEX emails_listing ON emails (tenant_id, created_at DESC, id DESC);
CREATE INDEX emails_by_record ON emails (tenant_id, record_kind, record_id, created_at DESC, id DESC)
    WHERE record_id IS NOT NULL;
CREATE INDEX emails_by_template ON emails (tenant_id, template_id, created_at DESC)
    WHERE template_id IS NOT NULL;
-- SES notifications name the provider's message id.
CREATE INDEX emails_by_provider_id ON emails (provider_message_id)
    WHERE provider_message_id IS NOT NULL;
ALTER TABLE emails ENABLE ROW LEVEL SECURITY;
ALTER TABLE emails FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON emails
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

CREATE TABLE email_status_history (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    email_id   uuid NOT NULL REFERENCES emails (id) ON DELETE CASCADE,
    status     text NOT NULL,
    reason     text CHECK (length(reason) <= 500),
    at         timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX email_status_history_of ON email_status_history (tenant_id, email_id, id);
ALTER TABLE email_status_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE email_status_history FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON email_status_history
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- ------------------------------------------------------------------ suppressions
-- Addresses the tenant must not email (hard bounce, complaint, unsubscribe, or added by hand);
-- every send checks it. Stored lower-cased.
CREATE TABLE email_suppressions (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    address     text NOT NULL CHECK (address = lower(address) AND length(address) <= 320),
    reason      text NOT NULL CHECK (reason IN ('bounce', 'complaint', 'unsubscribe', 'manual')),
    email_id    uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, address)
);
ALTER TABLE email_suppressions ENABLE ROW LEVEL SECURITY;
ALTER TABLE email_suppressions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON email_suppressions
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

GRANT SELECT, INSERT, UPDATE, DELETE ON emails, email_suppressions TO crm_app;
GRANT SELECT, INSERT ON email_status_history TO crm_app;
