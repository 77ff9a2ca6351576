-- GET /suppressions pages by (created_at, id): every suppressed address gets an id.
ALTER TABLE email_suppressions ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid();
CREATE UNIQUE INDEX email_suppressions_id ON email_suppressions (id);
CREATE INDEX email_suppressions_listing ON email_suppressions (tenant_id, created_at DESC, id DESC);
