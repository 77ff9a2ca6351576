"""The route x role matrix, generated: every API route of template.yaml (whoever added it),
every built-in role, the answer the permission matrix (crm.domain.permissions) expects, asked
of the local cloud's gateway.

Requests carry random ids and empty bodies: an allowed caller then gets a 4xx from the route
(404, 422, ...) or a 2xx, never 401/403-forbidden/5xx; a refused caller gets 403 naming the
permission, before the body is even validated. A route missing from the matrix fails here
(and is refused at runtime). Routes open to any signed-in user that are not GETs run with a
throwaway user each, so that e.g. a logout cannot spoil the other requests.
"""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from crm.domain.permissions import AUTHENTICATED, PUBLIC, ROUTE_PERMISSIONS, is_allowed
from crm.domain.tenants import Principal, Role

from tests.e2e.conftest import LocalCloudProcess
from tests.e2e.tenancy_support import Member, Tenant, add_member, change_plan, sign_up
from tests.unit.test_route_permissions import template_routes

pytestmark = pytest.mark.e2e

ROLES = [role.value for role in Role]
FORBIDDEN = "https://crm.example.com/problems/forbidden"


@dataclass(frozen=True)
class Probe:
    route: str  # "PATCH /users/{id}"
    role: str | None  # None: no token

    @property
    def method(self) -> str:
        return self.route.split(" ", 1)[0]

    @property
    def path(self) -> str:
        """The template path with a random value for each parameter."""
        template = self.route.split(" ", 1)[1]
        return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), template)

    @property
    def body(self) -> dict[str, Any] | None:
        return {} if self.method in ("POST", "PUT", "PATCH") else None


@dataclass
class Outcome:
    probe: Probe
    status: int
    body: dict[str, Any]

    def describe(self) -> str:
        return f"{self.probe.route:<40} {self.probe.role or 'anonymous':<9} -> {self.status} {self.body}"


def ask(base_url: str, probe: Probe, token: str | None) -> Outcome:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.request(
        probe.method, base_url + probe.path, json=probe.body, headers=headers, timeout=60
    )
    try:
        body = response.json()
    except ValueError:
        body = {"text": response.text[:200]}
    return Outcome(probe, response.status_code, body if isinstance(body, dict) else {"list": body})


def token_of(member: Member) -> str:
    return member.api.session.headers["Authorization"].removeprefix("Bearer ")


@pytest.fixture(scope="module")
def cast(local_cloud: LocalCloudProcess) -> tuple[Tenant, dict[str, Member]]:
    tenant = sign_up(local_cloud.url, "Matrix")
    change_plan(tenant, "enterprise")  # room for every request and user of this test
    members = {"owner": tenant.owner}
    for role in ROLES[1:]:
        members[role] = add_member(local_cloud.url, local_cloud.mailpit_url, tenant, role)
    return tenant, members


def expected_allowed(permission: str, role: str) -> bool:
    caller = Principal(tenant_id=uuid.uuid4(), user_id=uuid.uuid4(), role=role)
    return is_allowed(caller, permission)


def test_every_route_answers_every_role_as_the_matrix_says(
    local_cloud: LocalCloudProcess, cast: tuple[Tenant, dict[str, Member]]
) -> None:
    tenant, members = cast
    routes = template_routes()
    unmapped = sorted(set(routes) - set(ROUTE_PERMISSIONS))
    assert not unmapped, f"routes with no permission in crm.domain.permissions: {unmapped}"

    jobs: list[tuple[Probe, str | None]] = []
    for route, public in sorted(routes.items()):
        if public:
            jobs.append((Probe(route, None), None))
            continue
        jobs.append((Probe(route, None), None))  # no token: the gateway's 401
        for role in ROLES:
            probe = Probe(route, role)
            throwaway = ROUTE_PERMISSIONS[route] == AUTHENTICATED and probe.method != "GET"
            member = (
                add_member(local_cloud.url, local_cloud.mailpit_url, tenant, role)
                if throwaway
                else members[role]
            )
            jobs.append((probe, token_of(member)))
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda job: ask(local_cloud.url, *job), jobs))

    wrong = [o.describe() for o in outcomes if not answered_as_expected(o, routes)]
    assert not wrong, "answers that differ from the matrix:\n" + "\n".join(wrong)
    assert len(outcomes) == len(jobs) >= len(routes) * len(ROLES)


def answered_as_expected(outcome: Outcome, routes: dict[str, bool]) -> bool:
    probe, status = outcome.probe, outcome.status
    permission = ROUTE_PERMISSIONS[probe.route]
    if probe.role is None:
        if routes[probe.route]:  # public: reachable without a token, and no server error
            assert permission == PUBLIC
            return status not in (401, 403) and status < 500
        return status == 401
    if expected_allowed(permission, probe.role):
        refused = status == 401 or (status == 403 and outcome.body.get("type") == FORBIDDEN)
        return not refused and status < 500
    return (
        status == 403
        and outcome.body.get("type") == FORBIDDEN
        and outcome.body.get("permission") == permission
    )
