"""GET/POST /tags, DELETE /tags/{tag}, GET/POST /categories, DELETE /categories/{category},
GET/POST /custom-fields, PATCH /custom-fields/{id}: the tenant-managed lists leads and contacts
refer to. Authorizer-protected; the tenant comes from its context."""

from typing import Annotated, Any, Literal
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.api.concurrency import if_match
from crm.api.context import path_uuid, principal
from crm.api.contract import contract, responses
from crm.api.record_schemas import CategoryIn, CustomFieldIn, CustomFieldPatch, TagIn
from crm.api.resolver import build_resolver
from crm.api.responses import json_response, location
from crm.api.writes import idempotency_key, record_response, request_context
from crm.domain.records import RecordKind
from crm.observability import bind_api_event, logger
from crm.services.taxonomy import (
    create_category,
    create_custom_field,
    create_tag,
    delete_category,
    delete_tag,
    list_categories,
    list_custom_fields,
    list_tags,
    update_custom_field,
)
from crm.settings import ApiSettings
from crm.tracing import tracer

settings = ApiSettings.from_env()
app = build_resolver()


def _db() -> Any:
    return bootstrap.database(settings.database_url, settings.amqp_url, settings.database_pool_size)


def _created(body: dict[str, Any], where: str, replayed: bool) -> Response[dict[str, Any]]:
    headers = {"Location": where}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(201, body, **headers)


@app.get("/tags", responses=responses(200))
@tracer.capture_method
def read_tags() -> Response[dict[str, Any]]:
    tags = list_tags(principal(app), unit_of_work=_db().unit_of_work)
    return json_response(200, {"items": [tag.to_dict() for tag in tags]})


@app.post("/tags", responses=responses(201))
@tracer.capture_method
@contract(idempotency_key="optional")
def post_tag(body: TagIn) -> Response[dict[str, Any]]:
    tag, replayed = create_tag(
        body.name,
        body.color,
        request_context(app),
        unit_of_work=_db().unit_of_work,
        idempotency_key=idempotency_key(app),
    )
    return _created(tag, location("tags", tag["name"]), replayed)


@app.delete("/tags/<tag>", responses=responses(200))
@tracer.capture_method
def remove_tag(tag: str) -> Response[dict[str, Any]]:
    changed = delete_tag(unquote(tag), request_context(app), unit_of_work=_db().unit_of_work)
    return json_response(200, {"deleted": unquote(tag).strip().lower(), "records_changed": changed})


@app.get("/categories", responses=responses(200))
@tracer.capture_method
def read_categories() -> Response[dict[str, Any]]:
    categories = list_categories(principal(app), unit_of_work=_db().unit_of_work)
    return json_response(200, {"items": [category.to_dict() for category in categories]})


@app.post("/categories", responses=responses(201))
@tracer.capture_method
@contract(idempotency_key="optional")
def post_category(body: CategoryIn) -> Response[dict[str, Any]]:
    category, replayed = create_category(
        body.name,
        request_context(app),
        unit_of_work=_db().unit_of_work,
        idempotency_key=idempotency_key(app),
    )
    return _created(category, location("categories", category["name"]), replayed)


@app.delete("/categories/<category>", responses=responses(200))
@tracer.capture_method
def remove_category(category: str) -> Response[dict[str, Any]]:
    name = unquote(category)
    changed = delete_category(name, request_context(app), unit_of_work=_db().unit_of_work)
    return json_response(200, {"deleted": name, "records_changed": changed})


@app.get("/custom-fields", responses=responses(200))
@tracer.capture_method
def read_custom_fields(
    entity: Annotated[Literal["lead", "contact"] | None, Query()] = None,
) -> Response[dict[str, Any]]:
    definitions = list_custom_fields(
        principal(app),
        RecordKind(entity) if entity else None,
        unit_of_work=_db().unit_of_work,
    )
    return json_response(200, {"items": [definition.to_dict() for definition in definitions]})


@app.post("/custom-fields", responses=responses(201))
@tracer.capture_method
@contract(idempotency_key="optional")
def post_custom_field(body: CustomFieldIn) -> Response[dict[str, Any]]:
    definition, replayed = create_custom_field(
        RecordKind(body.entity),
        body.key,
        body.label,
        body.type,
        body.required,
        body.options,
        request_context(app),
        unit_of_work=_db().unit_of_work,
        request=body.model_dump(mode="json", exclude_unset=True),
        idempotency_key=idempotency_key(app),
    )
    where = location("custom-fields", definition["id"])
    return record_response(201, definition, location=where, replayed=replayed)


@app.patch("/custom-fields/<field_id>", responses=responses(200))
@tracer.capture_method
@contract(if_match=True)
def patch_custom_field(field_id: str, body: CustomFieldPatch) -> Response[dict[str, Any]]:
    definition = update_custom_field(
        path_uuid(field_id, "custom field"),
        body.named(),
        request_context(app),
        unit_of_work=_db().unit_of_work,
        precondition=if_match(app),
    )
    return record_response(200, definition)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_api_event(event)
    return app.resolve(event, context)
