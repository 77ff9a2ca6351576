"""What every check of a user's secret shares (login, MFA management): refusing attempts while
the account is slowed down or locked, counting failures, and consuming a second factor."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from crm.domain import totp
from crm.domain.audit import AuditEntry, RequestMeta
from crm.domain.credentials import (
    FailureOutcome,
    LockoutPolicy,
    UserCredentials,
    recovery_code_digest,
)
from crm.domain.errors import AccountLocked, TooManyAttempts
from crm.ports import SecretCipher, UnitOfWork, UnitOfWorkFactory


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


def refuse_while_locked(user: UserCredentials, now: datetime) -> None:
    """Raise (429 + Retry-After) when the account may not try yet; checks nothing else."""
    if user.locked_until is not None and user.locked_until > now:
        raise AccountLocked(
            "too many failed attempts: this account is locked for a while",
            retry_after=_seconds_until(user.locked_until, now),
        )
    if user.throttled_until is not None and user.throttled_until > now:
        raise TooManyAttempts(
            "too many failed attempts: wait before trying again",
            retry_after=_seconds_until(user.throttled_until, now),
        )


def security_event(
    user: UserCredentials,
    action: str,
    meta: RequestMeta,
    *,
    by_user: bool,
    changes: dict[str, Any] | None = None,
) -> AuditEntry:
    """An audit entry about `user`'s account; the actor is the user once they proved who they
    are, and anonymous before (a failed login is made by whoever typed the password)."""
    return AuditEntry(
        tenant_id=user.tenant_id,
        action=action,
        actor_type="user" if by_user else "anonymous",
        actor_id=user.id if by_user else None,
        entity_type="user",
        entity_id=str(user.id),
        changes=changes or {},
        meta=meta,
    )


def record_failure(
    unit_of_work: UnitOfWorkFactory,
    user: UserCredentials,
    policy: LockoutPolicy,
    now: datetime,
    meta: RequestMeta,
    reason: str,
) -> FailureOutcome:
    """Count one failed attempt in its own transaction (it must stick although the request
    fails), slow down or lock per `policy`, audit it."""
    with unit_of_work(user.tenant_id) as uow:
        outcome = policy.after_failure(uow.credentials.count_failure(user.id), now)
        uow.credentials.set_lockout(user.id, outcome)
        uow.audit.record(
            security_event(
                user,
                "auth.login_failed",
                meta,
                by_user=False,
                changes={"reason": reason, "consecutive_failures": outcome.failures},
            )
        )
        if outcome.locked:
            uow.audit.record(
                security_event(
                    user,
                    "auth.account_locked",
                    meta,
                    by_user=False,
                    changes={"locked_until": outcome.locked_until},
                )
            )
        uow.commit()
    return outcome


def consume_second_factor(
    uow: UnitOfWork,
    user: UserCredentials,
    cipher: SecretCipher,
    now: datetime,
    meta: RequestMeta,
    *,
    totp_code: str | None = None,
    recovery_code: str | None = None,
) -> bool:
    """True when the code is good, and then it is used up (a TOTP step, or the recovery code)
    in `uow`'s transaction; the caller commits."""
    if not user.mfa_enabled or user.mfa_secret is None:
        return False
    if totp_code:
        secret = cipher.decrypt(user.mfa_secret, context=str(user.id))
        step = totp.matching_step(
            secret, totp_code, now.timestamp(), after_step=user.mfa_last_used_step
        )
        return step is not None and uow.credentials.use_totp_step(user.id, step)
    if recovery_code:
        used = uow.recovery_codes.use(user.id, recovery_code_digest(user.id, recovery_code), now)
        if used:
            uow.audit.record(security_event(user, "auth.recovery_code_used", meta, by_user=True))
        return used
    return False
