"""The caller's in-app notifications: GET /notifications (newest first; `unread=true`),
POST /notifications/{id}/read, POST /notifications/read-all, and which kinds they receive
(GET/PUT /notifications/preferences). Any signed-in user, their own only."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.api.context import path_uuid, principal
from crm.api.contract import responses
from crm.api.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, SortKind, decode_keyset, page_body
from crm.api.resolver import build_resolver
from crm.api.responses import json_response
from crm.domain.notifications import NOTIFICATION_KINDS, Notification
from crm.domain.pagination import PageRequest
from crm.observability import bind_api_event, logger
from crm.services.notifications import (
    list_notifications,
    mark_all_read,
    mark_read,
    preferences,
    set_preferences,
)
from crm.settings import DatabaseSettings
from crm.tracing import tracer
from pydantic import BaseModel, ConfigDict, Field

settings = DatabaseSettings.from_env()
app = build_resolver()
LIST_SCOPE = "notifications:created_at:desc"


class PreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    muted: list[str] = Field(
        max_length=len(NOTIFICATION_KINDS),
        description="kinds not to receive: " + ", ".join(NOTIFICATION_KINDS),
    )


def _db() -> Any:
    return bootstrap.database(settings.database_url, pool_size=settings.database_pool_size)


@app.get("/notifications", responses=responses(200))
@tracer.capture_method
def get_notifications(
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
    unread: Annotated[bool, Query(description="only the unread ones")] = False,
) -> Response[dict[str, Any]]:
    """The caller's notifications, newest first, with `unread_count`."""
    after = decode_keyset(cursor, LIST_SCOPE, SortKind.DATETIME)
    page, unread_count = list_notifications(
        principal(app), PageRequest(limit, after), unread_only=unread,
        unit_of_work=_db().unit_of_work,
    )  # fmt: skip
    body = page_body(page, Notification.to_dict, LIST_SCOPE, SortKind.DATETIME)
    return json_response(200, {**body, "unread_count": unread_count})


@app.post("/notifications/read-all", responses=responses(200))
@tracer.capture_method
def read_all() -> Response[dict[str, Any]]:
    count = mark_all_read(principal(app), unit_of_work=_db().unit_of_work)
    return json_response(200, {"marked_read": count})


@app.post("/notifications/<notification_id>/read", responses=responses(204))
@tracer.capture_method
def read_one(notification_id: str) -> Response[str]:
    mark_read(
        path_uuid(notification_id, "notification"), principal(app), unit_of_work=_db().unit_of_work
    )
    return Response(status_code=204, body="")


@app.get("/notifications/preferences", responses=responses(200))
@tracer.capture_method
def get_preferences() -> dict[str, Any]:
    return preferences(principal(app), unit_of_work=_db().unit_of_work)


@app.put("/notifications/preferences", responses=responses(200))
@tracer.capture_method
def put_preferences(body: PreferencesIn) -> dict[str, Any]:
    """Which kinds the caller does not want (the others are on)."""
    return set_preferences(body.muted, principal(app), unit_of_work=_db().unit_of_work)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_api_event(event)
    return app.resolve(event, context)
