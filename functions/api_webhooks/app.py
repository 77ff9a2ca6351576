"""Webhook endpoints of integrators: POST /webhooks (the signing secret is in this response
only), GET /webhooks, GET/PATCH/DELETE /webhooks/{id}, POST /webhooks/{id}/rotate-secret,
GET /webhooks/{id}/deliveries. Authorizer-protected; owners and admins (webhooks:*)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.api.concurrency import if_match
from crm.api.context import path_uuid
from crm.api.contract import contract, responses
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
from crm.api.webhook_schemas import (
    DeliveryStatusFilter,
    WebhookEndpointIn,
    WebhookEndpointPatch,
)
from crm.api.writes import idempotency_key, record_response, request_context
from crm.domain.pagination import PageRequest
from crm.domain.webhooks import WebhookDelivery, WebhookEndpoint
from crm.observability import bind_api_event, logger
from crm.services.webhooks import (
    EndpointChanges,
    NewEndpoint,
    WebhookSettings,
    create_endpoint,
    delete_endpoint,
    get_endpoint,
    list_deliveries,
    list_endpoints,
    rotate_secret,
    update_endpoint,
)
from crm.settings import WebhooksApiSettings
from crm.tracing import tracer

settings = WebhooksApiSettings.from_env()
app = build_resolver()
LIST_SCOPE = "webhooks:created_at:desc"
DELIVERIES_SCOPE = "webhook_deliveries:first_attempt_at:desc"


def _db() -> Any:
    return bootstrap.database(settings.database_url, pool_size=settings.database_pool_size)


def _webhooks() -> WebhookSettings:
    return WebhookSettings(
        cipher=bootstrap.field_cipher(settings.webhook_encryption_secret_arn),
        policy=settings.target_policy,
        resolve=bootstrap.target_resolver(settings.webhook_hosts_file),
    )


def _secret_response(
    status: int, body: dict[str, Any], *, location: str | None = None, replayed: bool = False
) -> Response[dict[str, Any]]:
    # The secret is in this answer only: no cache may keep it.
    response = record_response(status, body, location=location, replayed=replayed)
    response.headers["Cache-Control"] = "no-store"
    return response


@app.post("/webhooks", responses=responses(201))
@tracer.capture_method
@contract(idempotency_key="optional")
def post_webhook(body: WebhookEndpointIn) -> Response[dict[str, Any]]:
    context = request_context(app)
    require(context.principal, "webhooks:create")
    endpoint, replayed = create_endpoint(
        NewEndpoint(
            url=body.url,
            event_types=body.event_types,
            description=body.description,
            active=body.active,
        ),
        context,
        unit_of_work=_db().unit_of_work,
        settings=_webhooks(),
        request=body.model_dump(mode="json"),
        idempotency_key=idempotency_key(app),
    )
    return _secret_response(
        201, endpoint, location=f"/webhooks/{endpoint['id']}", replayed=replayed
    )


@app.get("/webhooks", responses=responses(200))
@tracer.capture_method
def get_webhooks(
    limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> Response[dict[str, Any]]:
    context = request_context(app)
    require(context.principal, "webhooks:read")
    after = decode_keyset(cursor, LIST_SCOPE, SortKind.DATETIME)
    page = list_endpoints(context, PageRequest(limit, after), unit_of_work=_db().unit_of_work)
    return json_response(
        200, page_body(page, WebhookEndpoint.to_dict, LIST_SCOPE, SortKind.DATETIME)
    )


@app.get("/webhooks/<endpoint_id>", responses=responses(200))
@tracer.capture_method
def read_webhook(endpoint_id: str) -> Response[dict[str, Any]]:
    context = request_context(app)
    require(context.principal, "webhooks:read")
    endpoint = get_endpoint(
        path_uuid(endpoint_id, "webhook endpoint"), context, unit_of_work=_db().unit_of_work
    )
    return record_response(200, endpoint)


@app.patch("/webhooks/<endpoint_id>", responses=responses(200))
@tracer.capture_method
@contract(if_match=True)
def patch_webhook(endpoint_id: str, body: WebhookEndpointPatch) -> Response[dict[str, Any]]:
    context = request_context(app)
    require(context.principal, "webhooks:update")
    named = body.model_fields_set
    endpoint = update_endpoint(
        path_uuid(endpoint_id, "webhook endpoint"),
        EndpointChanges(
            url=body.url,
            event_types=body.event_types,
            description=body.description,
            clear_description="description" in named and body.description is None,
            active=body.active,
        ),
        context,
        unit_of_work=_db().unit_of_work,
        settings=_webhooks(),
        precondition=if_match(app),
    )
    return record_response(200, endpoint)


@app.delete("/webhooks/<endpoint_id>", responses=responses(204))
@tracer.capture_method
@contract(if_match=True)
def delete_webhook(endpoint_id: str) -> Response[str]:
    context = request_context(app)
    require(context.principal, "webhooks:delete")
    delete_endpoint(
        path_uuid(endpoint_id, "webhook endpoint"),
        context,
        unit_of_work=_db().unit_of_work,
        precondition=if_match(app),
    )
    return Response(status_code=204, body="")


@app.post("/webhooks/<endpoint_id>/rotate-secret", responses=responses(200))
@tracer.capture_method
@contract(if_match=True)
def post_rotate_secret(endpoint_id: str) -> Response[dict[str, Any]]:
    context = request_context(app)
    require(context.principal, "webhooks:update")
    endpoint = rotate_secret(
        path_uuid(endpoint_id, "webhook endpoint"),
        context,
        unit_of_work=_db().unit_of_work,
        settings=_webhooks(),
        precondition=if_match(app),
    )
    return _secret_response(200, endpoint)


@app.get("/webhooks/<endpoint_id>/deliveries", responses=responses(200))
@tracer.capture_method
def get_deliveries(
    endpoint_id: str,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
    status: Annotated[DeliveryStatusFilter | None, Query()] = None,
) -> Response[dict[str, Any]]:
    context = request_context(app)
    require(context.principal, "webhooks:read")
    after = decode_keyset(cursor, DELIVERIES_SCOPE, SortKind.DATETIME)
    page = list_deliveries(
        path_uuid(endpoint_id, "webhook endpoint"),
        status,
        context,
        PageRequest(limit, after),
        unit_of_work=_db().unit_of_work,
    )
    return json_response(
        200, page_body(page, WebhookDelivery.to_dict, DELIVERIES_SCOPE, SortKind.DATETIME)
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_api_event(event)
    return app.resolve(event, context)
