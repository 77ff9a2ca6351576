"""What a route needs from the API Gateway event: the principal, ids, request metadata."""

from __future__ import annotations

import uuid
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from crm.domain.audit import RequestMeta
from crm.domain.errors import InvalidCredentials, NotFound
from crm.domain.tenants import Principal, Role


def principal(app: APIGatewayRestResolver) -> Principal:
    """The caller as the Lambda authorizer established it (requestContext.authorizer)."""
    authorizer: dict[str, Any] = (
        app.current_event.raw_event.get("requestContext", {}).get("authorizer") or {}
    )
    try:
        return Principal(
            tenant_id=uuid.UUID(authorizer["tenant_id"]),
            user_id=uuid.UUID(authorizer["user_id"]),
            role=Role(authorizer["role"]),
        )
    except (KeyError, ValueError) as error:
        raise InvalidCredentials("no authenticated principal on this request") from error


def path_uuid(value: str, resource: str) -> uuid.UUID:
    """A malformed id cannot name anything: 404, like another tenant's id."""
    try:
        return uuid.UUID(value)
    except ValueError as error:
        raise NotFound(f"{resource} {value} not found") from error


def header(app: APIGatewayRestResolver, name: str) -> str | None:
    value = app.current_event.headers.get(name) or app.current_event.headers.get(name.lower())
    return str(value) if value else None


def correlation_id(app: APIGatewayRestResolver) -> str:
    return header(app, "X-Correlation-Id") or str(
        app.current_event.raw_event.get("requestContext", {}).get("requestId") or uuid.uuid4()
    )


def request_meta(app: APIGatewayRestResolver) -> RequestMeta:
    """Where the request came from, for audit entries."""
    context = app.current_event.raw_event.get("requestContext") or {}
    return RequestMeta(
        ip=(context.get("identity") or {}).get("sourceIp"),
        user_agent=header(app, "User-Agent"),
        request_id=context.get("requestId"),
    )
