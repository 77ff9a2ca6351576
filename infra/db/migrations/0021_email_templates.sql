-- Email templates (crm.services.email_templates): a template row with its current version and
-- an immutable row per version (subject, HTML, text), so a sent email names the version it
-- used (emails.template_id, template_version). Deleting a template hides it (deleted_at); its
-- versions stay for the emails that name them. Tenant tables follow 0001.
CREATE TABLE email_templates (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    current_version  integer NOT NULL DEFAULT 1 CHECK (current_version > 0),
    created_by       uuid REFERENCES users (id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz
);
CREATE INDEX email_templates_listing ON email_templates (tenant_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;
ALTER TABLE email_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE email_templates FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON email_templates
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

CREATE TABLE email_template_versions (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    template_id  uuid NOT NULL REFERENCES email_templates (id),
    version      integer NOT NULL CHECK (version > 0),
    subject      text NOT NULL CHECK (length(subject) BETWEEN 1 AND 998),
    html         text CHECK (length(html) <= 500000),
    text_body    text CHECK (length(text_body) <= 200000),
    created_by   uuid REFERENCES users (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (template_id, version),
    CHECK (html IS NOT NULL OR text_body IS NOT NULL)
);
ALTER TABLE email_template_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE email_template_versions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON email_template_versions
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

GRANT SELECT, INSERT, UPDATE ON email_templates TO crm_app;
GRANT SELECT, INSERT ON email_template_versions TO crm_app;
