"""Repositories of authentication state: users' credentials, refresh-token families, password
resets, MFA recovery codes, API keys. Parameterised SQL, inside the unit of work's transaction
(scoped to one tenant by row-level security); they never commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pg8000.native

from crm.domain.api_keys import ApiKey, ApiKeyHolder
from crm.domain.audit import RequestMeta
from crm.domain.credentials import (
    FailureOutcome,
    PasswordResetRecord,
    RefreshTokenRecord,
    SessionState,
    UserCredentials,
)
from crm.domain.pagination import Keyset

_CREDENTIAL_COLUMNS = (
    "id, tenant_id, email, role, status, password_hash, failed_login_count, throttled_until,"
    " locked_until, tokens_valid_after, mfa_enabled, mfa_secret, mfa_pending_secret,"
    " mfa_last_used_step"
)


def _credentials(row: list[Any]) -> UserCredentials:
    (id_, tenant_id, email, role, status, password_hash, failures, throttled_until, locked_until,
     tokens_valid_after, mfa_enabled, mfa_secret, mfa_pending, last_step) = row  # fmt: skip
    return UserCredentials(
        id=id_,
        tenant_id=tenant_id,
        email=email,
        role=role,
        status=status,
        password_hash=password_hash,
        failed_login_count=failures,
        throttled_until=throttled_until,
        locked_until=locked_until,
        tokens_valid_after=tokens_valid_after,
        mfa_enabled=mfa_enabled,
        mfa_secret=mfa_secret,
        mfa_pending_secret=mfa_pending,
        mfa_last_used_step=last_step,
    )


class PostgresCredentialRepository:
    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def by_email(self, email: str) -> UserCredentials | None:
        rows = self._conn.run(
            f"SELECT {_CREDENTIAL_COLUMNS} FROM users WHERE email = :email", email=email.lower()
        )
        return _credentials(rows[0]) if rows else None

    def by_id(self, user_id: uuid.UUID) -> UserCredentials | None:
        rows = self._conn.run(f"SELECT {_CREDENTIAL_COLUMNS} FROM users WHERE id = :id", id=user_id)
        return _credentials(rows[0]) if rows else None

    def session_state(
        self, user_id: uuid.UUID, session_id: uuid.UUID | None = None
    ) -> SessionState | None:
        rows = self._conn.run(
            "SELECT u.status, u.role, u.tokens_valid_after, u.mfa_enabled,"
            " coalesce(t.settings -> 'require_mfa' = 'true'::jsonb, false),"
            " CAST(:sid AS uuid) IS NOT NULL AND NOT EXISTS (SELECT 1 FROM refresh_token_families f"
            "   WHERE f.id = CAST(:sid AS uuid) AND f.user_id = u.id AND f.revoked_at IS NULL)"
            " FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE u.id = :id",
            id=user_id,
            sid=session_id,
        )
        if not rows:
            return None
        status, role, valid_after, mfa_enabled, requires_mfa, session_ended = rows[0]
        return SessionState(status, role, valid_after, mfa_enabled, requires_mfa, session_ended)

    def tenant_requires_mfa(self) -> bool:
        # tenants.settings is the tenancy issue's document; `require_mfa` is its switch.
        rows = self._conn.run(
            "SELECT coalesce(settings -> 'require_mfa' = 'true'::jsonb, false) FROM tenants"
        )
        return bool(rows and rows[0][0])

    def count_failure(self, user_id: uuid.UUID) -> int:
        rows = self._conn.run(
            "UPDATE users SET failed_login_count = failed_login_count + 1 WHERE id = :id"
            " RETURNING failed_login_count",
            id=user_id,
        )
        return int(rows[0][0]) if rows else 0

    def set_lockout(self, user_id: uuid.UUID, outcome: FailureOutcome) -> None:
        self._conn.run(
            "UPDATE users SET failed_login_count = :failures, throttled_until = :throttled,"
            " locked_until = :locked WHERE id = :id",
            failures=outcome.failures,
            throttled=outcome.throttled_until,
            locked=outcome.locked_until,
            id=user_id,
        )

    def clear_failures(self, user_id: uuid.UUID) -> None:
        self._conn.run(
            "UPDATE users SET failed_login_count = 0, throttled_until = NULL, locked_until = NULL"
            " WHERE id = :id AND (failed_login_count > 0 OR throttled_until IS NOT NULL"
            " OR locked_until IS NOT NULL)",
            id=user_id,
        )

    def set_password(self, user_id: uuid.UUID, password_hash: str, changed_at: datetime) -> None:
        # Truncated to the second: tokens carry iat in whole seconds, and a token issued in
        # the same second as the change must not be refused for a fraction.
        self._conn.run(
            "UPDATE users SET password_hash = :hash, password_changed_at = :at,"
            " tokens_valid_after = date_trunc('second', CAST(:at AS timestamptz)),"
            " failed_login_count = 0, throttled_until = NULL, locked_until = NULL"
            " WHERE id = :id",
            hash=password_hash,
            at=changed_at,
            id=user_id,
        )

    def set_pending_mfa_secret(self, user_id: uuid.UUID, encrypted: str) -> None:
        self._conn.run(
            "UPDATE users SET mfa_pending_secret = :secret WHERE id = :id",
            secret=encrypted,
            id=user_id,
        )

    def enable_mfa(self, user_id: uuid.UUID, encrypted: str, used_step: int) -> None:
        self._conn.run(
            "UPDATE users SET mfa_enabled = true, mfa_secret = :secret,"
            " mfa_pending_secret = NULL, mfa_last_used_step = :step WHERE id = :id",
            secret=encrypted,
            step=used_step,
            id=user_id,
        )

    def disable_mfa(self, user_id: uuid.UUID) -> None:
        self._conn.run(
            "UPDATE users SET mfa_enabled = false, mfa_secret = NULL, mfa_pending_secret = NULL,"
            " mfa_last_used_step = NULL WHERE id = :id",
            id=user_id,
        )

    def use_totp_step(self, user_id: uuid.UUID, step: int) -> bool:
        rows = self._conn.run(
            "UPDATE users SET mfa_last_used_step = :step WHERE id = :id"
            " AND (mfa_last_used_step IS NULL OR mfa_last_used_step < :step) RETURNING 1",
            step=step,
            id=user_id,
        )
        return bool(rows)


class PostgresRefreshTokenRepository:
    def __init__(self, conn: pg8000.native.Connection, tenant_id: uuid.UUID) -> None:
        self._conn = conn
        self._tenant_id = tenant_id

    def start_family(
        self,
        family_id: uuid.UUID,
        user_id: uuid.UUID,
        amr: tuple[str, ...],
        expires_at: datetime,
        meta: RequestMeta,
    ) -> None:
        self._conn.run(
            "INSERT INTO refresh_token_families (id, tenant_id, user_id, amr, expires_at, ip,"
            " user_agent) VALUES (:id, :tenant_id, :user_id, CAST(:amr AS text[]), :expires_at,"
            " CAST(:ip AS inet), :user_agent)",
            id=family_id,
            tenant_id=self._tenant_id,
            user_id=user_id,
            amr=list(amr),
            expires_at=expires_at,
            ip=meta.ip,
            user_agent=meta.user_agent,
        )

    def add(
        self, token_id: uuid.UUID, family_id: uuid.UUID, digest: str, expires_at: datetime
    ) -> None:
        self._conn.run(
            "INSERT INTO refresh_tokens (id, tenant_id, family_id, secret_sha256, expires_at)"
            " VALUES (:id, :tenant_id, :family_id, :digest, :expires_at)",
            id=token_id,
            tenant_id=self._tenant_id,
            family_id=family_id,
            digest=digest,
            expires_at=expires_at,
        )

    def get_for_update(self, token_id: uuid.UUID) -> RefreshTokenRecord | None:
        # Locking the family serialises every refresh of one session: of two concurrent
        # presentations of the same token, exactly one rotates it and the other sees it used.
        rows = self._conn.run(
            "SELECT t.id, t.family_id, f.user_id, t.secret_sha256, t.expires_at, t.used_at,"
            " f.expires_at, f.revoked_at, f.amr"
            " FROM refresh_tokens t JOIN refresh_token_families f ON f.id = t.family_id"
            " WHERE t.id = :id FOR UPDATE OF t, f",
            id=token_id,
        )
        if not rows:
            return None
        (id_, family_id, user_id, digest, expires_at, used_at, family_expires_at, revoked_at,
         amr) = rows[0]  # fmt: skip
        return RefreshTokenRecord(
            id=id_,
            family_id=family_id,
            user_id=user_id,
            digest=digest,
            expires_at=expires_at,
            used_at=used_at,
            family_expires_at=family_expires_at,
            family_revoked_at=revoked_at,
            amr=tuple(amr),
        )

    def mark_used(self, token_id: uuid.UUID, replaced_by: uuid.UUID, at: datetime) -> None:
        self._conn.run(
            "UPDATE refresh_tokens SET used_at = :at, replaced_by = :replaced_by WHERE id = :id",
            at=at,
            replaced_by=replaced_by,
            id=token_id,
        )

    def revoke_family(self, family_id: uuid.UUID, reason: str, at: datetime) -> None:
        self._conn.run(
            "UPDATE refresh_token_families SET revoked_at = :at, revoked_reason = :reason"
            " WHERE id = :id AND revoked_at IS NULL",
            at=at,
            reason=reason,
            id=family_id,
        )

    def revoke_all_for_user(self, user_id: uuid.UUID, reason: str, at: datetime) -> int:
        rows = self._conn.run(
            "UPDATE refresh_token_families SET revoked_at = :at, revoked_reason = :reason"
            " WHERE user_id = :user_id AND revoked_at IS NULL RETURNING id",
            at=at,
            reason=reason,
            user_id=user_id,
        )
        return len(rows)


class PostgresPasswordResetRepository:
    def __init__(self, conn: pg8000.native.Connection, tenant_id: uuid.UUID) -> None:
        self._conn = conn
        self._tenant_id = tenant_id

    def add(
        self, reset_id: uuid.UUID, user_id: uuid.UUID, digest: str, expires_at: datetime
    ) -> None:
        self._conn.run(
            "INSERT INTO password_resets (id, tenant_id, user_id, secret_sha256, expires_at)"
            " VALUES (:id, :tenant_id, :user_id, :digest, :expires_at)",
            id=reset_id,
            tenant_id=self._tenant_id,
            user_id=user_id,
            digest=digest,
            expires_at=expires_at,
        )

    def count_since(self, user_id: uuid.UUID, since: datetime) -> int:
        rows = self._conn.run(
            "SELECT count(*) FROM password_resets WHERE user_id = :user_id AND created_at >= :since",
            user_id=user_id,
            since=since,
        )
        return int(rows[0][0])

    def get_for_update(self, reset_id: uuid.UUID) -> PasswordResetRecord | None:
        rows = self._conn.run(
            "SELECT id, user_id, secret_sha256, expires_at, used_at FROM password_resets"
            " WHERE id = :id FOR UPDATE",
            id=reset_id,
        )
        return PasswordResetRecord(*rows[0]) if rows else None

    def use_all_for_user(self, user_id: uuid.UUID, at: datetime) -> None:
        self._conn.run(
            "UPDATE password_resets SET used_at = :at WHERE user_id = :user_id AND used_at IS NULL",
            at=at,
            user_id=user_id,
        )


class PostgresRecoveryCodeRepository:
    def __init__(self, conn: pg8000.native.Connection, tenant_id: uuid.UUID) -> None:
        self._conn = conn
        self._tenant_id = tenant_id

    def replace(self, user_id: uuid.UUID, digests: Sequence[str]) -> None:
        self.delete_all(user_id)
        self._conn.run(
            "INSERT INTO mfa_recovery_codes (tenant_id, user_id, code_sha256)"
            " SELECT :tenant_id, :user_id, unnest(CAST(:digests AS text[]))",
            tenant_id=self._tenant_id,
            user_id=user_id,
            digests=list(digests),
        )

    def use(self, user_id: uuid.UUID, digest: str, at: datetime) -> bool:
        rows = self._conn.run(
            "UPDATE mfa_recovery_codes SET used_at = :at WHERE user_id = :user_id"
            " AND code_sha256 = :digest AND used_at IS NULL RETURNING 1",
            at=at,
            user_id=user_id,
            digest=digest,
        )
        return bool(rows)

    def delete_all(self, user_id: uuid.UUID) -> None:
        self._conn.run("DELETE FROM mfa_recovery_codes WHERE user_id = :user_id", user_id=user_id)


_API_KEY_COLUMNS = (
    "k.id, k.tenant_id, k.name, k.scopes, k.secret_sha256, k.hint, k.created_by, k.created_at,"
    " k.expires_at, k.last_used_at, k.revoked_at"
)


def _api_key(row: Sequence[Any]) -> ApiKey:
    (id_, tenant_id, name, scopes, digest, hint, created_by, created_at, expires_at, last_used_at,
     revoked_at) = row  # fmt: skip
    return ApiKey(
        id=id_,
        tenant_id=tenant_id,
        name=name,
        scopes=frozenset(scopes),
        digest=digest,
        hint=hint,
        created_by=created_by,
        created_at=created_at,
        expires_at=expires_at,
        last_used_at=last_used_at,
        revoked_at=revoked_at,
    )


class PostgresApiKeyRepository:
    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def add(self, key: ApiKey) -> None:
        self._conn.run(
            "INSERT INTO api_keys (id, tenant_id, name, scopes, secret_sha256, hint, created_by,"
            " created_at, expires_at) VALUES (:id, :tenant_id, :name, CAST(:scopes AS text[]),"
            " :digest, :hint, :created_by, :created_at, :expires_at)",
            id=key.id,
            tenant_id=key.tenant_id,
            name=key.name,
            scopes=sorted(key.scopes),
            digest=key.digest,
            hint=key.hint,
            created_by=key.created_by,
            created_at=key.created_at,
            expires_at=key.expires_at,
        )

    def page(self, limit: int, after: Keyset | None) -> list[ApiKey]:
        if after is None:
            rows = self._conn.run(
                f"SELECT {_API_KEY_COLUMNS} FROM api_keys k"
                " ORDER BY k.created_at DESC, k.id DESC LIMIT :limit",
                limit=limit,
            )
        else:
            rows = self._conn.run(
                f"SELECT {_API_KEY_COLUMNS} FROM api_keys k"
                " WHERE (k.created_at, k.id) < (:created_at, :id)"
                " ORDER BY k.created_at DESC, k.id DESC LIMIT :limit",
                created_at=after.value,
                id=after.id,
                limit=limit,
            )
        return [_api_key(row) for row in rows]

    def get(self, key_id: uuid.UUID) -> ApiKey | None:
        rows = self._conn.run(
            f"SELECT {_API_KEY_COLUMNS} FROM api_keys k WHERE k.id = :id", id=key_id
        )
        return _api_key(rows[0]) if rows else None

    def holder(self, key_id: uuid.UUID) -> ApiKeyHolder | None:
        rows = self._conn.run(
            f"SELECT {_API_KEY_COLUMNS}, u.role, u.status"
            " FROM api_keys k JOIN users u ON u.id = k.created_by WHERE k.id = :id",
            id=key_id,
        )
        if not rows:
            return None
        return ApiKeyHolder(_api_key(rows[0][:-2]), rows[0][-2], rows[0][-1])

    def revoke(self, key_id: uuid.UUID, by: uuid.UUID, at: datetime) -> None:
        self._conn.run(
            "UPDATE api_keys SET revoked_at = :at, revoked_by = :by"
            " WHERE id = :id AND revoked_at IS NULL",
            at=at,
            by=by,
            id=key_id,
        )

    def touch(self, key_id: uuid.UUID, at: datetime) -> None:
        self._conn.run(
            "UPDATE api_keys SET last_used_at = :at WHERE id = :id"
            " AND (last_used_at IS NULL OR last_used_at < CAST(:at AS timestamptz) - interval '1 minute')",
            at=at,
            id=key_id,
        )
