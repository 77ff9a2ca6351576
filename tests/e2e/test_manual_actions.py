"""POST /actions through the local cloud: add_tag on a lead twice with one Idempotency-Key is
one tag change, one history row, one audit row naming the user; a refused action is 422 with
the reason; no key is 422; a viewer is 403, a seller on another's lead and another tenant 404."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from crm.adapters.postgres.connection import connect
from crm.adapters.postgres.unit_of_work import PostgresDatabase

from local.services import Endpoints
from tests.e2e.conftest import LocalCloudProcess
from tests.e2e.test_dead_letters_api import add_user, log_in
from tests.e2e.test_walking_skeleton import sign_up_and_log_in

pytestmark = pytest.mark.e2e


def _rows(endpoints: Endpoints, sql: str, **params: Any) -> list[Any]:
    conn = connect(endpoints.admin_database_url)
    try:
        rows: list[Any] = conn.run(sql, **params)
    finally:
        conn.close()
    return rows


def _owner_id(endpoints: Endpoints, tenant_id: str) -> str:
    [[user_id]] = _rows(
        endpoints,
        "SELECT id::text FROM users WHERE tenant_id = CAST(:t AS uuid) AND role = 'owner'",
        t=tenant_id,
    )
    return str(user_id)


def test_manual_add_tag_runs_once_per_key(
    local_cloud: LocalCloudProcess, endpoints: Endpoints
) -> None:
    owner, signup = sign_up_and_log_in(local_cloud.url, "Manual")
    assert owner.post("/tags", {"name": "vip"}).status_code == 201
    lead = owner.post("/leads", {"name": "Ana"}).json()
    body = {
        "action": {"kind": "add_tag", "tag": "vip"},
        "record": {"kind": "lead", "id": lead["id"]},
    }

    first = owner.post("/actions", body, **{"Idempotency-Key": "tag-ana"})
    second = owner.post("/actions", body, **{"Idempotency-Key": "tag-ana"})

    assert first.status_code == 200, first.text
    assert second.status_code == 200, second.text
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert first.json() == second.json()
    after = owner.get(f"/leads/{lead['id']}").json()
    assert (after["tags"], after["version"]) == (["vip"], lead["version"] + 1)
    history = _rows(
        endpoints,
        "SELECT actor_type, field FROM record_history WHERE lead_id = CAST(:id AS uuid)"
        " AND field = 'tags'",
        id=lead["id"],
    )
    audit = _rows(
        endpoints,
        "SELECT actor_type, actor_id::text FROM audit_log WHERE entity_id = :id"
        " AND action = 'lead.updated'",
        id=lead["id"],
    )
    assert history == [["user", "tags"]]  # the one tag change
    assert audit == [["user", _owner_id(endpoints, signup["id"])]]

    refused = owner.post(
        "/actions",
        {"action": {"kind": "add_tag", "tag": "ghost"}, "record": body["record"]},
        **{"Idempotency-Key": "tag-ghost"},
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "ghost" in refused.text
    assert owner.post("/actions", body).status_code == 422  # no Idempotency-Key


def test_roles_and_tenants(
    local_cloud: LocalCloudProcess, endpoints: Endpoints, db: PostgresDatabase
) -> None:
    owner, signup = sign_up_and_log_in(local_cloud.url, "Manroles")
    assert owner.post("/tags", {"name": "vip"}).status_code == 201
    tenant_id = uuid.UUID(signup["id"])
    seller = log_in(local_cloud.url, add_user(db, tenant_id, signup["slug"], "seller"))
    viewer = log_in(local_cloud.url, add_user(db, tenant_id, signup["slug"], "viewer"))
    lead = owner.post("/leads", {"name": "Owned"}).json()
    # Owned by the owner: out of the seller's reach (a seller sees own or unassigned leads).
    owner_id = _owner_id(endpoints, signup["id"])
    _rows(endpoints, "UPDATE leads SET owner_id = CAST(:o AS uuid) WHERE id = CAST(:id AS uuid)",
          o=owner_id, id=lead["id"])  # fmt: skip
    stranger, _ = sign_up_and_log_in(local_cloud.url, "Manstranger")
    body = {
        "action": {"kind": "add_tag", "tag": "vip"},
        "record": {"kind": "lead", "id": lead["id"]},
    }

    assert viewer.post("/actions", body, **{"Idempotency-Key": "v"}).status_code == 403
    assert stranger.post("/actions", body, **{"Idempotency-Key": "s"}).status_code == 404
    assert seller.post("/actions", body, **{"Idempotency-Key": "x"}).status_code == 404
    assert owner.get(f"/leads/{lead['id']}").json()["tags"] == []
