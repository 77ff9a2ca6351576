"""Domain errors. crm.api.problems maps each class to an HTTP status, in one place."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    title = "Request failed"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(DomainError):
    """Also what another tenant's id answers: existence is never disclosed across tenants."""

    title = "Not found"


class Conflict(DomainError):
    title = "Conflict"


class InvalidCredentials(DomainError):
    title = "Invalid credentials"


class Forbidden(DomainError):
    title = "Forbidden"


class PlanLimitExceeded(DomainError):
    """The tenant's plan does not allow more of `metric`; the body says the limit and usage."""

    title = "Plan limit exceeded"

    def __init__(self, metric: str, limit: int, usage: int, plan: str) -> None:
        super().__init__(
            f"the {plan} plan allows {limit} {metric.replace('_', ' ')}; {usage} in use",
            metric=metric,
            limit=limit,
            usage=usage,
            plan=plan,
        )
        self.metric, self.limit, self.usage, self.plan = metric, limit, usage, plan


class Gone(DomainError):
    """It existed but can no longer be used (an expired or revoked invitation)."""

    title = "Gone"


class RateLimited(DomainError):
    """The tenant used its plan's API requests for this minute."""

    title = "Too many requests"

    def __init__(self, limit: int, retry_after_seconds: int) -> None:
        super().__init__(
            f"this tenant's plan allows {limit} API requests per minute;"
            f" retry in {retry_after_seconds} s",
            limit=limit,
            retry_after=retry_after_seconds,
        )
        self.retry_after_seconds = retry_after_seconds


class UpstreamUnavailable(DomainError):
    """A service we depend on (mail, ...) failed; nothing was changed, the caller may retry."""

    title = "Service unavailable"


class PreconditionFailed(DomainError):
    """If-Match named a version that is no longer current: someone changed it meanwhile."""

    title = "Precondition failed"


class ValidationFailed(DomainError):
    """A business rule rejected the input; `errors` are per-field like pydantic's."""

    title = "Validation failed"

    def __init__(self, detail: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(detail, errors=errors)
        self.errors = errors


class TenantNotSet(RuntimeError):
    """The unit of work could not scope the transaction to a tenant: fail closed."""


class MfaRequired(InvalidCredentials):
    """The password was right; this account also needs a TOTP or recovery code."""

    title = "MFA code required"


class TooManyAttempts(DomainError):
    """Too many failed attempts: the next one is refused until `retry_after` seconds pass."""

    title = "Too many attempts"

    def __init__(self, detail: str, retry_after: int, **extra: Any) -> None:
        super().__init__(detail, retry_after=retry_after, **extra)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class AccountLocked(TooManyAttempts):
    title = "Account locked"
