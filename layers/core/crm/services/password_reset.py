"""Password reset by email: a single-use token that expires, mailed through the email pipeline
(queued with the token in one transaction; the email worker sends it).

Requesting a reset answers the same whether or not the email belongs to anyone (the API says
202 either way), and takes about the same time: the work for a known email (database writes,
the mail provider's API call) is hidden behind a fixed minimum duration.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast
from urllib.parse import urlencode

from crm.domain.audit import RequestMeta, diff
from crm.domain.credentials import PASSWORD_RESET_PREFIX, OpaqueCredential
from crm.domain.email_templates import default_template, render
from crm.domain.emails import Recipient
from crm.domain.errors import InvalidCredentials, ValidationFailed
from crm.domain.password_policy import password_problems
from crm.domain.tenant_settings import TenantSettings
from crm.observability import logger
from crm.ports import LoginDirectory, PasswordHasher, UnitOfWorkFactory
from crm.ports.messaging import EmailRequests, MessagingUnitOfWork
from crm.services.login_guard import security_event

RESET_TOKEN_TTL = timedelta(minutes=30)
MAX_RESETS_PER_HOUR = 3  # per user: stops the endpoint being used to flood someone's inbox
MIN_REQUEST_SECONDS = 0.4
INVALID_LINK = "this reset link is invalid, expired or used already: request a new one"


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PasswordResets:
    unit_of_work: UnitOfWorkFactory
    login_directory: Callable[[], AbstractContextManager[LoginDirectory]]
    hasher: PasswordHasher
    mail: EmailRequests  # crm.services.emails.enqueue_email
    mail_from: str
    reset_url: str  # the dashboard page that takes ?token=...
    clock: Callable[[], datetime] = _utcnow
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def request(self, email: str, tenant_slug: str | None, meta: RequestMeta) -> None:
        """Mail a reset link for each organisation this email is an active user of (or for
        the one named). Never raises for an unknown email."""
        started = self.monotonic()
        try:
            with self.login_directory() as directory:
                candidates = directory.tenants_for(email.lower())
            for tenant_id, slug, _ in candidates:
                if tenant_slug is None or slug == tenant_slug:
                    self._issue(tenant_id, slug, email, meta)
        finally:
            remaining = MIN_REQUEST_SECONDS - (self.monotonic() - started)
            if remaining > 0:
                self.sleep(remaining)

    def _issue(self, tenant_id: uuid.UUID, slug: str, email: str, meta: RequestMeta) -> None:
        now = self.clock()
        try:
            with self.unit_of_work(tenant_id) as uow:
                user = uow.credentials.by_email(email)
                if user is None or not user.active:
                    return
                if uow.password_resets.count_since(user.id, now - timedelta(hours=1)) >= (
                    MAX_RESETS_PER_HOUR
                ):
                    logger.info("password reset not sent: hourly limit", extra={"user_id": user.id})
                    return
                token = OpaqueCredential.new(PASSWORD_RESET_PREFIX, user.tenant_id)
                uow.password_resets.add(token.id, user.id, token.digest, now + RESET_TOKEN_TTL)
                uow.audit.record(
                    security_event(user, "auth.password_reset_requested", meta, by_user=False)
                )
                link = f"{self.reset_url}?{urlencode({'token': str(token)})}"
                minutes = int(RESET_TOKEN_TTL.total_seconds() // 60)
                profile = uow.tenant_profile.get()
                locale = TenantSettings.stored(profile.settings).locale if profile else None
                content = render(
                    default_template("password_reset", locale),
                    {"record": {"email": user.email}, "tenant": {"name": slug},
                     "vars": {"slug": slug, "minutes": minutes, "link": link}},
                )  # fmt: skip
                self.mail(
                    cast(MessagingUnitOfWork, uow),
                    to=Recipient(user.email, "user", user.id),
                    subject=content.subject,
                    text=content.text,
                    html=None,
                    purpose="password_reset",
                    from_address=self.mail_from,
                    sensitive=True,
                )
                uow.commit()
        except Exception:
            # The answer must not depend on the outcome (no enumeration); the user can ask
            # again. Nothing was written: the token and its email commit together.
            logger.exception("password reset not issued", extra={"tenant_id": str(tenant_id)})

    def confirm(self, token: str, new_password: str, meta: RequestMeta) -> None:
        """Set the new password; the token and every other open reset of the user are used
        up, every session is revoked, and access tokens issued before now stop working."""
        try:
            presented = OpaqueCredential.parse(PASSWORD_RESET_PREFIX, token)
        except InvalidCredentials as error:
            raise _invalid_token() from error
        now = self.clock()
        with self.unit_of_work(presented.tenant_id) as uow:
            reset = uow.password_resets.get_for_update(presented.id)
            if (
                reset is None
                or not presented.matches(reset.digest)
                or reset.used_at is not None
                or reset.expires_at <= now
            ):
                raise _invalid_token()
            user = uow.credentials.by_id(reset.user_id)
            if user is None or not user.active:
                raise _invalid_token()
            problems = password_problems(new_password, email=user.email, loc=("body", "password"))
            if problems:
                raise ValidationFailed("the new password was rejected", problems)
            new_hash = self.hasher.hash(new_password)
            uow.credentials.set_password(user.id, new_hash, now)
            uow.password_resets.use_all_for_user(user.id, now)
            revoked = uow.refresh_tokens.revoke_all_for_user(user.id, "password_reset", now)
            uow.audit.record(
                security_event(
                    user,
                    "auth.password_reset_completed",
                    meta,
                    by_user=True,
                    changes={
                        **diff({"password_hash": user.password_hash}, {"password_hash": new_hash}),
                        "sessions_revoked": revoked,
                    },
                )
            )
            uow.commit()


def _invalid_token() -> ValidationFailed:
    return ValidationFailed(
        INVALID_LINK, [{"loc": ["body", "token"], "msg": INVALID_LINK, "type": "value_error"}]
    )
