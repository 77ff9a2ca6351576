"""Email templates: GET/POST /email-templates, GET/PATCH/DELETE /email-templates/{id}
(If-Match; each PATCH is a new version) and POST /email-templates/{id}/preview (rendered for a
record). Jinja2's sandbox with autoescaped HTML; unknown variables are a 422 at save."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.api.concurrency import if_match
from crm.api.context import path_uuid, principal
from crm.api.contract import contract, responses
from crm.api.email_schemas import EmailTemplateIn, EmailTemplatePatch, PreviewIn
from crm.api.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, SortKind, decode_keyset, page_body
from crm.api.resolver import build_resolver
from crm.api.responses import json_response
from crm.api.writes import idempotency_key, record_response, request_context
from crm.domain.email_templates import EmailTemplate, TemplateContent
from crm.domain.pagination import PageRequest
from crm.observability import bind_api_event, logger
from crm.services.email_templates import (
    TemplateChanges,
    create_template,
    delete_template,
    get_template,
    list_templates,
    preview_template,
    update_template,
)
from crm.settings import DatabaseSettings
from crm.tracing import tracer

settings = DatabaseSettings.from_env()
app = build_resolver()
LIST_SCOPE = "email-templates:created_at:desc"


def _db() -> Any:
    return bootstrap.database(settings.database_url, pool_size=settings.database_pool_size)


@app.post("/email-templates", responses=responses(201))
@tracer.capture_method
@contract(idempotency_key="optional")
def post_template(body: EmailTemplateIn) -> Response[dict[str, Any]]:
    """A template (version 1). 422 names the part (subject, html, text) that uses an unknown
    variable or does not parse."""
    template, replayed = create_template(
        body.name,
        TemplateContent(body.subject, body.html, body.text),
        request_context(app),
        unit_of_work=_db().unit_of_work,
        idempotency_key=idempotency_key(app),
    )
    return record_response(
        201, template, location=f"/email-templates/{template['id']}", replayed=replayed
    )


@app.get("/email-templates", responses=responses(200))
@tracer.capture_method
def get_templates(
    limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> Response[dict[str, Any]]:
    after = decode_keyset(cursor, LIST_SCOPE, SortKind.DATETIME)
    page = list_templates(
        principal(app), PageRequest(limit, after), unit_of_work=_db().unit_of_work
    )
    return json_response(200, page_body(page, EmailTemplate.to_dict, LIST_SCOPE, SortKind.DATETIME))


@app.get("/email-templates/<template_id>", responses=responses(200))
@tracer.capture_method
def read_template(template_id: str) -> Response[dict[str, Any]]:
    template = get_template(
        path_uuid(template_id, "email template"), principal(app), unit_of_work=_db().unit_of_work
    )
    return record_response(200, template)


@app.patch("/email-templates/<template_id>", responses=responses(200))
@tracer.capture_method
@contract(if_match=True)
def patch_template(template_id: str, body: EmailTemplatePatch) -> Response[dict[str, Any]]:
    """A new version of the template; the earlier versions stay (sent emails name theirs)."""
    named = body.model_fields_set
    template = update_template(
        path_uuid(template_id, "email template"),
        TemplateChanges(
            name=body.name,
            subject=body.subject,
            html=body.html,
            text=body.text,
            clear_html="html" in named and body.html is None,
            clear_text="text" in named and body.text is None,
        ),
        request_context(app),
        unit_of_work=_db().unit_of_work,
        precondition=if_match(app),
    )
    return record_response(200, template)


@app.delete("/email-templates/<template_id>", responses=responses(204))
@tracer.capture_method
@contract(if_match=True)
def remove_template(template_id: str) -> Response[str]:
    delete_template(
        path_uuid(template_id, "email template"),
        request_context(app),
        unit_of_work=_db().unit_of_work,
        precondition=if_match(app),
    )
    return Response(status_code=204, body="")


@app.post("/email-templates/<template_id>/preview", responses=responses(200))
@tracer.capture_method
def preview(template_id: str, body: PreviewIn) -> Response[dict[str, Any]]:
    """The template rendered for a record the caller can see, as it would be sent now."""
    rendered = preview_template(
        path_uuid(template_id, "email template"),
        body.record.type,
        body.record.id,
        body.variables,
        principal(app),
        unit_of_work=_db().unit_of_work,
    )
    return json_response(200, rendered)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_api_event(event)
    return app.resolve(event, context)
