"""The one error map: domain exceptions and request validation -> RFC 9457 problem+json."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from crm.domain.errors import (
    AccountLocked,
    Conflict,
    DomainError,
    Forbidden,
    Gone,
    InvalidCredentials,
    MfaRequired,
    NotFound,
    PlanLimitExceeded,
    PreconditionFailed,
    RateLimited,
    TooManyAttempts,
    UpstreamUnavailable,
    ValidationFailed,
)
from crm.observability import logger

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://crm.example.com/problems/"

STATUS_BY_ERROR: dict[type[DomainError], tuple[int, str]] = {
    NotFound: (404, "not-found"),
    Conflict: (409, "conflict"),
    InvalidCredentials: (401, "invalid-credentials"),
    Forbidden: (403, "forbidden"),
    ValidationFailed: (422, "validation-failed"),
    PlanLimitExceeded: (403, "plan-limit-exceeded"),
    PreconditionFailed: (412, "precondition-failed"),
    Gone: (410, "gone"),
    RateLimited: (429, "rate-limited"),
    UpstreamUnavailable: (503, "upstream-unavailable"),
    MfaRequired: (401, "mfa-required"),
    TooManyAttempts: (429, "too-many-attempts"),
    AccountLocked: (429, "account-locked"),
}


def problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> Response[str]:
    body = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    return Response(
        status_code=status,
        content_type=PROBLEM_JSON,
        body=json.dumps(body, default=str),
    )


def _field_errors(errors: Any) -> list[dict[str, Any]]:
    return [
        {
            "loc": list(error.get("loc", ())),
            "msg": error.get("msg", ""),
            "type": error.get("type", ""),
        }
        for error in errors
    ]


def domain_problem(error: DomainError) -> Response[str]:
    """The problem+json of a domain error (also used by the API gate, before routing)."""
    for error_class in type(error).__mro__:
        if error_class in STATUS_BY_ERROR:
            status, slug = STATUS_BY_ERROR[error_class]
            break
    else:
        status, slug = 400, "bad-request"
    extra = dict(error.extra)
    if "errors" in extra:
        extra["errors"] = _field_errors(extra["errors"])
    response = problem(status, slug, error.title, error.detail, **extra)
    # Some errors name response headers (Retry-After on a refused login attempt).
    response.headers.update(getattr(error, "headers", {}))
    return response


def register_error_handlers(app: APIGatewayRestResolver) -> None:
    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Response[str]:
        return problem(
            422,
            "validation-failed",
            "Validation failed",
            "the request does not match the schema",
            errors=_field_errors(error.errors()),
        )

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported_content_type(error: RequestUnsupportedContentType) -> Response[str]:
        # crm.api.request_checks refuses these before routing; this keeps any route that
        # bypasses it from answering 500
        return problem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            "the body must be application/json",
        )

    @app.exception_handler(DomainError)
    def _domain_error(error: DomainError) -> Response[str]:
        return domain_problem(error)

    @app.not_found
    def _no_route(_: Exception) -> Response[str]:
        return problem(404, "not-found", "Not found", "no such route")

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response[str]:
        logger.exception("unhandled error")
        return problem(500, "internal", "Internal error", "an unexpected error occurred")
