"""In-memory fakes of the authentication ports (credentials, refresh tokens, password resets,
recovery codes, API keys, the login directory, mail, the field cipher), scoped per tenant like
row-level security scopes the real ones. Services run on these in unit tests and on Postgres in
integration tests."""

from __future__ import annotations

import copy
import dataclasses
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

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

from tests.unit.fakes import FakeStore, FakeUnitOfWork


@dataclass
class AuthStore:
    users: dict[uuid.UUID, UserCredentials] = field(default_factory=dict)
    slugs: dict[uuid.UUID, str] = field(default_factory=dict)
    require_mfa: dict[uuid.UUID, bool] = field(default_factory=dict)
    families: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    resets: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    recovery: dict[tuple[uuid.UUID, str], datetime | None] = field(default_factory=dict)
    api_keys: dict[uuid.UUID, ApiKey] = field(default_factory=dict)


class _Credentials:
    def __init__(self, store: AuthStore, tenant_id: uuid.UUID) -> None:
        self._s, self._t = store, tenant_id

    def _mine(self, user_id: uuid.UUID) -> UserCredentials | None:
        user = self._s.users.get(user_id)
        return user if user and user.tenant_id == self._t else None

    def _update(self, user_id: uuid.UUID, **changes: Any) -> None:
        user = self._mine(user_id)
        if user is not None:
            self._s.users[user_id] = dataclasses.replace(user, **changes)

    def by_email(self, email: str) -> UserCredentials | None:
        return next(
            (
                u
                for u in self._s.users.values()
                if u.tenant_id == self._t and u.email == email.lower()
            ),
            None,
        )

    def by_id(self, user_id: uuid.UUID) -> UserCredentials | None:
        return self._mine(user_id)

    def session_state(
        self, user_id: uuid.UUID, session_id: uuid.UUID | None = None
    ) -> SessionState | None:
        user = self._mine(user_id)
        if user is None:
            return None
        family = self._s.families.get(session_id) if session_id else None
        ended = session_id is not None and (
            family is None or family["user_id"] != user_id or family["revoked_at"] is not None
        )
        return SessionState(
            user.status, user.role, user.tokens_valid_after, user.mfa_enabled,
            self.tenant_requires_mfa(), ended,
        )  # fmt: skip

    def tenant_requires_mfa(self) -> bool:
        return self._s.require_mfa.get(self._t, False)

    def count_failure(self, user_id: uuid.UUID) -> int:
        user = self._mine(user_id)
        assert user is not None
        self._update(user_id, failed_login_count=user.failed_login_count + 1)
        return user.failed_login_count + 1

    def set_lockout(self, user_id: uuid.UUID, outcome: FailureOutcome) -> None:
        self._update(
            user_id,
            failed_login_count=outcome.failures,
            throttled_until=outcome.throttled_until,
            locked_until=outcome.locked_until,
        )

    def clear_failures(self, user_id: uuid.UUID) -> None:
        self._update(user_id, failed_login_count=0, throttled_until=None, locked_until=None)

    def set_password(self, user_id: uuid.UUID, password_hash: str, changed_at: datetime) -> None:
        self._update(
            user_id,
            password_hash=password_hash,
            tokens_valid_after=changed_at.replace(microsecond=0),
            failed_login_count=0,
            throttled_until=None,
            locked_until=None,
        )

    def set_pending_mfa_secret(self, user_id: uuid.UUID, encrypted: str) -> None:
        self._update(user_id, mfa_pending_secret=encrypted)

    def enable_mfa(self, user_id: uuid.UUID, encrypted: str, used_step: int) -> None:
        self._update(
            user_id, mfa_enabled=True, mfa_secret=encrypted, mfa_pending_secret=None,
            mfa_last_used_step=used_step,
        )  # fmt: skip

    def disable_mfa(self, user_id: uuid.UUID) -> None:
        self._update(
            user_id, mfa_enabled=False, mfa_secret=None, mfa_pending_secret=None,
            mfa_last_used_step=None,
        )  # fmt: skip

    def use_totp_step(self, user_id: uuid.UUID, step: int) -> bool:
        user = self._mine(user_id)
        if user is None or (
            user.mfa_last_used_step is not None and user.mfa_last_used_step >= step
        ):
            return False
        self._update(user_id, mfa_last_used_step=step)
        return True


