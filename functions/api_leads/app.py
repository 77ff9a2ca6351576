"""GET/POST /leads, GET /leads/export, POST /leads/import, GET /imports/{id},
POST /imports/{id}/start, GET/PATCH/DELETE /leads/{id}, POST /leads/{id}/restore,
POST /leads/{id}/merge, POST /leads/{id}/convert, POST/DELETE /leads/{id}/tags/{tag},
GET /leads/{id}/history.
Authorizer-protected; the tenant comes from its context."""

import uuid
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.api.concurrency import if_match
from crm.api.context import path_uuid, principal
from crm.api.contract import contract, responses
from crm.api.guards import require
from crm.api.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, SortKind, decode_keyset, page_body
from crm.api.person_routes import PersonRoutes
from crm.api.record_queries import (
    SORT_KINDS,
    Moment,
    SearchText,
    comma_list,
    custom_field_filters,
    export_response,
    record_query,
)
from crm.api.record_schemas import ConvertIn, ImportIn, LeadIn, LeadPatch, MergeIn, NoteIn
from crm.api.resolver import build_resolver
from crm.api.responses import json_response
from crm.api.writes import idempotency_key, record_response, request_context
from crm.domain.errors import ValidationFailed
from crm.domain.imports import DedupPolicy, ImportJob
from crm.domain.leads import Lead, LeadStatus
from crm.domain.pagination import PageRequest
from crm.domain.records import RecordKind, RecordSortField
from crm.observability import bind_api_event, logger
from crm.services.deals import NewDeal
from crm.services.exports import export_records
from crm.services.imports import (
    ImportRequest,
    get_import,
    list_imports,
    request_import,
    start_import,
)
from crm.services.leads import (
    Conversion,
    NewLead,
    convert_lead,
    create_lead,
    delete_lead,
    get_lead,
    lead_history,
    list_leads,
    merge_leads,
    restore_lead,
    tag_lead,
    update_lead,
)
from crm.settings import LeadsApiSettings
from crm.tracing import tracer

settings = LeadsApiSettings.from_env()
app = build_resolver()

MAX_ROW = 2**31 - 1  # the error report's row is a PostgreSQL integer
IMPORTS_SCOPE = "imports:created_at:desc"


def _db() -> Any:
    return bootstrap.database(settings.database_url, settings.amqp_url, settings.database_pool_size)


def _unit_of_work() -> Any:
    return _db().unit_of_work


records = PersonRoutes(
    app,
    RecordKind.LEAD,
    _unit_of_work,
    get=get_lead,
    update=update_lead,
    delete=delete_lead,
    restore=restore_lead,
    tag=tag_lead,
    history=lead_history,
)


def _statuses(value: str | None) -> tuple[str, ...]:
    statuses = comma_list(value)
    known = {status.value for status in LeadStatus}
    unknown = [status for status in statuses if status not in known]
    if unknown:
        raise ValidationFailed(
            "unknown lead status",
            [
                {
                    "loc": ["query", "status"],
                    "msg": f"one or more of {sorted(known)}, comma-separated",
                    "type": "value_error",
                }
            ],
        )
    return statuses


Sort = Annotated[RecordSortField, Query()]
Order = Annotated[Literal["asc", "desc"], Query()]
Status = Annotated[str | None, Query(max_length=100, description="comma-separated")]
Owner = Annotated[uuid.UUID | None, Query()]
Unassigned = Annotated[bool, Query(description="only leads nobody owns")]
Tag = Annotated[str | None, Query(max_length=500, description="comma-separated: all")]
Category = Annotated[str | None, Query(max_length=60)]
Source = Annotated[str | None, Query(max_length=60)]
Deleted = Annotated[bool, Query(description="the trash: deleted, restorable leads")]


@app.get("/leads", responses=responses(200))
@tracer.capture_method
def read_leads(
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
    sort: Sort = RecordSortField.CREATED_AT,
    order: Order = "desc",
    q: SearchText = None,
    status: Status = None,
    owner_id: Owner = None,
    unassigned: Unassigned = False,
    tag: Tag = None,
    category: Category = None,
    source: Source = None,
    created_after: Moment = None,
    created_before: Moment = None,
    updated_after: Moment = None,
    updated_before: Moment = None,
    deleted: Deleted = False,
) -> Response[dict[str, Any]]:
    """Leads, filtered, searched and sorted; `next_cursor` continues the same sort. Custom
    fields filter as `cf.<key>=<value>` (multi-select: has the option). score sorts leads
    without one last (asc) or first (desc)."""
    lead_sort, filters = record_query(
        RecordKind.LEAD, sort, order, q, owner_id, unassigned, tag, category,
        created_after, created_before, updated_after, updated_before, deleted,
        statuses=_statuses(status), source=source,
    )  # fmt: skip
    kind = SORT_KINDS[sort]
    after = decode_keyset(cursor, lead_sort.scope, kind, nullable=sort.nullable)
    page = list_leads(
        principal(app),
        filters,
        lead_sort,
        PageRequest(limit, after),
        unit_of_work=_db().unit_of_work,
        custom_filters=custom_field_filters(app),
    )
    return json_response(200, page_body(page, Lead.to_dict, lead_sort.scope, kind))


