"""GET/POST /pipelines, GET/PATCH /pipelines/{id}, GET /pipelines/{id}/board,
GET /pipelines/{id}/forecast. Authorizer-protected; the tenant comes from its context."""

import uuid
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.api.concurrency import if_match
from crm.api.context import path_uuid, principal
from crm.api.contract import contract, responses
from crm.api.deal_schemas import PipelineIn, PipelinePatch
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
from crm.api.writes import idempotency_key, record_response, request_context
from crm.domain.deals import Deal
from crm.domain.errors import ValidationFailed
from crm.domain.money import format_amount
from crm.domain.pagination import PageRequest
from crm.domain.pipelines import Pipeline
from crm.observability import bind_api_event, logger
from crm.services.pipelines import (
    NewPipeline,
    PipelineChanges,
    board_column_page,
    create_pipeline,
    get_pipeline,
    list_pipelines,
    pipeline_board,
    pipeline_forecast,
    update_pipeline,
)
from crm.settings import ApiSettings
from crm.tracing import tracer

settings = ApiSettings.from_env()
app = build_resolver()

LIST_SCOPE = "pipelines:created_at:asc"
BOARD_LIMIT = 20  # deals per column on the first load of a kanban


def _db() -> Any:
    return bootstrap.database(settings.database_url, settings.amqp_url, settings.database_pool_size)


def _board_scope(stage_id: uuid.UUID) -> str:
    """A board cursor continues one column: it is bound to that stage."""
    return f"board:{stage_id}:created_at:desc"


@app.get("/pipelines", responses=responses(200))
@tracer.capture_method
def read_pipelines(
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
    include_archived: Annotated[bool, Query()] = False,
) -> Response[dict[str, Any]]:
    caller = require(principal(app), "pipelines:read")
    page = list_pipelines(
        caller,
        PageRequest(limit, decode_keyset(cursor, LIST_SCOPE, SortKind.DATETIME)),
        include_archived=include_archived,
        unit_of_work=_db().unit_of_work,
    )
    return json_response(200, page_body(page, Pipeline.to_dict, LIST_SCOPE, SortKind.DATETIME))


@app.post("/pipelines", responses=responses(201))
@tracer.capture_method
@contract(idempotency_key="optional")
def post_pipeline(body: PipelineIn) -> Response[dict[str, Any]]:
    context = request_context(app)
    require(context.principal, "pipelines:create")
    pipeline, replayed = create_pipeline(
        NewPipeline(
            name=body.name,
            stages=[stage.spec() for stage in body.stages] if body.stages is not None else None,
            is_default=body.is_default,
        ),
        context,
        unit_of_work=_db().unit_of_work,
        request=body.model_dump(mode="json"),
        idempotency_key=idempotency_key(app),
    )
    return record_response(
        201, pipeline, location=f"/pipelines/{pipeline['id']}", replayed=replayed
    )


@app.get("/pipelines/<pipeline_id>", responses=responses(200))
@tracer.capture_method
def read_pipeline(pipeline_id: str) -> Response[dict[str, Any]]:
    pipeline = get_pipeline(
        path_uuid(pipeline_id, "pipeline"),
        require(principal(app), "pipelines:read"),
        unit_of_work=_db().unit_of_work,
    )
    return record_response(200, pipeline.to_dict())


@app.patch("/pipelines/<pipeline_id>", responses=responses(200))
@tracer.capture_method
@contract(if_match=True)
def patch_pipeline(pipeline_id: str, body: PipelinePatch) -> Response[dict[str, Any]]:
    context = request_context(app)
    require(context.principal, "pipelines:update")
    named = body.named()
    pipeline = update_pipeline(
        path_uuid(pipeline_id, "pipeline"),
        PipelineChanges(
            name=named.get("name"),
            archived=named.get("archived"),
            is_default=named.get("is_default"),
            stages=[stage.spec() for stage in body.stages] if body.stages is not None else None,
        ),
        context,
        unit_of_work=_db().unit_of_work,
        precondition=if_match(app),
    )
    return record_response(200, pipeline)


@app.get("/pipelines/<pipeline_id>/board", responses=responses(200))
@tracer.capture_method
def read_board(
    pipeline_id: str,
    limit: Limit = BOARD_LIMIT,
    stage_id: Annotated[uuid.UUID | None, Query(description="one column only")] = None,
    cursor: Cursor = None,
) -> Response[dict[str, Any]]:
    """Every stage with its first `limit` deals (newest first); each column's `next_cursor`
    with its `stage_id` loads that column's next page."""
    caller = require(require(principal(app), "pipelines:read"), "deals:read")
    pipeline_uuid = path_uuid(pipeline_id, "pipeline")
    db = _db()
    if stage_id is None:
        if cursor is not None:
            raise ValidationFailed(
                "a board cursor continues one column",
                [{"loc": ["query", "stage_id"], "msg": "required with cursor", "type": "missing"}],
            )
        board = pipeline_board(pipeline_uuid, caller, limit=limit, unit_of_work=db.unit_of_work)
        columns = [
            {
                **column.stage.to_dict(),
                "deal_count": column.deal_count,
                "value_by_currency": {
                    currency: format_amount(value)
                    for currency, value in column.value_by_currency.items()
                },
                "deals": page_body(
                    column.deals, Deal.to_dict, _board_scope(column.stage.id), SortKind.DATETIME
                ),
            }
            for column in board.columns
        ]
        return json_response(200, {"pipeline": board.pipeline.to_dict(), "stages": columns})
    scope = _board_scope(stage_id)
    page = board_column_page(
        pipeline_uuid,
        stage_id,
        caller,
        PageRequest(limit, decode_keyset(cursor, scope, SortKind.DATETIME)),
        unit_of_work=db.unit_of_work,
    )
    return json_response(
        200,
        {"stage_id": str(stage_id), **page_body(page, Deal.to_dict, scope, SortKind.DATETIME)},
    )


@app.get("/pipelines/<pipeline_id>/forecast", responses=responses(200))
@tracer.capture_method
def read_forecast(pipeline_id: str) -> Response[dict[str, Any]]:
    caller = require(require(principal(app), "pipelines:read"), "deals:read")
    forecast = pipeline_forecast(
        path_uuid(pipeline_id, "pipeline"), caller, unit_of_work=_db().unit_of_work
    )
    return json_response(200, forecast)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_api_event(event)
    return app.resolve(event, context)