class _RefreshTokens:
    def __init__(self, store: AuthStore, tenant_id: uuid.UUID) -> None:
        self._s, self._t = store, tenant_id

    def start_family(self, family_id, user_id, amr, expires_at, meta: RequestMeta) -> None:  # type: ignore[no-untyped-def]
        self._s.families[family_id] = {
            "tenant_id": self._t, "user_id": user_id, "amr": tuple(amr),
            "expires_at": expires_at, "revoked_at": None, "revoked_reason": None,
        }  # fmt: skip

    def add(self, token_id, family_id, digest, expires_at) -> None:  # type: ignore[no-untyped-def]
        self._s.tokens[token_id] = {
            "tenant_id": self._t, "family_id": family_id, "digest": digest,
            "expires_at": expires_at, "used_at": None, "replaced_by": None,
        }  # fmt: skip

    def get_for_update(self, token_id: uuid.UUID) -> RefreshTokenRecord | None:
        token = self._s.tokens.get(token_id)
        if token is None or token["tenant_id"] != self._t:
            return None
        family = self._s.families[token["family_id"]]
        return RefreshTokenRecord(
            id=token_id, family_id=token["family_id"], user_id=family["user_id"],
            digest=token["digest"], expires_at=token["expires_at"], used_at=token["used_at"],
            family_expires_at=family["expires_at"], family_revoked_at=family["revoked_at"],
            amr=family["amr"],
        )  # fmt: skip

    def mark_used(self, token_id: uuid.UUID, replaced_by: uuid.UUID, at: datetime) -> None:
        self._s.tokens[token_id].update(used_at=at, replaced_by=replaced_by)

    def revoke_family(self, family_id: uuid.UUID, reason: str, at: datetime) -> None:
        family = self._s.families[family_id]
        if family["tenant_id"] == self._t and family["revoked_at"] is None:
            family.update(revoked_at=at, revoked_reason=reason)

    def revoke_all_for_user(self, user_id: uuid.UUID, reason: str, at: datetime) -> int:
        open_families = [
            fid for fid, f in self._s.families.items()
            if f["tenant_id"] == self._t and f["user_id"] == user_id and f["revoked_at"] is None
        ]  # fmt: skip
        for family_id in open_families:
            self.revoke_family(family_id, reason, at)
        return len(open_families)


class _PasswordResets:
    def __init__(self, store: AuthStore, tenant_id: uuid.UUID) -> None:
        self._s, self._t = store, tenant_id

    def add(self, reset_id, user_id, digest, expires_at) -> None:  # type: ignore[no-untyped-def]
        self._s.resets[reset_id] = {
            "tenant_id": self._t, "user_id": user_id, "digest": digest,
            "expires_at": expires_at, "used_at": None, "created_at": datetime.now(UTC),
        }  # fmt: skip

    def count_since(self, user_id: uuid.UUID, since: datetime) -> int:
        return sum(
            1 for r in self._s.resets.values()
            if r["tenant_id"] == self._t and r["user_id"] == user_id and r["created_at"] >= since
        )  # fmt: skip

    def get_for_update(self, reset_id: uuid.UUID) -> PasswordResetRecord | None:
        r = self._s.resets.get(reset_id)
        if r is None or r["tenant_id"] != self._t:
            return None
        return PasswordResetRecord(
            reset_id, r["user_id"], r["digest"], r["expires_at"], r["used_at"]
        )

    def use_all_for_user(self, user_id: uuid.UUID, at: datetime) -> None:
        for r in self._s.resets.values():
            if r["tenant_id"] == self._t and r["user_id"] == user_id and r["used_at"] is None:
                r["used_at"] = at


class _RecoveryCodes:
    def __init__(self, store: AuthStore) -> None:
        self._s = store

    def replace(self, user_id: uuid.UUID, digests: Sequence[str]) -> None:
        self.delete_all(user_id)
        for digest in digests:
            self._s.recovery[(user_id, digest)] = None

    def use(self, user_id: uuid.UUID, digest: str, at: datetime) -> bool:
        if (user_id, digest) not in self._s.recovery or self._s.recovery[(user_id, digest)]:
            return False
        self._s.recovery[(user_id, digest)] = at
        return True

    def delete_all(self, user_id: uuid.UUID) -> None:
        for key in [k for k in self._s.recovery if k[0] == user_id]:
            del self._s.recovery[key]


class _ApiKeys:
    def __init__(self, store: AuthStore, tenant_id: uuid.UUID) -> None:
        self._s, self._t = store, tenant_id

    def add(self, key: ApiKey) -> None:
        self._s.api_keys[key.id] = key

    def page(self, limit: int, after: Keyset | None) -> list[ApiKey]:
        keys = sorted(
            (k for k in self._s.api_keys.values() if k.tenant_id == self._t),
            key=lambda k: (k.created_at, k.id),
            reverse=True,
        )
        if after is not None:
            keys = [k for k in keys if (k.created_at, k.id) < (after.value, after.id)]
        return keys[:limit]

    def get(self, key_id: uuid.UUID) -> ApiKey | None:
        key = self._s.api_keys.get(key_id)
        return key if key and key.tenant_id == self._t else None

    def holder(self, key_id: uuid.UUID) -> ApiKeyHolder | None:
        key = self.get(key_id)
        if key is None:
            return None
        creator = self._s.users[key.created_by]
        return ApiKeyHolder(key, creator.role, creator.status)

    def revoke(self, key_id: uuid.UUID, by: uuid.UUID, at: datetime) -> None:
        key = self.get(key_id)
        if key is not None and key.revoked_at is None:
            self._s.api_keys[key_id] = dataclasses.replace(key, revoked_at=at)

    def touch(self, key_id: uuid.UUID, at: datetime) -> None:
        key = self.get(key_id)
        if key is not None and (
            key.last_used_at is None or key.last_used_at < at - timedelta(minutes=1)
        ):
            self._s.api_keys[key_id] = dataclasses.replace(key, last_used_at=at)


