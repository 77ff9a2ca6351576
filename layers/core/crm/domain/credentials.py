"""Credentials other than passwords: opaque tokens (refresh, password reset, API key), MFA
recovery codes, and the failed-login policy. Pure: no I/O.

Every opaque credential reads `<prefix>_<tenant id>_<row id>_<secret>`. The tenant id lets the
lookup run in a transaction already scoped to that tenant (row-level security), so no
cross-tenant SECURITY DEFINER door is needed; the row id makes the lookup an index hit; only a
SHA-256 digest of the whole string is stored. The secret is 256 random bits, so a fast hash is
enough: nothing can be brute-forced out of the digest. The prefix lets secret scanners (and
people) recognise a leaked credential.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from crm.domain.errors import InvalidCredentials

REFRESH_TOKEN_PREFIX = "crm_rt"  # noqa: S105 - a prefix, not a secret
PASSWORD_RESET_PREFIX = "crm_pr"  # noqa: S105 - a prefix, not a secret
API_KEY_PREFIX = "crm_live"


@dataclass(frozen=True)
class OpaqueCredential:
    prefix: str
    tenant_id: uuid.UUID
    id: uuid.UUID
    secret: str

    @classmethod
    def new(
        cls, prefix: str, tenant_id: uuid.UUID, credential_id: uuid.UUID | None = None
    ) -> OpaqueCredential:
        return cls(prefix, tenant_id, credential_id or uuid.uuid4(), secrets.token_urlsafe(32))

    @classmethod
    def parse(cls, prefix: str, text: str) -> OpaqueCredential:
        """The credential in `text`, or InvalidCredentials (same error for every malformation)."""
        head = f"{prefix}_"
        if not text.startswith(head):
            raise InvalidCredentials("malformed credential")
        parts = text[len(head) :].split("_", 2)
        if len(parts) != 3 or len(parts[2]) < 32:
            raise InvalidCredentials("malformed credential")
        try:
            return cls(prefix, uuid.UUID(hex=parts[0]), uuid.UUID(hex=parts[1]), parts[2])
        except ValueError as error:
            raise InvalidCredentials("malformed credential") from error

    def __str__(self) -> str:
        return f"{self.prefix}_{self.tenant_id.hex}_{self.id.hex}_{self.secret}"

    @property
    def digest(self) -> str:
        return hashlib.sha256(str(self).encode()).hexdigest()

    def matches(self, stored_digest: str) -> bool:
        return hmac.compare_digest(self.digest, stored_digest)


def looks_like_api_key(text: str) -> bool:
    return text.startswith(f"{API_KEY_PREFIX}_")


# ------------------------------------------------------------------ MFA recovery codes

RECOVERY_CODE_COUNT = 10
# 10 characters of a 32-letter alphabet without 0/o/1/l: 50 bits each, typed by people.
_RECOVERY_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    codes: set[str] = set()
    while len(codes) < count:
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.add(f"{raw[:5]}-{raw[5:]}")
    return sorted(codes)


def recovery_code_digest(user_id: uuid.UUID, code: str) -> str:
    """Salted with the user id, so equal codes of two users do not share a digest."""
    normalised = code.strip().lower().replace("-", "").replace(" ", "")
    return hashlib.sha256(f"{user_id}:{normalised}".encode()).hexdigest()


# ------------------------------------------------------------------ failed logins


@dataclass(frozen=True)
class FailureOutcome:
    failures: int  # consecutive failures now on record (0 right after a lock)
    throttled_until: datetime | None
    locked_until: datetime | None

    @property
    def locked(self) -> bool:
        return self.locked_until is not None


@dataclass(frozen=True)
class LockoutPolicy:
    """A few free attempts, then an exponential wait between attempts, then a lock.

    With the defaults: failures 1-4 cost nothing; after the 5th the next attempt must wait
    1 s, then 2, 4, 8, 16 s; the 10th consecutive failure locks the account for 15 minutes.
    An attacker gets ~10 guesses per 15 minutes per account; a person who mistypes does not
    notice. The wait is enforced by refusing early attempts (429 + Retry-After), not by
    sleeping in the function, which would only burn Lambda time.
    """

    free_failures: int = 4
    lock_after_failures: int = 10
    first_delay_seconds: float = 1.0
    max_delay_seconds: float = 60.0
    lock_seconds: float = 15 * 60

    def after_failure(self, failures: int, now: datetime) -> FailureOutcome:
        if failures >= self.lock_after_failures:
            return FailureOutcome(0, None, now + timedelta(seconds=self.lock_seconds))
        if failures > self.free_failures:
            delay = min(
                self.first_delay_seconds * 2 ** (failures - self.free_failures - 1),
                self.max_delay_seconds,
            )
            return FailureOutcome(failures, now + timedelta(seconds=delay), None)
        return FailureOutcome(failures, None, None)


# ------------------------------------------------------------------ stored state


@dataclass(frozen=True)
class UserCredentials:
    """A user as authentication sees them. `role` is a plain string (built-in or custom)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    role: str
    status: str
    password_hash: str
    failed_login_count: int = 0
    throttled_until: datetime | None = None
    locked_until: datetime | None = None
    tokens_valid_after: datetime | None = None
    mfa_enabled: bool = False
    mfa_secret: str | None = None  # encrypted (SecretCipher), never plain text at rest
    mfa_pending_secret: str | None = None  # encrypted; set by enrol, moved by confirm
    mfa_last_used_step: int | None = None  # TOTP replay guard

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class SessionState:
    """What the authorizer checks on every (uncached) request."""

    status: str
    role: str
    tokens_valid_after: datetime | None
    mfa_enabled: bool
    tenant_requires_mfa: bool
    # the token's session (refresh-token family) was revoked, is unknown or not this user's
    session_ended: bool = False


@dataclass(frozen=True)
class RefreshTokenRecord:
    id: uuid.UUID
    family_id: uuid.UUID
    user_id: uuid.UUID
    digest: str
    expires_at: datetime
    used_at: datetime | None
    family_expires_at: datetime
    family_revoked_at: datetime | None
    amr: tuple[str, ...]


@dataclass(frozen=True)
class PasswordResetRecord:
    id: uuid.UUID
    user_id: uuid.UUID
    digest: str
    expires_at: datetime
    used_at: datetime | None