@app.post("/leads", responses=responses(201))
@tracer.capture_method
@contract(idempotency_key="optional")
def post_lead(body: LeadIn) -> Response[dict[str, Any]]:
    context = request_context(app)
    fields = body.model_dump()
    lead, replayed = create_lead(
        NewLead(
            **{**fields, "status": LeadStatus(fields["status"])},
            assign_to_caller="owner_id" not in body.model_fields_set,
        ),
        context.principal,
        unit_of_work=_db().unit_of_work,
        idempotency_key=idempotency_key(app),
        correlation_id=context.correlation_id,
        meta=context.meta,
        request=body.model_dump(mode="json", exclude_unset=True),
    )
    return record_response(201, lead, location=f"/leads/{lead['id']}", replayed=replayed)


@app.get("/leads/export", responses=responses(200, media_type="text/csv"))
@tracer.capture_method
def export_leads(
    sort: Sort = RecordSortField.CREATED_AT,
    order: Order = "desc",
    q: SearchText = None,
    status: Status = None,
    owner_id: Owner = None,
    unassigned: Unassigned = False,
    tag: Tag = None,
    category: Category = None,
    source: Source = None,
    created_after: Moment = None,
    created_before: Moment = None,
    updated_after: Moment = None,
    updated_before: Moment = None,
    deleted: Deleted = False,
) -> Response[Any]:
    """The leads of GET /leads with the same parameters, as CSV: in the response up to
    10,000 rows, else `{url, rows, expires_in}` (a download link)."""
    lead_sort, filters = record_query(
        RecordKind.LEAD, sort, order, q, owner_id, unassigned, tag, category,
        created_after, created_before, updated_after, updated_before, deleted,
        statuses=_statuses(status), source=source,
    )  # fmt: skip
    export = export_records(
        RecordKind.LEAD,
        request_context(app),
        filters,
        lead_sort,
        unit_of_work=_db().unit_of_work,
        files=bootstrap.files(settings.imports_bucket),
        custom_filters=custom_field_filters(app),
    )
    return export_response(export)


