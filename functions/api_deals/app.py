"""GET/POST /deals, GET/PATCH/DELETE /deals/{id}, POST /deals/{id}/restore,
GET /deals/{id}/stage-history. Authorizer-protected; the tenant comes from its context."""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.api.concurrency import if_match
from crm.api.context import path_uuid, principal
from crm.api.contract import contract, responses
from crm.api.deal_schemas import DealIn, DealPatch
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
from crm.api.strict import StrictAwareDatetime
from crm.api.writes import idempotency_key, record_response, request_context
from crm.domain.deals import Deal, DealFilters, DealSort, DealSortField, StageStay
from crm.domain.errors import ValidationFailed
from crm.domain.pagination import PageRequest
from crm.domain.pipelines import StageKind
from crm.observability import bind_api_event, logger
from crm.services.deals import (
    NewDeal,
    create_deal,
    deal_stage_history,
    delete_deal,
    get_deal,
    list_deals,
    restore_deal,
    update_deal,
)
from crm.settings import ApiSettings
from crm.tracing import tracer

settings = ApiSettings.from_env()
app = build_resolver()

SORT_KINDS = {
    DealSortField.CREATED_AT: SortKind.DATETIME,
    DealSortField.UPDATED_AT: SortKind.DATETIME,
    DealSortField.VALUE: SortKind.DECIMAL,
    DealSortField.EXPECTED_CLOSE_DATE: SortKind.DATE,
}
HISTORY_SCOPE = "deal-stage-history:entered_at:asc"
Moment = Annotated[StrictAwareDatetime | None, Query(description="RFC 3339 with an offset")]


def _db() -> Any:
    return bootstrap.database(settings.database_url, settings.amqp_url, settings.database_pool_size)


def _range(after: datetime | None, before: datetime | None, name: str) -> None:
    if after is not None and before is not None and after >= before:
        raise ValidationFailed(
            "the time range is empty",
            [
                {
                    "loc": ["query", f"{name}_before"],
                    "msg": f"must be after {name}_after",
                    "type": "value_error",
                }
            ],
        )


@app.get("/deals", responses=responses(200))
@tracer.capture_method
def read_deals(
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
    sort: Annotated[DealSortField, Query()] = DealSortField.CREATED_AT,
    order: Annotated[Literal["asc", "desc"], Query()] = "desc",
    pipeline_id: Annotated[uuid.UUID | None, Query()] = None,
    stage_id: Annotated[uuid.UUID | None, Query()] = None,
    owner_id: Annotated[uuid.UUID | None, Query()] = None,
    status: Annotated[StageKind | None, Query()] = None,
    created_after: Moment = None,
    created_before: Moment = None,
    updated_after: Moment = None,
    updated_before: Moment = None,
) -> Response[dict[str, Any]]:
    """Live deals (not deleted), filtered and sorted; `next_cursor` continues the same sort.
    expected_close_date sorts deals without one last (asc) or first (desc)."""
    caller = require(principal(app), "deals:read")
    _range(created_after, created_before, "created")
    _range(updated_after, updated_before, "updated")
    deal_sort = DealSort(sort, descending=order == "desc")
    kind = SORT_KINDS[sort]
    after = decode_keyset(cursor, deal_sort.scope, kind, nullable=sort.nullable)
    page = list_deals(
        caller,
        DealFilters(
            pipeline_id=pipeline_id,
            stage_id=stage_id,
            owner_id=owner_id,
            status=status,
            created_after=created_after,
            created_before=created_before,
            updated_after=updated_after,
            updated_before=updated_before,
        ),
        deal_sort,
        PageRequest(limit, after),
        unit_of_work=_db().unit_of_work,
    )
    return json_response(200, page_body(page, Deal.to_dict, deal_sort.scope, kind))


@app.post("/deals", responses=responses(201))
@tracer.capture_method
@contract(idempotency_key="optional")
def post_deal(body: DealIn) -> Response[dict[str, Any]]:
    context = request_context(app)
    require(context.principal, "deals:create")
    fields = body.model_dump()
    deal, replayed = create_deal(
        NewDeal(**fields, assign_to_caller="owner_id" not in body.model_fields_set),
        context,
        unit_of_work=_db().unit_of_work,
        request=body.model_dump(mode="json", exclude_unset=True),
        idempotency_key=idempotency_key(app),
    )
    return record_response(201, deal, location=f"/deals/{deal['id']}", replayed=replayed)


@app.get("/deals/<deal_id>", responses=responses(200))
@tracer.capture_method
def read_deal(deal_id: str) -> Response[dict[str, Any]]:
    deal = get_deal(
        path_uuid(deal_id, "deal"),
        require(principal(app), "deals:read"),
        unit_of_work=_db().unit_of_work,
    )
    return record_response(200, deal)


@app.patch("/deals/<deal_id>", responses=responses(200))
@tracer.capture_method
@contract(if_match=True)
def patch_deal(deal_id: str, body: DealPatch) -> Response[dict[str, Any]]:
    context = request_context(app)
    require(context.principal, "deals:update")
    deal = update_deal(
        path_uuid(deal_id, "deal"),
        body.named(),
        context,
        unit_of_work=_db().unit_of_work,
        precondition=if_match(app),
    )
    return record_response(200, deal)


@app.delete("/deals/<deal_id>", responses=responses(204))
@tracer.capture_method
@contract(if_match=True)
def remove_deal(deal_id: str) -> Response[None]:
    context = request_context(app)
    require(context.principal, "deals:delete")
    delete_deal(
        path_uuid(deal_id, "deal"),
        context,
        unit_of_work=_db().unit_of_work,
        precondition=if_match(app),
    )
    return Response(status_code=204, body=None)


@app.post("/deals/<deal_id>/restore", responses=responses(200))
@tracer.capture_method
@contract(idempotency_key="optional")
def post_restore(deal_id: str) -> Response[dict[str, Any]]:
    context = request_context(app)
    require(context.principal, "deals:delete")
    deal, replayed = restore_deal(
        path_uuid(deal_id, "deal"),
        context,
        unit_of_work=_db().unit_of_work,
        idempotency_key=idempotency_key(app),
    )
    return record_response(200, deal, replayed=replayed)


@app.get("/deals/<deal_id>/stage-history", responses=responses(200))
@tracer.capture_method
def read_stage_history(
    deal_id: str, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> Response[dict[str, Any]]:
    caller = require(principal(app), "deals:read")
    page = deal_stage_history(
        path_uuid(deal_id, "deal"),
        caller,
        PageRequest(limit, decode_keyset(cursor, HISTORY_SCOPE, SortKind.DATETIME)),
        unit_of_work=_db().unit_of_work,
    )
    now = datetime.now().astimezone()
    body = page_body(
        page, lambda stay: StageStay.to_dict(stay, now), HISTORY_SCOPE, SortKind.DATETIME
    )
    return json_response(200, body)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_api_event(event)
    return app.resolve(event, context)
