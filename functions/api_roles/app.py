"""Roles: the built-in ones and the tenant's custom roles (built from the permission list)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.api.concurrency import etag, if_match
from crm.api.context import header, principal, request_meta
from crm.api.contract import contract, responses
from crm.api.resolver import build_resolver
from crm.api.responses import json_response, location
from crm.api.schemas import RoleIn, RolePatchIn
from crm.observability import bind_api_event, logger
from crm.services.roles import NewRole, create_role, list_roles, update_role
from crm.settings import DatabaseSettings
from crm.tracing import tracer

settings = DatabaseSettings.from_env()
app = build_resolver()


def _db() -> Any:
    return bootstrap.database(settings.database_url, pool_size=settings.database_pool_size)


@app.get("/roles", responses=responses(200))
@tracer.capture_method
def read_roles() -> dict[str, Any]:
    return list_roles(principal(app), unit_of_work=_db().unit_of_work)


@app.post("/roles", responses=responses(201))
@tracer.capture_method
@contract(idempotency_key="optional")
def post_role(body: RoleIn) -> Response[dict[str, Any]]:
    role, replayed = create_role(
        NewRole(
            key=body.key,
            name=body.name,
            description=body.description,
            permissions=frozenset(body.permissions),
            own_records_only=body.own_records_only,
        ),
        principal(app),
        unit_of_work=_db().unit_of_work,
        meta=request_meta(app),
        idempotency_key=header(app, "Idempotency-Key"),
    )
    headers = {"Location": location("roles", role["key"]), "ETag": etag(role["version"])}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(201, role, **headers)


@app.patch("/roles/<key>", responses=responses(200))
@tracer.capture_method
@contract(if_match=True)
def patch_role(key: str, body: RolePatchIn) -> Response[dict[str, Any]]:
    role = update_role(
        key,
        body.model_dump(exclude_none=True),
        principal(app),
        unit_of_work=_db().unit_of_work,
        meta=request_meta(app),
        precondition=if_match(app),
    )
    return json_response(200, role, ETag=etag(role["version"]))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_api_event(event)
    return app.resolve(event, context)
