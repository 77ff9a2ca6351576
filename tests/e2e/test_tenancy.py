"""Tenancy through the local cloud: invitations by email, deactivation, the last owner, no
granting above one's role, custom roles, the seller's record-level rule, plan limits (403),
rate limits (429 + headers), settings, cross-tenant 404s, and an audit row per change."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests
from crm.adapters.postgres.connection import connect

from local.services import Endpoints
from tests.e2e.conftest import LocalCloudProcess
from tests.e2e.tenancy_support import (
    PASSWORD,
    Api,
    Tenant,
    add_member,
    change_plan,
    invitation_token,
    problem_type,
    sign_up,
)
from tests.mailpit import Mailpit

pytestmark = pytest.mark.e2e


def audit_rows(tenant: Tenant, **filters: str) -> list[dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    response = tenant.owner.api.get(f"/audit-logs?limit=200&{query}")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def row_of(tenant: Tenant, response: requests.Response) -> dict[str, Any]:
    """The audit row written by the request that got `response` (same request id)."""
    request_id = response.headers["x-amzn-RequestId"]
    rows = [row for row in audit_rows(tenant) if row["request_id"] == request_id]
    assert len(rows) >= 1, f"no audit row for {response.request.method} {response.request.url}"
    return rows[0]


def test_an_invited_user_joins_and_a_deactivated_one_is_locked_out(
    local_cloud: LocalCloudProcess,
) -> None:
    tenant = sign_up(local_cloud.url, "Acme")
    seller = add_member(local_cloud.url, local_cloud.mailpit_url, tenant, "seller")
    assert seller.api.get(f"/users/{seller.id}").status_code == 403  # sellers do not read users
    listed = tenant.owner.api.get("/users?status=active").json()["items"]
    assert {u["email"] for u in listed} == {tenant.owner.email, seller.email}
    user = tenant.owner.api.get(f"/users/{seller.id}")
    assert user.json()["status"] == "active" and user.headers["ETag"] == '"2"'

    deactivated = tenant.owner.api.patch(f"/users/{seller.id}", {"status": "deactivated"})
    assert deactivated.status_code == 200 and deactivated.json()["status"] == "deactivated"
    # the token it still holds stops working at once, and it cannot log in again
    refused = seller.api.post("/leads", {"name": "After leaving"})
    assert refused.status_code == 401 and problem_type(refused) == "invalid-credentials"
    login = Api(local_cloud.url).post("/auth/login", {"email": seller.email, "password": PASSWORD})
    assert login.status_code == 401

    rows = audit_rows(tenant, entity_id=seller.id)
    actions = [row["action"] for row in rows if row["action"].startswith("user.")]  # not auth.*
    assert actions == ["user.deactivated", "user.invitation_accepted", "user.invited"]


def test_an_invitation_works_once(local_cloud: LocalCloudProcess) -> None:
    tenant = sign_up(local_cloud.url, "Once")
    email = f"once@{tenant.slug}.example.com"
    assert (
        tenant.owner.api.post("/users", {"email": email, "name": "O", "role": "viewer"}).status_code
        == 201
    )
    token = invitation_token(local_cloud.mailpit_url, email)
    anonymous = Api(local_cloud.url)
    assert (
        anonymous.post("/invitations/accept", {"token": token, "password": "short"}).status_code
        == 422
    )
    assert (
        anonymous.post("/invitations/accept", {"token": token, "password": PASSWORD}).status_code
        == 200
    )
    again = anonymous.post("/invitations/accept", {"token": token, "password": PASSWORD})
    assert again.status_code == 409 and problem_type(again) == "conflict"
    unknown = anonymous.post(
        "/invitations/accept", {"token": f"{uuid.uuid4().hex}.x", "password": PASSWORD}
    )
    assert unknown.status_code == 404


def test_a_retried_invitation_sends_one_mail(local_cloud: LocalCloudProcess) -> None:
    tenant = sign_up(local_cloud.url, "Retry")
    email = f"retry@{tenant.slug}.example.com"
    body = {"email": email, "name": "R", "role": "viewer"}
    first = tenant.owner.api.post("/users", body, **{"Idempotency-Key": "invite-1"})
    again = tenant.owner.api.post("/users", body, **{"Idempotency-Key": "invite-1"})
    assert first.status_code == again.status_code == 201
    assert (
        again.json()["id"] == first.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    )
    # A sentinel mailed after the replay arrives; only then is one invitation proof of one.
    sentinel = f"sentinel@{tenant.slug}.example.com"
    tenant.owner.api.post("/users", {"email": sentinel, "name": "S", "role": "viewer"})
    assert Mailpit(local_cloud.mailpit_url).wait_for(sentinel)
    assert len(Mailpit(local_cloud.mailpit_url).messages_to(email)) == 1


def test_the_last_owner_stays_and_nobody_grants_above_their_role(
    local_cloud: LocalCloudProcess,
) -> None:
    tenant = sign_up(local_cloud.url, "Owners")
    owner = tenant.owner
    for change in ({"role": "admin"}, {"status": "deactivated"}):
        refused = owner.api.patch(f"/users/{owner.id}", change)
        assert refused.status_code == 409 and refused.json()["reason"] == "last_owner"
    admin = add_member(local_cloud.url, local_cloud.mailpit_url, tenant, "admin")
    seller = add_member(local_cloud.url, local_cloud.mailpit_url, tenant, "seller")
    for method, path, body in (
        ("PATCH", f"/users/{seller.id}", {"role": "owner"}),
        ("PATCH", f"/users/{owner.id}", {"name": "Demoted by admin"}),
        (
            "POST",
            "/users",
            {"email": f"boss@{tenant.slug}.example.com", "name": "B", "role": "owner"},
        ),
    ):
        refused = admin.api.request(method, path, body)
        assert refused.status_code == 403 and refused.json()["reason"] == "above_own_role", path
    assert admin.api.patch(f"/users/{seller.id}", {"role": "manager"}).status_code == 200
    # with a second owner, the first may step down
    assert owner.api.patch(f"/users/{admin.id}", {"role": "owner"}).status_code == 200
    stepped_down = owner.api.patch(f"/users/{owner.id}", {"role": "admin"})
    assert stepped_down.status_code == 200
    row = row_of(tenant, stepped_down)
    assert row["action"] == "user.role_changed" and row["changes"] == {
        "role": {"old": "owner", "new": "admin"}
    }


def test_a_seller_reads_only_own_or_unassigned_leads(
    local_cloud: LocalCloudProcess, endpoints: Endpoints
) -> None:
    tenant = sign_up(local_cloud.url, "Sellers")
    ann = add_member(local_cloud.url, local_cloud.mailpit_url, tenant, "seller")
    bob = add_member(local_cloud.url, local_cloud.mailpit_url, tenant, "seller")
    manager = add_member(local_cloud.url, local_cloud.mailpit_url, tenant, "manager")
    mine = ann.api.post("/leads", {"name": "Ann's"}).json()
    theirs = bob.api.post("/leads", {"name": "Bob's"}).json()
    assert ann.api.get(f"/leads/{mine['id']}").status_code == 200
    hidden = ann.api.get(f"/leads/{theirs['id']}")
    assert hidden.status_code == 404 and problem_type(hidden) == "not-found"
    assert manager.api.get(f"/leads/{theirs['id']}").status_code == 200
    conn = connect(endpoints.admin_database_url)  # unassigning has no route yet (CRM core issue)
    try:
        conn.run("UPDATE leads SET owner_id = NULL WHERE id = :id", id=uuid.UUID(theirs["id"]))
    finally:
        conn.close()
    assert ann.api.get(f"/leads/{theirs['id']}").status_code == 200


def test_plan_limits_answer_403_with_the_limit_and_the_usage(
    local_cloud: LocalCloudProcess,
) -> None:
    tenant = sign_up(local_cloud.url, "Limits")
    for _ in range(4):  # free: 5 users, the owner included
        add_member(local_cloud.url, local_cloud.mailpit_url, tenant, "viewer")
    refused = tenant.owner.api.post(
        "/users", {"email": f"sixth@{tenant.slug}.example.com", "name": "6", "role": "viewer"}
    )
    assert refused.status_code == 403 and problem_type(refused) == "plan-limit-exceeded"
    assert (refused.json()["limit"], refused.json()["usage"], refused.json()["metric"]) == (
        5,
        5,
        "users",
    )
    usage = tenant.owner.api.get(f"/tenants/{tenant.id}/usage").json()
    assert usage["plan"] == "free" and usage["usage"]["users"]["used"] == 5

    workflow = {"trigger": {"event": "crm.lead.created"},
                "steps": [{"id": "n", "type": "action", "action": {"kind": "webhook", "url": "http://127.0.0.1:9/x"}}]}  # fmt: skip
    for i in range(3):  # free: 3 active automations
        assert (
            tenant.owner.api.post(
                "/automations", {"name": f"A{i}", "workflow": workflow, "publish": True}
            ).status_code
            == 201
        )
    fourth = tenant.owner.api.post(
        "/automations", {"name": "A4", "workflow": workflow, "publish": True}
    )
    assert fourth.status_code == 403 and fourth.json()["limit"] == 3 and fourth.json()["usage"] == 3

    change_plan(tenant, "pro")
    assert (
        tenant.owner.api.post(
            "/users", {"email": f"sixth@{tenant.slug}.example.com", "name": "6", "role": "viewer"}
        ).status_code
        == 201
    )
    downgrade = tenant.owner.api.patch(f"/tenants/{tenant.id}/plan", {"plan": "free"})
    assert downgrade.status_code == 409
    assert {"metric": "users", "used": 6, "limit": 5} in downgrade.json()["exceeded"]


def test_over_the_rate_limit_is_429_with_ratelimit_headers(local_cloud: LocalCloudProcess) -> None:
    tenant = sign_up(local_cloud.url, "Busy")
    bystander = sign_up(local_cloud.url, "Calm")
    path = f"/tenants/{tenant.id}/settings"
    first = tenant.owner.api.get(path)
    limit = int(first.headers["RateLimit-Limit"])
    assert limit == 120 and int(first.headers["RateLimit-Remaining"]) < limit
    assert 1 <= int(first.headers["RateLimit-Reset"]) <= 60
    # at most two windows' worth: the minute may turn once while we send
    for _ in range(2 * limit + 2):
        response = tenant.owner.api.get(path)
        if response.status_code == 429:
            break
    assert response.status_code == 429, "never rate limited"
    assert problem_type(response) == "rate-limited" and response.json()["limit"] == limit
    assert response.headers["RateLimit-Remaining"] == "0"
    assert response.headers["Retry-After"] == response.headers["RateLimit-Reset"]
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    # another tenant is not affected
    other = bystander.owner.api.get(f"/tenants/{bystander.id}/settings")
    assert other.status_code == 200 and int(other.headers["RateLimit-Remaining"]) > limit - 10


def test_settings_are_validated_versioned_and_audited(local_cloud: LocalCloudProcess) -> None:
    tenant = sign_up(local_cloud.url, "Settings")
    viewer = add_member(local_cloud.url, local_cloud.mailpit_url, tenant, "viewer")
    path = f"/tenants/{tenant.id}/settings"
    current = viewer.api.get(path)
    assert current.status_code == 200 and current.json()["timezone"] == "UTC"
    assert viewer.api.patch(path, {"locale": "pt-BR"}).status_code == 403
    invalid = tenant.owner.api.patch(path, {"timezone": "Mars/Olympus", "currency": "BRL"})
    assert invalid.status_code == 422 and invalid.json()["errors"][0]["loc"] == ["body", "timezone"]
    stale = tenant.owner.api.patch(path, {"locale": "pt-BR"}, **{"If-Match": '"999"'})
    assert stale.status_code == 412
    changed = tenant.owner.api.patch(
        path, {"timezone": "America/Sao_Paulo", "currency": "BRL", "require_mfa": True},
        **{"If-Match": current.headers["ETag"]},
    )  # fmt: skip
    assert changed.status_code == 200 and changed.json()["currency"] == "BRL"
    assert changed.headers["ETag"] != current.headers["ETag"]
    row = row_of(tenant, changed)
    assert row["action"] == "tenant.settings_updated" and row["actor"]["id"] == tenant.owner.id
    assert row["changes"]["require_mfa"] == {"old": False, "new": True}
    assert row["ip"] == "127.0.0.1" and row["user_agent"].startswith("python-requests")


def test_only_the_owner_changes_the_plan(local_cloud: LocalCloudProcess) -> None:
    tenant = sign_up(local_cloud.url, "Billing")
    admin = add_member(local_cloud.url, local_cloud.mailpit_url, tenant, "admin")
    assert admin.api.get(f"/tenants/{tenant.id}/usage").status_code == 200
    refused = admin.api.patch(f"/tenants/{tenant.id}/plan", {"plan": "enterprise"})
    assert refused.status_code == 403 and refused.json()["permission"] == "billing:update"
    unknown = tenant.owner.api.patch(f"/tenants/{tenant.id}/plan", {"plan": "platinum"})
    assert unknown.status_code == 422
    changed = tenant.owner.api.patch(f"/tenants/{tenant.id}/plan", {"plan": "enterprise"})
    assert changed.status_code == 200
    assert row_of(tenant, changed)["changes"] == {"plan": {"old": "free", "new": "enterprise"}}
    # the new plan's limits apply at once
    assert "RateLimit-Limit" in changed.headers
    assert tenant.owner.api.get(f"/tenants/{tenant.id}/usage").headers["RateLimit-Limit"] == "6000"


def test_custom_roles_take_effect_on_the_next_request(local_cloud: LocalCloudProcess) -> None:
    tenant = sign_up(local_cloud.url, "Custom")
    role = {
        "key": "sdr",
        "name": "SDR",
        "permissions": ["leads:read", "leads:create"],
        "own_records_only": True,
    }
    created = tenant.owner.api.post("/roles", role)
    assert created.status_code == 201, created.text
    assert "sdr" in [r["key"] for r in tenant.owner.api.get("/roles").json()["items"]]
    sdr = add_member(local_cloud.url, local_cloud.mailpit_url, tenant, "sdr")
    assert sdr.api.post("/leads", {"name": "Inbound"}).status_code == 201
    assert sdr.api.get("/users").status_code == 403
    widened = tenant.owner.api.patch(
        "/roles/sdr", {"permissions": ["leads:read", "leads:create", "users:read"]}
    )
    assert widened.status_code == 200 and row_of(tenant, widened)["action"] == "role.updated"
    assert sdr.api.get("/users").status_code == 200  # same token, new grant
    admin = add_member(local_cloud.url, local_cloud.mailpit_url, tenant, "admin")
    payer = admin.api.post(
        "/roles", {"key": "payer", "name": "P", "permissions": ["billing:update"]}
    )
    assert payer.status_code == 403
    assert tenant.owner.api.patch("/roles/seller", {"name": "Rep"}).status_code == 409


def test_another_tenants_ids_are_404_on_every_route_of_tenancy(
    local_cloud: LocalCloudProcess,
) -> None:
    a = sign_up(local_cloud.url, "Alpha")
    b = sign_up(local_cloud.url, "Beta")
    assert (
        b.owner.api.post(
            "/roles", {"key": "closer", "name": "C", "permissions": ["deals:read"]}
        ).status_code
        == 201
    )
    b_user = add_member(local_cloud.url, local_cloud.mailpit_url, b, "seller")
    api = a.owner.api
    attempts = [
        ("GET", f"/users/{b_user.id}", None),
        ("PATCH", f"/users/{b_user.id}", {"status": "deactivated"}),
        ("PATCH", f"/users/{b.owner.id}", {"name": "Taken over"}),
        ("GET", f"/tenants/{b.id}/settings", None),
        ("PATCH", f"/tenants/{b.id}/settings", {"locale": "pt-BR"}),
        ("GET", f"/tenants/{b.id}/usage", None),
        ("PATCH", f"/tenants/{b.id}/plan", {"plan": "pro"}),
        ("PATCH", "/roles/closer", {"name": "Mine"}),
    ]
    for method, path, body in attempts:
        response = api.request(method, path, body)
        assert response.status_code == 404, (method, path, response.text)
        assert problem_type(response) == "not-found"
    # listings only ever show the caller's tenant
    assert {u["id"] for u in api.get("/users").json()["items"]} == {a.owner.id}
    assert "closer" not in [r["key"] for r in api.get("/roles").json()["items"]]
    assert audit_rows(a, entity_id=b.id) == [] and audit_rows(a, actor_id=b.owner.id) == []
    # and nothing of B changed
    assert b.owner.api.get(f"/users/{b_user.id}").json()["status"] == "active"
    assert b.owner.api.get(f"/tenants/{b.id}/settings").json()["locale"] == "en-US"


def test_every_mutating_request_writes_its_audit_row(local_cloud: LocalCloudProcess) -> None:
    tenant = sign_up(local_cloud.url, "Audited")
    owner_api = tenant.owner.api
    workflow = {"trigger": {"event": "crm.lead.created"},
                "steps": [{"id": "n", "type": "action", "action": {"kind": "webhook", "url": "http://127.0.0.1:9/x"}}]}  # fmt: skip
    email = f"new@{tenant.slug}.example.com"
    expected = [
        (tenant.signed_up, "tenant.signed_up", "tenant"),
        (owner_api.post("/leads", {"name": "L"}), "lead.created", "lead"),
        (
            owner_api.post("/automations", {"name": "A", "workflow": workflow, "publish": True}),
            "automation.created",
            "automation",
        ),
        (
            owner_api.post("/users", {"email": email, "name": "N", "role": "viewer"}),
            "user.invited",
            "user",
        ),
        (
            owner_api.post("/roles", {"key": "sdr", "name": "S", "permissions": ["leads:read"]}),
            "role.created",
            "role",
        ),
        (owner_api.patch("/roles/sdr", {"name": "SDR"}), "role.updated", "role"),
        (
            owner_api.patch(f"/tenants/{tenant.id}/settings", {"locale": "pt-BR"}),
            "tenant.settings_updated",
            "tenant",
        ),
        (
            owner_api.patch(f"/tenants/{tenant.id}/plan", {"plan": "pro"}),
            "tenant.plan_changed",
            "tenant",
        ),
    ]
    token = invitation_token(local_cloud.mailpit_url, email)
    accepted = Api(local_cloud.url).post(
        "/invitations/accept", {"token": token, "password": PASSWORD}
    )
    expected.append((accepted, "user.invitation_accepted", "user"))
    expected.append(
        (
            owner_api.patch(f"/users/{accepted.json()['id']}", {"role": "sdr"}),
            "user.role_changed",
            "user",
        )
    )
    for response, action, entity_type in expected:
        assert response.status_code in (200, 201), response.text
        row = row_of(tenant, response)
        assert (row["action"], row["entity"]["type"]) == (action, entity_type)
        assert row["ip"] == "127.0.0.1"
    assert PASSWORD not in str(audit_rows(tenant))
