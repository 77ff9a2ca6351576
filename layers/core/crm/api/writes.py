"""Helpers of mutating routes: the request context a service needs (principal, correlation
id, audit metadata), the Idempotency-Key, and the 201/200 response of a versioned record
(ETag, Location, Idempotent-Replayed on a replay)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from crm.api.concurrency import etag
from crm.api.context import correlation_id, header, principal, request_meta
from crm.api.contract import require_declared
from crm.api.responses import json_response
from crm.services.request_context import RequestContext


def request_context(app: APIGatewayRestResolver) -> RequestContext:
    return RequestContext(
        principal=principal(app), correlation_id=correlation_id(app), meta=request_meta(app)
    )


def idempotency_key(app: APIGatewayRestResolver) -> str | None:
    """The request's Idempotency-Key; the route must declare it (@contract(idempotency_key=...))."""
    require_declared(app, "Idempotency-Key")
    return header(app, "Idempotency-Key")


def record_response(
    status: int,
    body: dict[str, Any],
    *,
    location: str | None = None,
    replayed: bool = False,
) -> Response[dict[str, Any]]:
    """A record with its ETag (from `version`); a replayed POST says so."""
    headers = {"ETag": etag(int(body["version"]))}
    if location is not None:
        headers["Location"] = location
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(status, body, **headers)
