-- Authentication: lockout and MFA state on users, refresh-token families, password resets,
-- MFA recovery codes and API keys.
--
-- Every new table is tenant-owned: tenant_id, ENABLE + FORCE ROW LEVEL SECURITY, policy
-- tenant_isolation. There is no SECURITY DEFINER function here: each opaque credential this
-- issue hands out (refresh token, password-reset token, API key) carries its tenant id in
-- clear (crm.domain.credentials), so its lookup runs in a transaction already scoped to that
-- tenant. Only SHA-256 digests of those credentials are stored: they hold 256 random bits, so
-- a slow hash would add nothing. TOTP seeds must be read back; they are stored encrypted
-- (AES-GCM, key in Secrets Manager), never in plain text.

ALTER TABLE users
    ADD COLUMN failed_login_count   integer NOT NULL DEFAULT 0 CHECK (failed_login_count >= 0),
    -- the next login attempt is refused before this time (the slow-down after failures)
    ADD COLUMN throttled_until      timestamptz,
    ADD COLUMN locked_until         timestamptz,
    -- access tokens issued (iat) before this time are refused by the authorizer
    ADD COLUMN tokens_valid_after   timestamptz,
    ADD COLUMN password_changed_at  timestamptz,
    ADD COLUMN mfa_enabled          boolean NOT NULL DEFAULT false,
    ADD COLUMN mfa_secret           text,
    ADD COLUMN mfa_pending_secret   text,
    -- the last TOTP time step accepted: a code is good once
    ADD COLUMN mfa_last_used_step   bigint,
    ADD CONSTRAINT users_mfa_enabled_has_secret CHECK (NOT mfa_enabled OR mfa_secret IS NOT NULL);

-- A family is one login session: every refresh token rotated out of the same login. Presenting
-- a token that was already rotated means two parties hold the family: all of it is revoked.
CREATE TABLE refresh_token_families (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    user_id         uuid NOT NULL REFERENCES users (id),
    amr             text[] NOT NULL,  -- how the login was authenticated: {pwd} or {pwd,otp}
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,  -- absolute end of the session, however often refreshed
    revoked_at      timestamptz,
    revoked_reason  text CHECK (revoked_reason IN
                        ('logout', 'reuse', 'password_reset', 'user_inactive')),
    ip              inet,
    user_agent      text,
    CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);
CREATE INDEX refresh_token_families_user ON refresh_token_families (tenant_id, user_id)
    WHERE revoked_at IS NULL;
ALTER TABLE refresh_token_families ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_token_families FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON refresh_token_families
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

CREATE TABLE refresh_tokens (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    family_id      uuid NOT NULL REFERENCES refresh_token_families (id),
    secret_sha256  text NOT NULL CHECK (secret_sha256 ~ '^[0-9a-f]{64}$'),
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz,
    replaced_by    uuid
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON refresh_tokens
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

CREATE TABLE password_resets (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    user_id        uuid NOT NULL REFERENCES users (id),
    secret_sha256  text NOT NULL CHECK (secret_sha256 ~ '^[0-9a-f]{64}$'),
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz
);
CREATE INDEX password_resets_user ON password_resets (tenant_id, user_id, created_at DESC);
ALTER TABLE password_resets ENABLE ROW LEVEL SECURITY;
ALTER TABLE password_resets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON password_resets
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

CREATE TABLE mfa_recovery_codes (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    user_id      uuid NOT NULL REFERENCES users (id),
    code_sha256  text NOT NULL CHECK (code_sha256 ~ '^[0-9a-f]{64}$'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    used_at      timestamptz,
    PRIMARY KEY (user_id, code_sha256)
);
ALTER TABLE mfa_recovery_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE mfa_recovery_codes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON mfa_recovery_codes
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

CREATE TABLE api_keys (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    scopes         text[] NOT NULL,
    secret_sha256  text NOT NULL CHECK (secret_sha256 ~ '^[0-9a-f]{64}$'),
    hint           text NOT NULL,
    created_by     uuid NOT NULL REFERENCES users (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz,
    last_used_at   timestamptz,
    revoked_at     timestamptz,
    revoked_by     uuid REFERENCES users (id)
);
CREATE INDEX api_keys_tenant_created ON api_keys (tenant_id, created_at DESC, id DESC);
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- ------------------------------------------------------------------ grants
-- Nothing here is ever deleted by the app except replaced recovery codes: revocation and use
-- are recorded as timestamps, which the audit trail and reuse detection rely on.
GRANT SELECT, INSERT, UPDATE ON
    refresh_token_families, refresh_tokens, password_resets, api_keys
    TO crm_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON mfa_recovery_codes TO crm_app;
