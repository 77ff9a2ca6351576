"""API keys for integrations: POST /api-keys (the secret is in this response only),
GET /api-keys (cursor-paginated), DELETE /api-keys/{id}. Authorizer-protected."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.api.context import path_uuid, principal, request_meta
from crm.api.contract import responses
from crm.api.guards import require
from crm.api.pagination import (
    DEFAULT_PAGE_SIZE,
    Cursor,
    Limit,
    SortKind,
    decode_keyset,
    page_body,
)
from crm.api.resolver import build_resolver
from crm.api.responses import json_response
from crm.api.schemas import ApiKeyIn
from crm.domain.api_keys import ApiKey
from crm.domain.pagination import PageRequest
from crm.observability import bind_api_event, logger
from crm.services.api_keys import create_api_key, list_api_keys, revoke_api_key
from crm.settings import DatabaseSettings
from crm.tracing import tracer

settings = DatabaseSettings.from_env()
app = build_resolver()
LIST_SCOPE = "api_keys:created_at:desc"


def _db() -> Any:
    return bootstrap.database(settings.database_url, pool_size=settings.database_pool_size)


@app.post("/api-keys", responses=responses(201))
@tracer.capture_method
def post_api_key(body: ApiKeyIn) -> Response[dict[str, Any]]:
    created = create_api_key(
        require(principal(app), "api_keys:create"),
        body.name,
        body.scopes,
        body.expires_at,
        unit_of_work=_db().unit_of_work,
        meta=request_meta(app),
    )
    return json_response(
        201, created, Location=f"/api-keys/{created['id']}", Cache_Control="no-store"
    )


@app.get("/api-keys", responses=responses(200))
@tracer.capture_method
def get_api_keys(
    limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> Response[dict[str, Any]]:
    caller = require(principal(app), "api_keys:read")
    after = decode_keyset(cursor, LIST_SCOPE, SortKind.DATETIME)
    page = list_api_keys(caller, PageRequest(limit, after), unit_of_work=_db().unit_of_work)
    return json_response(200, page_body(page, ApiKey.to_dict, LIST_SCOPE, SortKind.DATETIME))


@app.delete("/api-keys/<key_id>", responses=responses(204))
@tracer.capture_method
def delete_api_key(key_id: str) -> Response[str]:
    revoke_api_key(
        require(principal(app), "api_keys:delete"),
        path_uuid(key_id, "API key"),
        unit_of_work=_db().unit_of_work,
        meta=request_meta(app),
    )
    return Response(status_code=204, body="")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_api_event(event)
    return app.resolve(event, context)
