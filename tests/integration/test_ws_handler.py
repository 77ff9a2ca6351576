"""functions/ws_handler on real PostgreSQL (app role), with its sample events carrying a real
tenant and user in the authorizer context: $connect stores the connection, a ping is answered
with a pong and touches it, anything else gets an error message, $disconnect deletes it, and
an event without the authorizer's context is refused without touching the database."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
import uuid
from typing import Any

import pytest
from crm.adapters.postgres.migrations import MigrationResult
from crm.adapters.postgres.unit_of_work import PostgresDatabase

from local.environment import IMPORT_PLACEHOLDER_ENV
from local.registry import LambdaContext
from tests.conftest import make_tenant
from tests.support import ROOT, load_event


@pytest.fixture()
def handler(migrated: MigrationResult, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in {**IMPORT_PLACEHOLDER_ENV, "DATABASE_URL": migrated.app_url}.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location(
        f"ws_handler_{uuid.uuid4().hex}", ROOT / "functions/ws_handler/app.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    context = LambdaContext("WsHandlerFunction", "arn:aws:lambda:::function:ws", 512, 29)
    return lambda event: module.handler(event, context)


def as_caller(name: str, tenant_id: uuid.UUID, user_id: uuid.UUID, cid: str) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(load_event(f"ws_handler/{name}"))
    event["requestContext"]["connectionId"] = cid
    event["requestContext"]["authorizer"].update(tenant_id=str(tenant_id), user_id=str(user_id))
    return event


def rows(admin_conn: Any, cid: str) -> list[Any]:
    return list(
        admin_conn.run(
            "SELECT user_id, connected_at, last_seen_at FROM ws_connections"
            " WHERE connection_id = :c",
            c=cid,
        )
    )


def test_connect_ping_and_disconnect(handler: Any, db: PostgresDatabase, admin_conn: Any) -> None:
    tenant, owner = make_tenant(db, "wsh")
    cid = f"wsh-{uuid.uuid4().hex[:10]}"
    assert handler(as_caller("connect", tenant.id, owner.id, cid))["statusCode"] == 200
    [(user_id, connected_at, last_seen)] = rows(admin_conn, cid)
    assert user_id == owner.id and last_seen == connected_at
    pong = handler(as_caller("ping", tenant.id, owner.id, cid))
    assert (pong["statusCode"], json.loads(pong["body"])) == (200, {"type": "pong"})
    assert rows(admin_conn, cid)[0][2] > last_seen
    other = as_caller("ping", tenant.id, owner.id, cid)
    other["body"] = '{"action": "subscribe", "email": "x@y.z"}'
    assert json.loads(handler(other)["body"])["type"] == "error"
    assert handler(as_caller("disconnect", tenant.id, owner.id, cid))["statusCode"] == 200
    assert rows(admin_conn, cid) == []
    # a second $disconnect (API Gateway's is best-effort, ours may repeat) is harmless
    assert handler(as_caller("disconnect", tenant.id, owner.id, cid))["statusCode"] == 200


def test_an_event_without_the_authorizers_context_is_refused(handler: Any, admin_conn: Any) -> None:
    cid = f"wsh-{uuid.uuid4().hex[:10]}"
    event = copy.deepcopy(load_event("ws_handler/connect"))
    event["requestContext"]["connectionId"] = cid
    del event["requestContext"]["authorizer"]
    assert handler(event)["statusCode"] == 403
    event["requestContext"]["authorizer"] = {"tenant_id": "not-a-uuid", "user_id": "x"}
    assert handler(event)["statusCode"] == 403
    assert rows(admin_conn, cid) == []
