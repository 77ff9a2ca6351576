"""Login, refresh and logout: access tokens (JWT, 15 min) and rotating refresh tokens.

A login starts a refresh-token *family* (one session). Each refresh rotates the token: the old
one is marked used and a new one issued in the same family. Presenting a used token means two
parties hold the session (one of them stole it): the whole family is revoked and the event
audited, so both must log in again. Logout revokes the family. Access tokens name their
family (`sid`): the API gate refuses them once it is revoked, so logout and reuse detection
end the session's access tokens at once too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from crm.domain.audit import RequestMeta
from crm.domain.credentials import (
    REFRESH_TOKEN_PREFIX,
    LockoutPolicy,
    OpaqueCredential,
    UserCredentials,
)
from crm.domain.errors import InvalidCredentials, MfaRequired, ValidationFailed
from crm.ports import (
    LoginDirectory,
    PasswordHasher,
    SecretCipher,
    UnitOfWork,
    UnitOfWorkFactory,
)
from crm.services.login_guard import (
    consume_second_factor,
    record_failure,
    refuse_while_locked,
    security_event,
)
from crm.services.tokens import PASSWORD_AND_OTP, PASSWORD_ONLY, TokenService

REFRESH_TOKEN_TTL = timedelta(days=14)  # idle limit: a session unused this long ends
SESSION_MAX_AGE = timedelta(days=30)  # absolute limit, however often it is refreshed
WRONG_CREDENTIALS = "email or password is wrong"


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Authenticator:
    unit_of_work: UnitOfWorkFactory
    login_directory: Callable[[], AbstractContextManager[LoginDirectory]]
    hasher: PasswordHasher
    tokens: TokenService
    cipher: SecretCipher
    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)
    clock: Callable[[], datetime] = _utcnow

    # -------------------------------------------------------------- login

    def log_in(
        self,
        email: str,
        password: str,
        tenant_slug: str | None = None,
        *,
        totp_code: str | None = None,
        recovery_code: str | None = None,
        meta: RequestMeta | None = None,
    ) -> dict[str, Any]:
        """Tokens for a correct email + password (+ second factor when the user enrolled).

        The same 401 answers an unknown email, a wrong password, a wrong tenant and an
        inactive user: the response never says which accounts exist.
        """
        meta = meta or RequestMeta()
        user = self._find_user(email, tenant_slug, password)
        now = self.clock()
        refuse_while_locked(user, now)
        if not self.hasher.verify(user.password_hash, password):
            record_failure(self.unit_of_work, user, self.lockout, now, meta, reason="password")
            raise InvalidCredentials(WRONG_CREDENTIALS)
        if not user.active:
            with self.unit_of_work(user.tenant_id) as uow:
                uow.audit.record(
                    security_event(
                        user, "auth.login_failed", meta, by_user=False,
                        changes={"reason": f"user {user.status}"},
                    )
                )  # fmt: skip
                uow.commit()
            raise InvalidCredentials(WRONG_CREDENTIALS)
        if user.mfa_enabled and not (totp_code or recovery_code):
            raise MfaRequired(
                "this account uses two-factor authentication: send totp_code (from the "
                "authenticator app) or recovery_code"
            )
        amr = PASSWORD_AND_OTP if user.mfa_enabled else PASSWORD_ONLY
        session = self._open_session(user, amr, now, meta, totp_code, recovery_code)
        if session is None:
            record_failure(self.unit_of_work, user, self.lockout, now, meta, reason="mfa_code")
            raise InvalidCredentials("the two-factor code is wrong or was used already")
        refresh_token, enrolment_required = session
        return {
            **self.tokens.issue_for(
                user.tenant_id, user.id, user.role, amr, session_id=refresh_token.family_id
            ),
            **refresh_token.body(),
            "tenant_id": str(user.tenant_id),
            "user_id": str(user.id),
            "mfa_enrolment_required": enrolment_required,
        }

    def _open_session(
        self,
        user: UserCredentials,
        amr: tuple[str, ...],
        now: datetime,
        meta: RequestMeta,
        totp_code: str | None,
        recovery_code: str | None,
    ) -> tuple[IssuedRefreshToken, bool] | None:
        """Consume the second factor (if any), start a refresh-token family, audit; None
        (nothing written) when the second factor is wrong."""
        with self.unit_of_work(user.tenant_id) as uow:
            if user.mfa_enabled and not consume_second_factor(
                uow, user, self.cipher, now, meta, totp_code=totp_code, recovery_code=recovery_code
            ):
                return None
            uow.credentials.clear_failures(user.id)
            enrolment_required = uow.credentials.tenant_requires_mfa() and not user.mfa_enabled
            family_id = uuid.uuid4()
            session_ends = now + SESSION_MAX_AGE
            uow.refresh_tokens.start_family(family_id, user.id, amr, session_ends, meta)
            refresh_token = _add_refresh_token(uow, user.tenant_id, family_id, now, session_ends)
            uow.audit.record(
                security_event(
                    user, "auth.login_succeeded", meta, by_user=True, changes={"amr": list(amr)}
                )
            )
            uow.commit()
        return refresh_token, enrolment_required

    def _find_user(self, email: str, tenant_slug: str | None, password: str) -> UserCredentials:
        with self.login_directory() as directory:
            candidates = directory.tenants_for(email.lower())
        if tenant_slug is not None:
            candidates = [c for c in candidates if c[1] == tenant_slug]
        if len(candidates) > 1:
            raise ValidationFailed(
                "this email belongs to several organisations: say which one",
                [{"loc": ["body", "tenant"], "msg": "required for this email", "type": "missing"}],
            )
        user = None
        if candidates:
            with self.unit_of_work(candidates[0][0]) as uow:
                user = uow.credentials.by_email(email)
        if user is None:
            self.hasher.hash(password)  # spend the time a real check takes
            raise InvalidCredentials(WRONG_CREDENTIALS)
        return user

    # -------------------------------------------------------------- refresh and logout

    def refresh(self, refresh_token: str, meta: RequestMeta | None = None) -> dict[str, Any]:
        meta = meta or RequestMeta()
        presented = OpaqueCredential.parse(REFRESH_TOKEN_PREFIX, refresh_token)
        now = self.clock()
        with self.unit_of_work(presented.tenant_id) as uow:
            record = uow.refresh_tokens.get_for_update(presented.id)
            if record is None or not presented.matches(record.digest):
                raise InvalidCredentials("invalid refresh token")
            if record.family_revoked_at is not None:
                raise InvalidCredentials("this session has ended: log in again")
            user = uow.credentials.by_id(record.user_id)
            if user is None:
                raise InvalidCredentials("invalid refresh token")
            if record.used_at is not None:
                uow.refresh_tokens.revoke_family(record.family_id, "reuse", now)
                uow.audit.record(
                    security_event(
                        user, "auth.refresh_reuse_detected", meta, by_user=False,
                        changes={"family_id": str(record.family_id),
                                 "token_id": str(record.id), "used_at": record.used_at},
                    )
                )  # fmt: skip
                uow.commit()
                raise InvalidCredentials(
                    "this refresh token was used already: the session is revoked, log in again"
                )
            if record.expires_at <= now or record.family_expires_at <= now:
                raise InvalidCredentials("this session has expired: log in again")
            if not user.active:
                uow.refresh_tokens.revoke_family(record.family_id, "user_inactive", now)
                uow.commit()
                raise InvalidCredentials("this session has ended: log in again")
            rotated = _add_refresh_token(
                uow, presented.tenant_id, record.family_id, now, record.family_expires_at
            )
            uow.refresh_tokens.mark_used(record.id, rotated.credential.id, now)
            uow.commit()
        return {
            **self.tokens.issue_for(
                user.tenant_id, user.id, user.role, record.amr, session_id=record.family_id
            ),
            **rotated.body(),
        }

    def log_out(self, refresh_token: str, meta: RequestMeta | None = None) -> None:
        """Ends the session the token belongs to (its whole family). Idempotent."""
        meta = meta or RequestMeta()
        presented = OpaqueCredential.parse(REFRESH_TOKEN_PREFIX, refresh_token)
        now = self.clock()
        with self.unit_of_work(presented.tenant_id) as uow:
            record = uow.refresh_tokens.get_for_update(presented.id)
            if record is None or not presented.matches(record.digest):
                raise InvalidCredentials("invalid refresh token")
            if record.family_revoked_at is None:
                uow.refresh_tokens.revoke_family(record.family_id, "logout", now)
                user = uow.credentials.by_id(record.user_id)
                if user is not None:
                    uow.audit.record(
                        security_event(
                            user, "auth.logout", meta, by_user=True,
                            changes={"family_id": str(record.family_id)},
                        )
                    )  # fmt: skip
                uow.commit()


@dataclass(frozen=True)
class IssuedRefreshToken:
    credential: OpaqueCredential
    expires_in: int
    family_id: uuid.UUID  # the session: its access tokens carry it as `sid`

    def body(self) -> dict[str, Any]:
        return {"refresh_token": str(self.credential), "refresh_expires_in": self.expires_in}


def _add_refresh_token(
    uow: UnitOfWork,
    tenant_id: uuid.UUID,
    family_id: uuid.UUID,
    now: datetime,
    session_ends: datetime,
) -> IssuedRefreshToken:
    credential = OpaqueCredential.new(REFRESH_TOKEN_PREFIX, tenant_id)
    expires_at = min(now + REFRESH_TOKEN_TTL, session_ends)
    uow.refresh_tokens.add(credential.id, family_id, credential.digest, expires_at)
    return IssuedRefreshToken(credential, int((expires_at - now).total_seconds()), family_id)
