"""The permission matrix: which role may do what, in one place. Every route asks it.

A permission is "<resource>:<action>". Built-in roles map to permission sets here; custom
roles (per tenant, stored in the database) are permission sets too. An API key acts with the
intersection of its scopes and its creator's role.
"""

from __future__ import annotations

from crm.domain.tenants import Principal, Role

ACTIONS = ("read", "create", "update", "delete")
RESOURCES = (
    "leads",
    "contacts",
    "deals",
    "pipelines",
    "automations",
    "reports",
    "users",
    "roles",
    "api_keys",
    "tenant_settings",
    "audit_logs",
    "dead_letters",
)


def _all(*resources: str, actions: tuple[str, ...] = ACTIONS) -> frozenset[str]:
    return frozenset(f"{r}:{a}" for r in resources for a in actions)


_CRM_DATA = ("leads", "contacts", "deals")
_ADMIN_ONLY = ("users", "roles", "api_keys", "tenant_settings", "audit_logs", "dead_letters")

BUILTIN_ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.OWNER: _all(*RESOURCES),
    Role.ADMIN: _all(*RESOURCES),
    Role.MANAGER: _all(*_CRM_DATA, "pipelines", "automations")
    | _all("reports", "users", actions=("read",)),
    Role.SELLER: _all(*_CRM_DATA, actions=("read", "create", "update"))
    | _all("pipelines", "reports", "automations", actions=("read",)),
    Role.VIEWER: _all(*_CRM_DATA, "pipelines", "reports", "automations", actions=("read",)),
}

assert all(p.split(":")[0] in RESOURCES for ps in BUILTIN_ROLE_PERMISSIONS.values() for p in ps)
assert set(_ADMIN_ONLY) <= set(RESOURCES)


def role_permissions(role: Role) -> frozenset[str]:
    return BUILTIN_ROLE_PERMISSIONS[role]


def is_allowed(principal: Principal, permission: str) -> bool:
    granted = role_permissions(principal.role)
    if principal.api_key_id is not None:
        granted = granted & principal.scopes
    return permission in granted
