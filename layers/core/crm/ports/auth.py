"""Ports of credentials, sessions (refresh tokens), password resets, MFA recovery codes, API keys,
the login directory, hashing, secret encryption and token signing keys."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

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
from crm.ports.audit import AuditLog
from crm.ports.transaction import TransactionScope


class CredentialRepository(Protocol):
    """Authentication state of the tenant's users (password, lockout, MFA)."""

    def by_email(self, email: str) -> UserCredentials | None: ...
    def by_id(self, user_id: uuid.UUID) -> UserCredentials | None: ...
    def session_state(
        self, user_id: uuid.UUID, session_id: uuid.UUID | None = None
    ) -> SessionState | None:
        """The user's state for the authorizer; with `session_id`, whether that session (the
        access token's refresh-token family) has ended."""
        ...

    def tenant_requires_mfa(self) -> bool: ...
    def count_failure(self, user_id: uuid.UUID) -> int:
        """Add one consecutive failure (atomically, row-locked); the new count."""
        ...

    def set_lockout(self, user_id: uuid.UUID, outcome: FailureOutcome) -> None: ...
    def clear_failures(self, user_id: uuid.UUID) -> None: ...
    def set_password(self, user_id: uuid.UUID, password_hash: str, changed_at: datetime) -> None:
        """New hash; access tokens issued before `changed_at` stop working; lockout cleared."""
        ...

    def set_pending_mfa_secret(self, user_id: uuid.UUID, encrypted: str) -> None: ...
    def enable_mfa(self, user_id: uuid.UUID, encrypted: str, used_step: int) -> None: ...
    def disable_mfa(self, user_id: uuid.UUID) -> None: ...
    def use_totp_step(self, user_id: uuid.UUID, step: int) -> bool:
        """Record `step` as used; False when it (or a later one) was used already."""
        ...


class RefreshTokenRepository(Protocol):
    def start_family(
        self,
        family_id: uuid.UUID,
        user_id: uuid.UUID,
        amr: tuple[str, ...],
        expires_at: datetime,
        meta: RequestMeta,
    ) -> None: ...
    def add(
        self, token_id: uuid.UUID, family_id: uuid.UUID, digest: str, expires_at: datetime
    ) -> None: ...
    def get_for_update(self, token_id: uuid.UUID) -> RefreshTokenRecord | None:
        """The token and its family, both row-locked until the transaction ends."""
        ...

    def mark_used(self, token_id: uuid.UUID, replaced_by: uuid.UUID, at: datetime) -> None: ...
    def revoke_family(self, family_id: uuid.UUID, reason: str, at: datetime) -> None: ...
    def revoke_all_for_user(self, user_id: uuid.UUID, reason: str, at: datetime) -> int: ...


class PasswordResetRepository(Protocol):
    def add(
        self, reset_id: uuid.UUID, user_id: uuid.UUID, digest: str, expires_at: datetime
    ) -> None: ...
    def count_since(self, user_id: uuid.UUID, since: datetime) -> int: ...
    def get_for_update(self, reset_id: uuid.UUID) -> PasswordResetRecord | None: ...
    def use_all_for_user(self, user_id: uuid.UUID, at: datetime) -> None: ...


class RecoveryCodeRepository(Protocol):
    def replace(self, user_id: uuid.UUID, digests: Sequence[str]) -> None: ...
    def use(self, user_id: uuid.UUID, digest: str, at: datetime) -> bool:
        """Mark an unused code used; False when there is no such unused code."""
        ...

    def delete_all(self, user_id: uuid.UUID) -> None: ...


class ApiKeyRepository(Protocol):
    def add(self, key: ApiKey) -> None: ...
    def page(self, limit: int, after: Keyset | None) -> list[ApiKey]:
        """Newest first, after the (created_at, id) keyset of the previous page's last key."""
        ...

    def get(self, key_id: uuid.UUID) -> ApiKey | None: ...
    def holder(self, key_id: uuid.UUID) -> ApiKeyHolder | None: ...
    def revoke(self, key_id: uuid.UUID, by: uuid.UUID, at: datetime) -> None: ...
    def touch(self, key_id: uuid.UUID, at: datetime) -> None:
        """Note a use (at most about once a minute per key: it costs a write)."""
        ...


class SecretCipher(Protocol):
    """Authenticated encryption of secrets the code must read back (TOTP seeds). `context`
    binds a ciphertext to its owner: one user's ciphertext does not decrypt as another's."""

    def encrypt(self, plaintext: str, *, context: str) -> str: ...
    def decrypt(self, ciphertext: str, *, context: str) -> str: ...


class LoginDirectory(Protocol):
    def tenants_for(self, email: str) -> list[tuple[uuid.UUID, str, uuid.UUID]]: ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...
    def verify(self, password_hash: str, password: str) -> bool: ...


class ApiKeysUnitOfWork(TransactionScope, Protocol):
    """API keys and the audit log (crm.services.api_keys)."""

    @property
    def api_keys(self) -> ApiKeyRepository: ...
    @property
    def audit(self) -> AuditLog: ...


class SigningKeys(Protocol):
    """The token signing key set: the active key's id, and private and public Ed25519 keys by
    key id (crm.adapters.secrets.jwt_keys.SigningKeySet)."""

    @property
    def active_kid(self) -> str: ...
    @property
    def private_keys(self) -> Mapping[str, Ed25519PrivateKey]: ...
    @property
    def public_keys(self) -> Mapping[str, Ed25519PublicKey]: ...


class KeySource(Protocol):
    """Where the signing keys come from (a secret, cached); `wanted_kid` asks for a refresh
    when a token names a key the cached set lacks."""

    def keys(self, wanted_kid: str | None = None) -> SigningKeys: ...
