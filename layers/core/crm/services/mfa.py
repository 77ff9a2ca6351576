"""TOTP two-factor authentication: enrol (a secret and its otpauth URI), confirm with a first
code (which turns it on and hands out one-time recovery codes), disable, new recovery codes.

Only the user themself manages their MFA, with a user session (not an API key). Every code
checked here goes through the same failure counter as login: a stolen session cannot guess
its way to disabling the second factor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn

from crm.domain import totp
from crm.domain.audit import RequestMeta
from crm.domain.credentials import (
    LockoutPolicy,
    UserCredentials,
    new_recovery_codes,
    recovery_code_digest,
)
from crm.domain.errors import Conflict, Forbidden, InvalidCredentials, NotFound
from crm.domain.tenants import Principal
from crm.ports import SecretCipher, UnitOfWork, UnitOfWorkFactory
from crm.services.login_guard import (
    consume_second_factor,
    record_failure,
    refuse_while_locked,
    security_event,
)

ISSUER = "CRM"


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class MfaService:
    unit_of_work: UnitOfWorkFactory
    cipher: SecretCipher
    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)
    clock: Callable[[], datetime] = _utcnow

    def enrol(self, caller: Principal, meta: RequestMeta) -> dict[str, Any]:
        """A new secret, pending until confirmed; enrolling again replaces a pending one."""
        with self.unit_of_work(caller.tenant_id) as uow:
            user = _own_account(uow, caller)
            if user.mfa_enabled:
                raise Conflict("two-factor authentication is on already: disable it first")
            secret = totp.new_secret()
            uow.credentials.set_pending_mfa_secret(
                user.id, self.cipher.encrypt(secret, context=str(user.id))
            )
            uow.audit.record(security_event(user, "auth.mfa_enrolment_started", meta, by_user=True))
            uow.commit()
        return {
            "secret": secret,
            "otpauth_uri": totp.provisioning_uri(secret, account=user.email, issuer=ISSUER),
        }

    def confirm(self, caller: Principal, code: str, meta: RequestMeta) -> dict[str, Any]:
        """The first code from the app proves it holds the secret: MFA is on from now."""
        now = self.clock()
        with self.unit_of_work(caller.tenant_id) as uow:
            user = _own_account(uow, caller)
            if user.mfa_enabled:
                raise Conflict("two-factor authentication is on already")
            if user.mfa_pending_secret is None:
                raise Conflict("nothing to confirm: enrol first (POST /auth/mfa/enrol)")
            refuse_while_locked(user, now)
            secret = self.cipher.decrypt(user.mfa_pending_secret, context=str(user.id))
            step = totp.matching_step(secret, code, now.timestamp())
            if step is not None:
                uow.credentials.enable_mfa(user.id, user.mfa_pending_secret, step)
                codes = self._replace_recovery_codes(uow, user)
                uow.audit.record(security_event(user, "auth.mfa_enabled", meta, by_user=True))
                uow.commit()
                return {"recovery_codes": codes}
        self._wrong_code(user, now, meta)

    def disable(self, caller: Principal, code: str, meta: RequestMeta) -> None:
        """Needs a current code (or a recovery code); refused when the tenant requires MFA."""
        now = self.clock()
        with self.unit_of_work(caller.tenant_id) as uow:
            user = self._enabled_account(uow, caller, now)
            if uow.credentials.tenant_requires_mfa():
                raise Forbidden("your organisation requires two-factor authentication")
            if self._second_factor(uow, user, code, now, meta):
                uow.credentials.disable_mfa(user.id)
                uow.recovery_codes.delete_all(user.id)
                uow.audit.record(security_event(user, "auth.mfa_disabled", meta, by_user=True))
                uow.commit()
                return
        self._wrong_code(user, now, meta)

    def regenerate_recovery_codes(
        self, caller: Principal, code: str, meta: RequestMeta
    ) -> dict[str, Any]:
        """New recovery codes (the old ones stop working); needs a current code."""
        now = self.clock()
        with self.unit_of_work(caller.tenant_id) as uow:
            user = self._enabled_account(uow, caller, now)
            if self._second_factor(uow, user, code, now, meta):
                codes = self._replace_recovery_codes(uow, user)
                uow.audit.record(
                    security_event(user, "auth.recovery_codes_regenerated", meta, by_user=True)
                )
                uow.commit()
                return {"recovery_codes": codes}
        self._wrong_code(user, now, meta)

    def _enabled_account(
        self, uow: UnitOfWork, caller: Principal, now: datetime
    ) -> UserCredentials:
        user = _own_account(uow, caller)
        if not user.mfa_enabled:
            raise Conflict("two-factor authentication is not on")
        refuse_while_locked(user, now)
        return user

    def _second_factor(
        self, uow: UnitOfWork, user: UserCredentials, code: str, now: datetime, meta: RequestMeta
    ) -> bool:
        """A six-digit TOTP code or a recovery code, whichever `code` looks like."""
        if code.strip().isdigit():
            return consume_second_factor(uow, user, self.cipher, now, meta, totp_code=code)
        return consume_second_factor(uow, user, self.cipher, now, meta, recovery_code=code)

    def _replace_recovery_codes(self, uow: UnitOfWork, user: UserCredentials) -> list[str]:
        codes = new_recovery_codes()
        uow.recovery_codes.replace(user.id, [recovery_code_digest(user.id, c) for c in codes])
        return codes

    def _wrong_code(self, user: UserCredentials, now: datetime, meta: RequestMeta) -> NoReturn:
        record_failure(self.unit_of_work, user, self.lockout, now, meta, reason="mfa_code")
        raise InvalidCredentials("the code is wrong or was used already")


def _own_account(uow: UnitOfWork, caller: Principal) -> UserCredentials:
    if caller.api_key_id is not None:
        raise Forbidden("API keys cannot manage two-factor authentication: sign in as the user")
    user = uow.credentials.by_id(caller.user_id)
    if user is None:
        raise NotFound("user not found")
    return user
