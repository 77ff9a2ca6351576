"""Users of the caller's tenant: list, read, invite, change; and accepting an invitation
(public: the emailed token is the credential)."""

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.api.concurrency import etag, if_match
from crm.api.context import header, path_uuid, principal, request_meta
from crm.api.contract import contract, responses
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
from crm.api.schemas import AcceptInvitationIn, InviteIn, UserPatchIn
from crm.domain.members import Member
from crm.domain.pagination import PageRequest
from crm.observability import bind_api_event, logger
from crm.services.emails import enqueue_email
from crm.services.users import (
    Invite,
    accept_invitation,
    get_user,
    invite_user,
    list_users,
    update_user,
)
from crm.settings import UsersApiSettings
from crm.tracing import tracer

settings = UsersApiSettings.from_env()
app = build_resolver()

INVITATION_PATH = "/accept-invitation"
LIST_SCOPE = "users:created_at:asc"


def _db() -> Any:
    return bootstrap.database(
        settings.database_url, settings.amqp_url, pool_size=settings.database_pool_size
    )


@app.get("/users", responses=responses(200))
@tracer.capture_method
def read_users(
    role: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[Literal["pending", "active", "deactivated"] | None, Query()] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> dict[str, Any]:
    caller = principal(app)
    after = decode_keyset(cursor, LIST_SCOPE, SortKind.DATETIME)
    page = list_users(
        caller,
        PageRequest(limit, after),
        unit_of_work=_db().unit_of_work,
        role=role,
        status=status,
    )
    return page_body(page, Member.to_dict, LIST_SCOPE, SortKind.DATETIME)


@app.post("/users", responses=responses(201))
@tracer.capture_method
@contract(idempotency_key="optional")
def post_user(body: InviteIn) -> Response[dict[str, Any]]:
    user, replayed = invite_user(
        Invite(email=body.email, name=body.name, role=body.role),
        principal(app),
        unit_of_work=_db().unit_of_work,
        mail=enqueue_email,
        mail_from=settings.mail_from,
        accept_url=settings.base_url + INVITATION_PATH,
        meta=request_meta(app),
        idempotency_key=header(app, "Idempotency-Key"),
    )
    headers = {"Location": f"/users/{user['id']}", "ETag": etag(int(user["version"]))}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(201, user, **headers)


@app.get("/users/<user_id>", responses=responses(200))
@tracer.capture_method
def read_user(user_id: str) -> Response[dict[str, Any]]:
    user = get_user(path_uuid(user_id, "user"), principal(app), unit_of_work=_db().unit_of_work)
    return json_response(200, user, ETag=etag(int(user["version"])))


@app.patch("/users/<user_id>", responses=responses(200))
@tracer.capture_method
@contract(if_match=True)
def patch_user(user_id: str, body: UserPatchIn) -> Response[dict[str, Any]]:
    user = update_user(
        path_uuid(user_id, "user"),
        body.model_dump(exclude_none=True),
        principal(app),
        unit_of_work=_db().unit_of_work,
        meta=request_meta(app),
        precondition=if_match(app),
    )
    return json_response(200, user, ETag=etag(int(user["version"])))


@app.post("/invitations/accept", responses=responses(200, 404, 409, 410))
@tracer.capture_method
def post_acceptance(body: AcceptInvitationIn) -> dict[str, Any]:
    return accept_invitation(
        body.token,
        body.password,
        body.name,
        unit_of_work=_db().unit_of_work,
        hasher=bootstrap.password_hasher(),
        meta=request_meta(app),
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_api_event(event)
    return app.resolve(event, context)
