"""GET/POST /contacts, GET /contacts/export, GET/PATCH/DELETE /contacts/{id}, POST /contacts/{id}/restore,
POST/DELETE /contacts/{id}/tags/{tag}, GET /contacts/{id}/history.
Authorizer-protected; the tenant comes from its context."""

import uuid
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.api.context import principal
from crm.api.contract import contract, responses
from crm.api.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, decode_keyset, page_body
from crm.api.person_routes import PersonRoutes
from crm.api.record_queries import (
    SORT_KINDS,
    Moment,
    SearchText,
    custom_field_filters,
    export_response,
    record_query,
)
from crm.api.record_schemas import ContactIn, ContactPatch, NoteIn
from crm.api.resolver import build_resolver
from crm.api.responses import json_response
from crm.api.writes import idempotency_key, record_response, request_context
from crm.domain.contacts import Contact
from crm.domain.pagination import PageRequest
from crm.domain.records import RecordKind, RecordSortField
from crm.observability import bind_api_event, logger
from crm.services.contacts import (
    NewContact,
    contact_history,
    create_contact,
    delete_contact,
    get_contact,
    list_contacts,
    restore_contact,
    tag_contact,
    update_contact,
)
from crm.services.exports import export_records
from crm.settings import ContactsApiSettings
from crm.tracing import tracer

settings = ContactsApiSettings.from_env()
app = build_resolver()


def _db() -> Any:
    return bootstrap.database(settings.database_url, settings.amqp_url, settings.database_pool_size)


def _unit_of_work() -> Any:
    return _db().unit_of_work


records = PersonRoutes(
    app,
    RecordKind.CONTACT,
    _unit_of_work,
    get=get_contact,
    update=update_contact,
    delete=delete_contact,
    restore=restore_contact,
    tag=tag_contact,
    history=contact_history,
)


Sort = Annotated[RecordSortField, Query(description="score is for leads")]
Order = Annotated[Literal["asc", "desc"], Query()]
Owner = Annotated[uuid.UUID | None, Query()]
Unassigned = Annotated[bool, Query(description="only contacts nobody owns")]
Tag = Annotated[str | None, Query(max_length=500, description="comma-separated: all")]
Category = Annotated[str | None, Query(max_length=60)]
Deleted = Annotated[bool, Query(description="the trash: deleted, restorable contacts")]


@app.get("/contacts", responses=responses(200))
@tracer.capture_method
def read_contacts(
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
    sort: Sort = RecordSortField.CREATED_AT,
    order: Order = "desc",
    q: SearchText = None,
    owner_id: Owner = None,
    unassigned: Unassigned = False,
    tag: Tag = None,
    category: Category = None,
    created_after: Moment = None,
    created_before: Moment = None,
    updated_after: Moment = None,
    updated_before: Moment = None,
    deleted: Deleted = False,
) -> Response[dict[str, Any]]:
    """Contacts, filtered, searched (also job title) and sorted; `cf.<key>=<value>` filters
    custom fields."""
    contact_sort, filters = record_query(
        RecordKind.CONTACT, sort, order, q, owner_id, unassigned, tag, category,
        created_after, created_before, updated_after, updated_before, deleted,
    )  # fmt: skip
    kind = SORT_KINDS[sort]
    page = list_contacts(
        principal(app),
        filters,
        contact_sort,
        PageRequest(limit, decode_keyset(cursor, contact_sort.scope, kind)),
        unit_of_work=_db().unit_of_work,
        custom_filters=custom_field_filters(app),
    )
    return json_response(200, page_body(page, Contact.to_dict, contact_sort.scope, kind))


@app.post("/contacts", responses=responses(201))
@tracer.capture_method
@contract(idempotency_key="optional")
def post_contact(body: ContactIn) -> Response[dict[str, Any]]:
    contact, replayed = create_contact(
        NewContact(**body.model_dump(), assign_to_caller="owner_id" not in body.model_fields_set),
        request_context(app),
        unit_of_work=_db().unit_of_work,
        request=body.model_dump(mode="json", exclude_unset=True),
        idempotency_key=idempotency_key(app),
    )
    location = f"/contacts/{contact['id']}"
    return record_response(201, contact, location=location, replayed=replayed)


@app.get("/contacts/export", responses=responses(200, media_type="text/csv"))
@tracer.capture_method
def export_contacts(
    sort: Sort = RecordSortField.CREATED_AT,
    order: Order = "desc",
    q: SearchText = None,
    owner_id: Owner = None,
    unassigned: Unassigned = False,
    tag: Tag = None,
    category: Category = None,
    created_after: Moment = None,
    created_before: Moment = None,
    updated_after: Moment = None,
    updated_before: Moment = None,
    deleted: Deleted = False,
) -> Response[Any]:
    """The contacts of GET /contacts with the same parameters, as CSV (up to 10,000 rows
    inline, else a download link)."""
    contact_sort, filters = record_query(
        RecordKind.CONTACT, sort, order, q, owner_id, unassigned, tag, category,
        created_after, created_before, updated_after, updated_before, deleted,
    )  # fmt: skip
    export = export_records(
        RecordKind.CONTACT,
        request_context(app),
        filters,
        contact_sort,
        unit_of_work=_db().unit_of_work,
        files=bootstrap.files(settings.imports_bucket),
        custom_filters=custom_field_filters(app),
    )
    return export_response(export)


@app.get("/contacts/<contact_id>", responses=responses(200))
@tracer.capture_method
def read_contact(contact_id: str) -> Response[dict[str, Any]]:
    return records.read(contact_id)


@app.patch("/contacts/<contact_id>", responses=responses(200))
@tracer.capture_method
@contract(if_match=True)
def patch_contact(contact_id: str, body: ContactPatch) -> Response[dict[str, Any]]:
    return records.patch(contact_id, body.named())


@app.delete("/contacts/<contact_id>", responses=responses(204))
@tracer.capture_method
@contract(if_match=True)
def remove_contact(contact_id: str) -> Response[None]:
    return records.remove(contact_id)


@app.post("/contacts/<contact_id>/restore", responses=responses(200))
@tracer.capture_method
@contract(idempotency_key="optional")
def post_restore(contact_id: str) -> Response[dict[str, Any]]:
    return records.restored(contact_id)


@app.post("/contacts/<contact_id>/tags/<tag>", responses=responses(200))
@tracer.capture_method
@contract(if_match=True)
def post_tag(contact_id: str, tag: str) -> Response[dict[str, Any]]:
    return records.tagged(contact_id, tag, add=True)


@app.delete("/contacts/<contact_id>/tags/<tag>", responses=responses(200))
@tracer.capture_method
@contract(if_match=True)
def delete_tag(contact_id: str, tag: str) -> Response[dict[str, Any]]:
    return records.tagged(contact_id, tag, add=False)


@app.get("/contacts/<contact_id>/history", responses=responses(200))
@tracer.capture_method
def read_history(
    contact_id: str, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> Response[dict[str, Any]]:
    return records.history_page(contact_id, limit, cursor)


@app.post("/contacts/<contact_id>/notes", responses=responses(201))
@tracer.capture_method
@contract(idempotency_key="optional")
def post_note(contact_id: str, body: NoteIn) -> Response[dict[str, Any]]:
    return records.note(contact_id, body.body)


@app.get("/contacts/<contact_id>/timeline", responses=responses(200))
@tracer.capture_method
def read_timeline(
    contact_id: str, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> Response[dict[str, Any]]:
    """Changes, notes and automation runs, newest first."""
    return records.timeline_page(contact_id, limit, cursor)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_api_event(event)
    return app.resolve(event, context)
