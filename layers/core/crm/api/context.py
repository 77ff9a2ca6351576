"""What a route needs from the API Gateway event: the principal, ids, request metadata."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from crm.domain.audit import RequestMeta
from crm.domain.errors import InvalidCredentials, NotFound
from crm.domain.tenants import ROLE_KEY, Principal

ADMITTED_PRINCIPAL = "admitted_principal"


def principal(app: APIGatewayRestResolver) -> Principal:
    """The caller: as the API gate admitted it (current role from the database, a custom role's
    grant), else as the Lambda authorizer established it (requestContext.authorizer)."""
    admitted = app.context.get(ADMITTED_PRINCIPAL)
    if isinstance(admitted, Principal):
        return admitted
    caller = authorizer_principal(app.current_event.raw_event)
    if caller is None:
        raise InvalidCredentials("no authenticated principal on this request")
    return caller


def authorizer_principal(event: Mapping[str, Any]) -> Principal | None:
    """The principal in an API Gateway event's authorizer context; None when the route has no
    authorizer (a public route). Context values arrive as strings: `api_key_id` is set for an
    API key, whose `scopes` are space-separated permissions."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    if "tenant_id" not in authorizer:
        return None
    try:
        role = str(authorizer["role"])
        if not ROLE_KEY.match(role):
            raise ValueError(f"malformed role {role!r}")
        api_key_id = authorizer.get("api_key_id")
        return Principal(
            tenant_id=uuid.UUID(authorizer["tenant_id"]),
            user_id=uuid.UUID(authorizer["user_id"]),
            role=role,
            api_key_id=uuid.UUID(api_key_id) if api_key_id else None,
            scopes=frozenset(str(authorizer.get("scopes") or "").split()),
        )
    except (KeyError, ValueError) as error:
        raise InvalidCredentials("malformed authorizer context") from error


@dataclass(frozen=True)
class TokenFacts:
    """What the authorizer passes on about an access token, for the API gate to check against
    the database on every request: when it was issued, and its session (refresh-token family).
    Both None for an API key, or a context from before they were passed on."""

    issued_at: int | None = None
    session_id: uuid.UUID | None = None


def token_facts(event: Mapping[str, Any]) -> TokenFacts:
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    issued_at, session_id = authorizer.get("issued_at"), authorizer.get("session_id")
    try:
        return TokenFacts(
            issued_at=int(issued_at) if issued_at is not None else None,
            session_id=uuid.UUID(session_id) if session_id else None,
        )
    except (TypeError, ValueError) as error:
        raise InvalidCredentials("malformed authorizer context") from error


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