class _NoTenantProfile:
    """No stored settings: the services use the defaults (English mail)."""

    def get(self, *, for_update: bool = False) -> None:
        return None


class FakeAuthUnitOfWork(FakeUnitOfWork):
    """FakeUnitOfWork plus the authentication repositories, staged and committed alike."""

    def __init__(self, store: FakeStore, auth: AuthStore, tenant_id: uuid.UUID) -> None:
        super().__init__(store, tenant_id)
        self._auth = auth

    def __enter__(self) -> FakeAuthUnitOfWork:
        super().__enter__()
        self._auth_staged = copy.deepcopy(self._auth)
        self.credentials = _Credentials(self._auth_staged, self.tenant_id)
        self.refresh_tokens = _RefreshTokens(self._auth_staged, self.tenant_id)
        self.password_resets = _PasswordResets(self._auth_staged, self.tenant_id)
        self.recovery_codes = _RecoveryCodes(self._auth_staged)
        self.api_keys = _ApiKeys(self._auth_staged, self.tenant_id)
        self.tenant_profile = _NoTenantProfile()
        return self

    def commit(self) -> None:
        super().commit()
        self._auth.__dict__.update(self._auth_staged.__dict__)


class FakeLoginDirectory:
    def __init__(self, auth: AuthStore) -> None:
        self._auth = auth

    def tenants_for(self, email: str) -> list[tuple[uuid.UUID, str, uuid.UUID]]:
        return sorted(
            (
                (u.tenant_id, self._auth.slugs[u.tenant_id], u.id)
                for u in self._auth.users.values()
                if u.email == email.lower()
            ),
            key=lambda row: row[1],
        )


@dataclass
class AuthWorld:
    """A store, the unit-of-work factory and login directory over it, and helpers."""

    store: FakeStore = field(default_factory=FakeStore)
    auth: AuthStore = field(default_factory=AuthStore)

    def unit_of_work(self, tenant_id: uuid.UUID) -> FakeAuthUnitOfWork:
        return FakeAuthUnitOfWork(self.store, self.auth, tenant_id)

    @contextmanager
    def login_directory(self) -> Iterator[FakeLoginDirectory]:
        yield FakeLoginDirectory(self.auth)

    def add_user(
        self, email: str, password_hash: str, *, role: str = "owner", slug: str | None = None,
        tenant_id: uuid.UUID | None = None, **state: Any,
    ) -> UserCredentials:  # fmt: skip
        tenant_id = tenant_id or uuid.uuid4()
        self.auth.slugs.setdefault(tenant_id, slug or f"t-{tenant_id.hex[:8]}")
        user = UserCredentials(
            id=uuid.uuid4(), tenant_id=tenant_id, email=email.lower(), role=role,
            status=state.pop("status", "active"), password_hash=password_hash, **state,
        )  # fmt: skip
        self.auth.users[user.id] = user
        return user

    def user(self, user_id: uuid.UUID) -> UserCredentials:
        return self.auth.users[user_id]

    def actions(self) -> list[str]:
        return [entry.action for entry in self.store.audit]


class FakeHasher:
    """Stands in for argon2: 'hash:<password>'; counts calls (timing parity checks)."""

    def __init__(self) -> None:
        self.hashed = 0

    def hash(self, password: str) -> str:
        self.hashed += 1
        return f"hash:{password}"

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == f"hash:{password}"


class FakeCipher:
    """Reversible, context-bound, obviously not encryption: enough to test the flows."""

    def encrypt(self, plaintext: str, *, context: str) -> str:
        return f"enc[{context}]:{plaintext}"

    def decrypt(self, ciphertext: str, *, context: str) -> str:
        prefix = f"enc[{context}]:"
        if not ciphertext.startswith(prefix):
            raise ValueError("wrong context")
        return ciphertext[len(prefix) :]


@dataclass
class FakeMailer:
    sent: list[dict[str, str]] = field(default_factory=list)
    fail: bool = False

    def send(self, to: str, subject: str, text: str, html: str | None = None) -> str:
        if self.fail:
            raise ConnectionError("mail provider down")
        self.sent.append({"to": to, "subject": subject, "text": text})
        return f"msg-{len(self.sent)}"

    def __call__(self, uow: object, *, to: Any, subject: str, text: str | None, **_: Any) -> None:
        """As crm.services.emails.enqueue_email: queued in the caller's transaction."""
        self.send(to.address, subject, text or "")


class Clock:
    """A settable clock for services that take `clock`."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
