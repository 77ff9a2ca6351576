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


class ValidationFailed(DomainError):
    """A business rule rejected the input; `errors` are per-field like pydantic's."""

    title = "Validation failed"

    def __init__(self, detail: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(detail, errors=errors)
        self.errors = errors


class TenantNotSet(RuntimeError):
    """The unit of work could not scope the transaction to a tenant: fail closed."""
