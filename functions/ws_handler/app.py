"""The WebSocket API's one handler, for its three route keys. One function rather than three:
the routes share their code, settings and database pool, and a connection warms one container.

- $connect (after the authorizer let the caller in): stores the connection under the tenant
  and user of the authorizer's context;
- $disconnect: deletes it (API Gateway sends it best-effort: the notifier also deletes a
  connection the Management API reports gone);
- $default: `{"action": "ping"}` is answered `{"type": "pong"}` (the route's response), and
  touches the connection; anything else gets an error message, nothing else happens.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.adapters.postgres.unit_of_work import PostgresDatabase
from crm.observability import logger
from crm.services import realtime
from crm.settings import WebSocketSettings

settings = WebSocketSettings.from_env()


@cache
def _database() -> PostgresDatabase:
    return bootstrap.database(settings.database_url, pool_size=settings.database_pool_size)


def _reply(status: int, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"statusCode": status, "body": json.dumps(body) if body is not None else ""}


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = event.get("requestContext") or {}
    route = request.get("routeKey")
    connection_id = str(request.get("connectionId") or "")
    try:
        caller = realtime.ConnectionCaller.from_context(request.get("authorizer") or {})
    except (KeyError, ValueError):
        # no $connect without the authorizer's context: API Gateway would not get here
        logger.error("no caller in the authorizer context", extra={"route": route})
        return _reply(403, {"message": "Forbidden"})
    logger.append_keys(tenant_id=str(caller.tenant_id), connection_id=connection_id)
    db = _database()
    if route == "$connect":
        with db.unit_of_work(caller.tenant_id) as uow:
            realtime.connect(uow, connection_id, caller, datetime.now(UTC))
        return _reply(200)
    if route == "$disconnect":
        with db.unit_of_work(caller.tenant_id) as uow:
            realtime.disconnect(uow, connection_id)
        return _reply(200)
    reply = realtime.answer(event.get("body"))
    if reply["type"] == "pong":
        with db.unit_of_work(caller.tenant_id) as uow:
            realtime.touch(uow, connection_id, datetime.now(UTC))
    return _reply(200, reply)
