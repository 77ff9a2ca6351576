"""Emails: POST /emails (queue one email to a lead, contact or user; 202), GET /emails (the
ledger, newest first) and GET /emails/{id} (with its status history); the suppression list
(GET/POST /suppressions, DELETE /suppressions/{address}); and the public one-click
unsubscribe of marketing emails (POST /unsubscribe?token=..., RFC 8058). Sending is the email
worker's job (q.email, crm.services.emails)."""

import uuid
from typing import Annotated, Any, Literal
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.api.context import path_uuid, principal
from crm.api.contract import contract, responses
from crm.api.email_schemas import EmailIn, SuppressionIn
from crm.api.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, SortKind, decode_keyset, page_body
from crm.api.resolver import build_resolver
from crm.api.responses import json_response
from crm.api.writes import idempotency_key, request_context
from crm.domain.emails import EMAIL_STATUSES, Email, EmailFilters, Suppression
from crm.domain.errors import ValidationFailed
from crm.domain.pagination import PageRequest
from crm.observability import bind_api_event, logger
from crm.services.emails import EmailCommand, get_email, list_emails, send_email
from crm.services.suppressions import list_suppressions, suppress, unsubscribe, unsuppress
from crm.settings import EmailsApiSettings
from crm.tracing import tracer
from pydantic import AwareDatetime

settings = EmailsApiSettings.from_env()
app = build_resolver()
LIST_SCOPE = "emails:created_at:desc"
SUPPRESSIONS_SCOPE = "suppressions:created_at:desc"
Moment = Annotated[AwareDatetime | None, Query(description="RFC 3339 with an offset")]


def _db() -> Any:
    return bootstrap.database(
        settings.database_url, settings.amqp_url, pool_size=settings.database_pool_size
    )


@app.post("/emails", responses=responses(202, 404))
@tracer.capture_method
@contract(idempotency_key="optional")
def post_email(body: EmailIn) -> Response[dict[str, Any]]:
    """Queue one email to a record (Idempotency-Key honoured). 202 with the email, status
    `queued`; follow it on GET /emails/{id}."""
    email, replayed = send_email(
        EmailCommand(
            record_type=body.to.type,
            record_id=body.to.id,
            subject=body.subject,
            text=body.text,
            html=body.html,
            template_id=body.template_id,
            variables=body.variables,
            marketing=body.marketing,
        ),
        request_context(app),
        unit_of_work=_db().unit_of_work,
        from_address=settings.mail_from,
        idempotency_key=idempotency_key(app),
    )
    headers = {"Location": f"/emails/{email['id']}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(202, email, **headers)


@app.get("/emails", responses=responses(200))
@tracer.capture_method
def get_emails(
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
    record_type: Annotated[Literal["lead", "contact", "user"] | None, Query()] = None,
    record_id: Annotated[str | None, Query(max_length=36)] = None,
    status: Annotated[
        str | None,
        Query(max_length=200, description="comma-separated: " + ", ".join(EMAIL_STATUSES)),
    ] = None,
    template_id: Annotated[str | None, Query(max_length=36)] = None,
    created_after: Moment = None,
    created_before: Moment = None,
) -> Response[dict[str, Any]]:
    """The tenant's emails, newest first (a seller sees those they sent), without bodies."""
    filters = EmailFilters(
        record_kind=record_type,
        record_id=_query_uuid(record_id, "record_id"),
        statuses=_statuses(status),
        template_id=_query_uuid(template_id, "template_id"),
        created_after=created_after,
        created_before=created_before,
    )
    after = decode_keyset(cursor, LIST_SCOPE, SortKind.DATETIME)
    page = list_emails(
        filters, principal(app), PageRequest(limit, after), unit_of_work=_db().unit_of_work
    )
    return json_response(
        200,
        page_body(page, lambda e: Email.to_dict(e, with_body=False), LIST_SCOPE, SortKind.DATETIME),
    )


@app.get("/suppressions", responses=responses(200))
@tracer.capture_method
def get_suppressions(
    limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> Response[dict[str, Any]]:
    """Addresses no email goes to (bounce, complaint, unsubscribe, manual), newest first."""
    after = decode_keyset(cursor, SUPPRESSIONS_SCOPE, SortKind.DATETIME)
    page = list_suppressions(
        principal(app), PageRequest(limit, after), unit_of_work=_db().unit_of_work
    )
    return json_response(
        200, page_body(page, Suppression.to_dict, SUPPRESSIONS_SCOPE, SortKind.DATETIME)
    )


@app.post("/suppressions", responses=responses(204))
@tracer.capture_method
def post_suppression(body: SuppressionIn) -> Response[str]:
    """Stop emailing an address (409 when it is listed already); audited."""
    suppress(body.address, request_context(app), unit_of_work=_db().unit_of_work)
    return Response(status_code=204, body="")


@app.delete("/suppressions/<address>", responses=responses(204))
@tracer.capture_method
def delete_suppression(address: str) -> Response[str]:
    """Email an address again (404 when it is not listed); audited."""
    unsuppress(unquote(address), request_context(app), unit_of_work=_db().unit_of_work)
    return Response(status_code=204, body="")


@app.post("/unsubscribe", responses=responses(200, 404))
@tracer.capture_method
def post_unsubscribe(
    token: Annotated[str, Query(min_length=1, max_length=100, description="from the link")],
) -> Response[dict[str, Any]]:
    """One-click unsubscribe (RFC 8058: mail clients POST `List-Unsubscribe=One-Click` to the
    List-Unsubscribe URL of a marketing email). Public; the token names the email."""
    return json_response(200, unsubscribe(token, unit_of_work=_db().unit_of_work))


@app.get("/emails/<email_id>", responses=responses(200))
@tracer.capture_method
def read_email(email_id: str) -> dict[str, Any]:
    """One email with its bodies (cleared once sent for invitations and resets) and status
    history."""
    return get_email(path_uuid(email_id, "email"), principal(app), unit_of_work=_db().unit_of_work)


def _query_uuid(value: str | None, name: str) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationFailed(
            f"{name} is not a UUID",
            [{"loc": ["query", name], "msg": "expected a UUID", "type": "uuid_parsing"}],
        ) from None


def _statuses(value: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    wanted = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [part for part in wanted if part not in EMAIL_STATUSES]
    if unknown or not wanted:
        raise ValidationFailed(
            "unknown email status",
            [{"loc": ["query", "status"], "type": "value_error",
              "msg": f"expected a comma-separated list of {', '.join(EMAIL_STATUSES)}"}],
        )  # fmt: skip
    return wanted


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_api_event(event)
    return app.resolve(event, context)
