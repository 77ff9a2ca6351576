"""GET /admin/dead-letters, POST /admin/dead-letters/redrive, DELETE /admin/dead-letters/{id}:
the tenant's dead letters (events a consumer gave up on). Owners and admins only; redrives and
discards are audited."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
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
from crm.api.schemas import RedriveIn
from crm.domain.dead_letters import DeadLetter, DeadLetterStatus, RedriveSelection
from crm.domain.messaging import ConsumerName
from crm.domain.pagination import PageRequest
from crm.observability import bind_api_event, logger, metrics
from crm.services.dead_letters import (
    discard_dead_letter,
    list_dead_letters,
    redrive_dead_letters,
)
from crm.settings import ApiSettings
from crm.tracing import tracer

settings = ApiSettings.from_env()
app = build_resolver()


def _db() -> Any:
    return bootstrap.database(settings.database_url, pool_size=settings.database_pool_size)


@app.get("/admin/dead-letters", responses=responses(200))
@tracer.capture_method
def read_dead_letters(
    consumer: Annotated[ConsumerName | None, Query()] = None,
    status: Annotated[DeadLetterStatus, Query()] = DeadLetterStatus.DEAD,
    event_type: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> dict[str, Any]:
    caller = require(principal(app), "dead_letters:read")
    scope = f"dead-letters:{status}:dead_lettered_at:desc"
    after = decode_keyset(cursor, scope, SortKind.DATETIME)
    page = list_dead_letters(
        caller,
        unit_of_work=_db().unit_of_work,
        page=PageRequest(limit, after),
        status=status,
        consumer=consumer,
        event_type=event_type,
    )
    return page_body(page, DeadLetter.to_dict, scope, SortKind.DATETIME)


@app.post("/admin/dead-letters/redrive", responses=responses(200, 404))
@tracer.capture_method
def redrive(body: RedriveIn) -> dict[str, Any]:
    selection = RedriveSelection(
        ids=tuple(body.ids) if body.ids is not None else None,
        consumer=body.filter.consumer if body.filter else None,
        event_type=body.filter.event_type if body.filter else None,
    )
    return redrive_dead_letters(
        require(principal(app), "dead_letters:update"),
        selection,
        unit_of_work=_db().unit_of_work,
        redriver=bootstrap.redriver(settings.amqp_url),
        meta=request_meta(app),
    )


@app.delete("/admin/dead-letters/<letter_id>", responses=responses(204))
@tracer.capture_method
def discard(letter_id: str) -> Response[None]:
    discard_dead_letter(
        require(principal(app), "dead_letters:delete"),
        path_uuid(letter_id, "dead letter"),
        unit_of_work=_db().unit_of_work,
        meta=request_meta(app),
    )
    return Response(status_code=204, body=None)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_api_event(event)
    return app.resolve(event, context)