@app.post("/leads/import", responses=responses(201))
@tracer.capture_method
@contract(idempotency_key="optional")
def post_import(body: ImportIn) -> Response[dict[str, Any]]:
    """Import leads from CSV in the background. Without `csv` the answer has an
    `upload_url`: PUT the file there (Content-Type text/csv), then POST /imports/{id}/start."""
    job, replayed = request_import(
        ImportRequest(
            mapping=body.mapping,
            dedup_policy=DedupPolicy(body.dedup_policy),
            file_name=body.file_name,
            owner_id=body.owner_id,
            assign_to_caller="owner_id" not in body.model_fields_set,
            tags=body.tags,
            trigger_automations=body.trigger_automations,
            csv=body.csv,
        ),
        request_context(app),
        unit_of_work=_db().unit_of_work,
        files=bootstrap.files(settings.imports_bucket),
        jobs=bootstrap.job_starter(settings.import_worker_function),
        request=body.model_dump(mode="json", exclude_unset=True),
        idempotency_key=idempotency_key(app),
    )
    headers = {"Location": f"/imports/{job['id']}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(201, job, **headers)


@app.post("/imports/<import_id>/start", responses=responses(202))
@tracer.capture_method
def post_start_import(import_id: str) -> Response[dict[str, Any]]:
    job = start_import(
        path_uuid(import_id, "import"),
        request_context(app),
        unit_of_work=_db().unit_of_work,
        files=bootstrap.files(settings.imports_bucket),
        jobs=bootstrap.job_starter(settings.import_worker_function),
    )
    return json_response(202, job, Location=f"/imports/{job['id']}")


@app.get("/imports", responses=responses(200))
@tracer.capture_method
def read_imports(
    limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> Response[dict[str, Any]]:
    """The tenant's imports, newest first, with their status and counts (a role limited to its
    own records sees the imports it made); GET /imports/{id} has the row error report."""
    page = list_imports(
        principal(app),
        PageRequest(limit, decode_keyset(cursor, IMPORTS_SCOPE, SortKind.DATETIME)),
        unit_of_work=_db().unit_of_work,
    )
    return json_response(200, page_body(page, ImportJob.to_dict, IMPORTS_SCOPE, SortKind.DATETIME))


@app.get("/imports/<import_id>", responses=responses(200))
@tracer.capture_method
def read_import(
    import_id: str,
    errors_after: Annotated[
        int, Query(ge=0, le=MAX_ROW, description="the report continues after this row")
    ] = 0,
    errors_limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response[dict[str, Any]]:
    """Status, progress and the per-row error report (row, column, field, why), by row;
    `errors_next` is the `errors_after` of the report's next part."""
    job, errors = get_import(
        path_uuid(import_id, "import"),
        principal(app),
        unit_of_work=_db().unit_of_work,
        errors_after=errors_after,
        errors_limit=errors_limit,
    )
    shown = errors[:errors_limit]
    more = len(errors) > errors_limit
    body = {
        **job.to_dict(),
        "errors": [error.to_dict() for error in shown],
        "errors_next": shown[-1].row if more else None,
    }
    return json_response(200, body)


@app.get("/leads/<lead_id>", responses=responses(200))
@tracer.capture_method
def read_lead(lead_id: str) -> Response[dict[str, Any]]:
    return records.read(lead_id)


@app.patch("/leads/<lead_id>", responses=responses(200))
@tracer.capture_method
@contract(if_match=True)
def patch_lead(lead_id: str, body: LeadPatch) -> Response[dict[str, Any]]:
    return records.patch(lead_id, body.named())


@app.delete("/leads/<lead_id>", responses=responses(204))
@tracer.capture_method
@contract(if_match=True)
def remove_lead(lead_id: str) -> Response[None]:
    return records.remove(lead_id)


@app.post("/leads/<lead_id>/restore", responses=responses(200))
@tracer.capture_method
@contract(idempotency_key="optional")
def post_restore(lead_id: str) -> Response[dict[str, Any]]:
    return records.restored(lead_id)


@app.post("/leads/<lead_id>/merge", responses=responses(200))
@tracer.capture_method
@contract(if_match=True, idempotency_key="optional")
def post_merge(lead_id: str, body: MergeIn) -> Response[dict[str, Any]]:
    lead, replayed = merge_leads(
        path_uuid(lead_id, "lead"),
        body.lead_id,
        request_context(app),
        unit_of_work=_db().unit_of_work,
        idempotency_key=idempotency_key(app),
        precondition=if_match(app),
    )
    return record_response(200, lead, replayed=replayed)


@app.post("/leads/<lead_id>/convert", responses=responses(200))
@tracer.capture_method
@contract(if_match=True, idempotency_key="optional")
def post_convert(lead_id: str, body: ConvertIn) -> Response[dict[str, Any]]:
    context = request_context(app)
    require(context.principal, "contacts:create")
    deal = None
    if body.deal is not None:
        require(context.principal, "deals:create")
        deal = NewDeal(
            **body.deal.model_dump(),
            assign_to_caller="owner_id" not in body.deal.model_fields_set,
        )
    result, replayed = convert_lead(
        path_uuid(lead_id, "lead"),
        Conversion(
            contact_id=body.contact_id,
            job_title=body.job_title,
            contact_custom_fields=body.contact_custom_fields,
            deal=deal,
        ),
        context,
        unit_of_work=_db().unit_of_work,
        request=body.model_dump(mode="json", exclude_unset=True),
        idempotency_key=idempotency_key(app),
        precondition=if_match(app),
    )
    headers = {"ETag": f'"{result["lead"]["version"]}"'}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(200, result, **headers)


@app.post("/leads/<lead_id>/tags/<tag>", responses=responses(200))
@tracer.capture_method
@contract(if_match=True)
def post_tag(lead_id: str, tag: str) -> Response[dict[str, Any]]:
    return records.tagged(lead_id, tag, add=True)


@app.delete("/leads/<lead_id>/tags/<tag>", responses=responses(200))
@tracer.capture_method
@contract(if_match=True)
def delete_tag(lead_id: str, tag: str) -> Response[dict[str, Any]]:
    return records.tagged(lead_id, tag, add=False)


@app.get("/leads/<lead_id>/history", responses=responses(200))
@tracer.capture_method
def read_history(
    lead_id: str, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> Response[dict[str, Any]]:
    return records.history_page(lead_id, limit, cursor)


@app.post("/leads/<lead_id>/notes", responses=responses(201))
@tracer.capture_method
@contract(idempotency_key="optional")
def post_note(lead_id: str, body: NoteIn) -> Response[dict[str, Any]]:
    return records.note(lead_id, body.body)


@app.get("/leads/<lead_id>/timeline", responses=responses(200))
@tracer.capture_method
def read_timeline(
    lead_id: str, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> Response[dict[str, Any]]:
    """Changes, notes and automation runs, newest first."""
    return records.timeline_page(lead_id, limit, cursor)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_api_event(event)
    return app.resolve(event, context)
