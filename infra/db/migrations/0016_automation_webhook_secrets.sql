-- The Standard Webhooks signing secret of each automation (issue 11): its webhook actions
-- sign every request with it. Sealed with AES-256-GCM (crm.adapters.secrets.field_cipher,
-- key from WebhookEncryptionKeySecret, bound to the automation's id): automation_step must
-- read it back to sign, so it cannot be a digest. Shown once, at creation and at rotation.
-- A table of its own (not a column of automations) keeps the secret out of every query that
-- lists or reads automations.
CREATE TABLE automation_webhook_secrets (
    automation_id     uuid PRIMARY KEY REFERENCES automations (id) ON DELETE CASCADE,
    tenant_id         uuid NOT NULL REFERENCES tenants (id),
    secret_encrypted  text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    rotated_at        timestamptz
);
CREATE INDEX automation_webhook_secrets_tenant ON automation_webhook_secrets (tenant_id);
ALTER TABLE automation_webhook_secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE automation_webhook_secrets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON automation_webhook_secrets
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

GRANT SELECT, INSERT, UPDATE, DELETE ON automation_webhook_secrets TO crm_app;
