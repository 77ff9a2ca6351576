"""GET /audit-logs: the tenant's audit trail, newest first, filtered, cursor-paginated."""

import uuid
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.api.context import principal
from crm.api.contract import responses
from crm.api.pagination import (
    DEFAULT_PAGE_SIZE,
    Cursor,
    Limit,
    SortKind,
    TieBreak,
    decode_keyset,
    page_body,
)
from crm.api.resolver import build_resolver
from crm.api.strict import StrictDatetime
from crm.domain.audit import AuditRecord
from crm.domain.pagination import PageRequest
from crm.observability import bind_api_event, logger
from crm.services.audit_logs import list_audit_logs
from crm.settings import DatabaseSettings
from crm.tracing import tracer

settings = DatabaseSettings.from_env()
app = build_resolver()
# The log's tie-break is its bigint id (crm.domain.pagination.RowId).
LIST_SCOPE = "audit-logs:occurred_at:desc"


@app.get("/audit-logs", responses=responses(200))
@tracer.capture_method
def read_audit_logs(
    actor_id: Annotated[uuid.UUID | None, Query(description="user or API key id")] = None,
    action: Annotated[
        str | None, Query(max_length=100, description="e.g. user.role_changed")
    ] = None,
    entity_type: Annotated[str | None, Query(max_length=50)] = None,
    entity_id: Annotated[str | None, Query(max_length=100)] = None,
    since: Annotated[StrictDatetime | None, Query(description="inclusive, ISO 8601")] = None,
    until: Annotated[StrictDatetime | None, Query(description="exclusive, ISO 8601")] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> dict[str, Any]:
    caller = principal(app)
    after = decode_keyset(cursor, LIST_SCOPE, SortKind.DATETIME, tie_break=TieBreak.BIGINT)
    db = bootstrap.database(settings.database_url, pool_size=settings.database_pool_size)
    page = list_audit_logs(
        caller,
        PageRequest(limit, after),
        unit_of_work=db.unit_of_work,
        actor_id=actor_id,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        since=since,
        until=until,
    )
    return page_body(page, AuditRecord.to_dict, LIST_SCOPE, SortKind.DATETIME)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_api_event(event)
    return app.resolve(event, context)
