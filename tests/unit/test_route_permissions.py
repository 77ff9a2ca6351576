"""The permission matrix: built-in roles, grants, record-level rule, and the route table that
the API gate enforces (every template route in it, public exactly when the template says so)."""

from __future__ import annotations

import uuid

import pytest
from crm.domain.errors import Forbidden
from crm.domain.permissions import (
    AUTHENTICATED,
    BUILTIN_GRANTS,
    BUILTIN_ROLE_PERMISSIONS,
    PERMISSIONS,
    PUBLIC,
    RESOURCE_ACTIONS,
    ROUTE_PERMISSIONS,
    is_allowed,
    may_access_record,
    may_grant,
    require,
    route_permission,
    sees_only_own_records,
)
from crm.domain.tenants import Principal, Role, RoleGrant

from tests.support import ROOT
from tests.unit.tenancy_fakes import seeded_limits
from tests.unit.test_template import _functions


def caller(role: str, **extra: object) -> Principal:
    return Principal(tenant_id=uuid.uuid4(), user_id=uuid.uuid4(), role=role, **extra)  # type: ignore[arg-type]


def template_routes() -> dict[str, bool]:
    """'METHOD /path' -> public (no authorizer), for every Api event of template.yaml."""
    routes: dict[str, bool] = {}
    for properties in _functions().values():
        for event in (properties.get("Events") or {}).values():
            if event["Type"] == "Api":
                route = event["Properties"]
                public = (route.get("Auth") or {}).get("Authorizer") == "NONE"
                routes[f"{route['Method'].upper()} {route['Path']}"] = public
    return routes


def test_every_template_route_has_a_permission_and_public_means_no_authorizer() -> None:
    routes = template_routes()
    unmapped = sorted(set(routes) - set(ROUTE_PERMISSIONS))
    assert not unmapped, f"add these routes to ROUTE_PERMISSIONS: {unmapped}"
    mismatched = sorted(
        route for route, public in routes.items() if public != (ROUTE_PERMISSIONS[route] == PUBLIC)
    )
    assert not mismatched, f"public in one place only: {mismatched}"


def test_the_matrix_names_no_route_the_template_does_not_declare() -> None:
    assert sorted(set(ROUTE_PERMISSIONS) - set(template_routes())) == []


def test_owner_is_strictly_above_admin_only_by_the_plan() -> None:
    owner, admin = BUILTIN_GRANTS[Role.OWNER], BUILTIN_GRANTS[Role.ADMIN]
    assert owner.permissions - admin.permissions == {"billing:update"}
    assert owner.permissions == PERMISSIONS


def test_an_unknown_custom_role_allows_nothing_and_a_loaded_one_allows_its_grant() -> None:
    assert not is_allowed(caller("sdr"), "leads:read")
    sdr = caller("sdr", custom_grant=RoleGrant(frozenset({"leads:read"}), own_records_only=True))
    assert is_allowed(sdr, "leads:read") and not is_allowed(sdr, "leads:create")
    assert sees_only_own_records(sdr)


def test_authenticated_routes_admit_every_role_even_an_empty_custom_one() -> None:
    assert is_allowed(caller("nothing-granted"), AUTHENTICATED)


def test_require_names_the_missing_permission() -> None:
    with pytest.raises(Forbidden) as raised:
        require(caller(Role.VIEWER), "users:create")
    assert raised.value.extra == {"permission": "users:create"}


@pytest.mark.parametrize(
    ("granter", "grantee", "allowed"),
    [
        (Role.OWNER, Role.OWNER, True),
        (Role.ADMIN, Role.OWNER, False),  # the plan is the owner's
        (Role.ADMIN, Role.ADMIN, True),
        (Role.MANAGER, Role.ADMIN, False),
        (Role.MANAGER, Role.SELLER, True),
        (Role.SELLER, Role.VIEWER, False),  # a viewer reads every seller's leads
        (Role.VIEWER, Role.VIEWER, True),
        (Role.VIEWER, Role.SELLER, False),
    ],
)
def test_nobody_grants_a_role_above_their_own(granter: Role, grantee: Role, allowed: bool) -> None:
    assert may_grant(caller(granter), BUILTIN_GRANTS[grantee]) is allowed


def test_a_role_limited_to_its_own_records_cannot_hand_out_an_unlimited_one() -> None:
    limited = caller("lim", custom_grant=RoleGrant(frozenset({"leads:read"}), True))
    assert may_grant(limited, RoleGrant(frozenset({"leads:read"}), True))
    assert not may_grant(limited, RoleGrant(frozenset({"leads:read"}), False))


def test_an_api_key_grants_at_most_its_scopes() -> None:
    key = caller(Role.OWNER, api_key_id=uuid.uuid4(), scopes=frozenset({"users:create"}))
    assert may_grant(key, RoleGrant(frozenset()))
    assert not may_grant(key, BUILTIN_GRANTS[Role.VIEWER])


def test_seller_reaches_own_and_unassigned_records_only() -> None:
    seller = caller(Role.SELLER)
    assert may_access_record(seller, seller.user_id)
    assert may_access_record(seller, None)
    assert not may_access_record(seller, uuid.uuid4())
    assert may_access_record(caller(Role.MANAGER), uuid.uuid4())


def test_route_permission_uses_the_template_path() -> None:
    assert route_permission("get", "/leads/{id}") == "leads:read"
    assert route_permission("GET", "/no/such/route") is None


README = (ROOT / "docs" / "api.md").read_text()  # the API reference, moved out of README.md


def test_the_readme_shows_the_matrix_as_the_code_has_it() -> None:
    for resource, actions in RESOURCE_ACTIONS.items():
        cells = []
        for role in Role:
            granted = [a for a in actions if f"{resource}:{a}" in BUILTIN_ROLE_PERMISSIONS[role]]
            whole = granted == list(actions) and len(actions) > 1
            cells.append("all" if whole else ", ".join(granted) or "—")
        row = f"| {resource} ({'/'.join(actions)}) | " + " | ".join(cells) + " |"
        assert row in README, f"docs/api.md's permission table is out of date: {row}"


def test_the_readme_shows_the_plan_limits_of_the_migration() -> None:
    limits = seeded_limits()

    def shown(value: int | None) -> str:
        return "unlimited" if value is None else f"{value:,}"

    for metric in limits["free"]:
        numbers = " | ".join(shown(limits[plan][metric]) for plan in ("free", "pro", "enterprise"))
        assert f" | {numbers} | " in README, f"docs/api.md's plan table is out of date for {metric}"
