"""The permission matrix: which role may do what, in one place. Every route asks it.

A permission is "<resource>:<action>"; `PERMISSIONS` lists every valid one (what a custom role
is built from). Built-in roles map to grants here; custom roles (per tenant, stored in the
database) are grants too, loaded by the API gate. An API key acts with the intersection of its
scopes and its creator's role.

`ROUTE_PERMISSIONS` names the permission of every API route in template.yaml. The API gate
(crm.api.gate) checks it before the body is validated, so a caller without the permission gets
403 whatever they send; a route missing from it is refused (fail closed), and the route x role
test (tests/e2e/test_route_role_matrix.py) fails for it.
"""

from __future__ import annotations

import uuid
from typing import Final

from crm.domain.errors import Forbidden
from crm.domain.tenants import Principal, Role, RoleGrant, builtin_role

_CRUD = ("read", "create", "update", "delete")

RESOURCE_ACTIONS: Final[dict[str, tuple[str, ...]]] = {
    "leads": _CRUD,
    "contacts": _CRUD,
    "deals": _CRUD,
    "pipelines": _CRUD,
    "automations": _CRUD,
    "reports": ("read",),
    "users": ("read", "create", "update"),
    "roles": ("read", "create", "update"),
    "api_keys": ("read", "create", "delete"),
    "tenant_settings": ("read", "update"),
    # billing:read shows plan usage; billing:update changes the plan (an owner action).
    "billing": ("read", "update"),
    "audit_logs": ("read",),
    "dead_letters": _CRUD,
    # GDPR: export everything held about a person, erase it (owners and admins: every role
    # that holds all permissions; custom roles can be granted them)
    "gdpr": ("export", "erase"),
    # Webhook endpoints of integrators (owners and admins: they choose where the tenant's
    # events go)
    "webhooks": _CRUD,
    # Emails to records through the pipeline (a seller reads the ones they sent)
    "emails": ("read", "create"),
    # The suppression list: owners and admins add and remove addresses
    "suppressions": ("read", "create", "delete"),
    # Email templates: managers and above write them, everyone who emails reads them
    "email_templates": _CRUD,
    # Tasks: a seller works on the tasks assigned to or created by them (crm.services.tasks)
    "tasks": _CRUD,
}
RESOURCES: Final = tuple(RESOURCE_ACTIONS)
PERMISSIONS: Final = frozenset(
    f"{r}:{a}" for r, actions in RESOURCE_ACTIONS.items() for a in actions
)


def _all(*resources: str, only: tuple[str, ...] | None = None) -> frozenset[str]:
    return frozenset(
        f"{r}:{a}" for r in resources for a in RESOURCE_ACTIONS[r] if only is None or a in only
    )


_CRM_DATA = ("leads", "contacts", "deals")
_READ = ("read",)

BUILTIN_ROLE_PERMISSIONS: Final[dict[Role, frozenset[str]]] = {
    Role.OWNER: PERMISSIONS,
    Role.ADMIN: PERMISSIONS - {"billing:update"},
    Role.MANAGER: _all(*_CRM_DATA, "pipelines", "automations", "emails", "email_templates", "tasks")
    | _all("reports", "users", "roles", "tenant_settings", "billing", "suppressions", only=_READ),
    Role.SELLER: _all(*_CRM_DATA, "emails", only=("read", "create", "update"))
    | _all("tasks")
    | _all("pipelines", "reports", "automations", "tenant_settings", "email_templates", only=_READ),
    Role.VIEWER: _all(
        *_CRM_DATA,
        "pipelines",
        "reports",
        "automations",
        "tenant_settings",
        "emails",
        "email_templates",
        "tasks",
        only=_READ,
    ),
}

# Roles that see and edit only the records they own or that nobody owns (leads, deals, ...).
OWN_RECORDS_ONLY: Final = frozenset({Role.SELLER})

BUILTIN_GRANTS: Final[dict[Role, RoleGrant]] = {
    role: RoleGrant(permissions, own_records_only=role in OWN_RECORDS_ONLY)
    for role, permissions in BUILTIN_ROLE_PERMISSIONS.items()
}
NO_GRANT: Final = RoleGrant(frozenset())

assert all(ps <= PERMISSIONS for ps in BUILTIN_ROLE_PERMISSIONS.values())

# ------------------------------------------------------------------ routes

PUBLIC: Final = "public"  # no authorizer: sign-up, login, accepting an invitation, ...
AUTHENTICATED: Final = "authenticated"  # any signed-in principal (their own session, MFA, ...)

ROUTE_PERMISSIONS: Final[dict[str, str]] = {
    "POST /tenants": PUBLIC,
    "POST /auth/login": PUBLIC,
    "POST /auth/refresh": PUBLIC,
    "POST /auth/logout": PUBLIC,
    "POST /auth/password-reset": PUBLIC,
    "POST /auth/password-reset/confirm": PUBLIC,
    "GET /.well-known/jwks.json": PUBLIC,
    "GET /openapi.json": PUBLIC,
    "GET /docs": PUBLIC,
    # a user's own second factor (an API key is refused by the service)
    "POST /auth/mfa/enrol": AUTHENTICATED,
    "POST /auth/mfa/confirm": AUTHENTICATED,
    "POST /auth/mfa/disable": AUTHENTICATED,
    "POST /auth/mfa/recovery-codes": AUTHENTICATED,
    "GET /api-keys": "api_keys:read",
    "POST /api-keys": "api_keys:create",
    "DELETE /api-keys/{id}": "api_keys:delete",
    "POST /invitations/accept": PUBLIC,
    "GET /tenants/{id}/settings": "tenant_settings:read",
    "PATCH /tenants/{id}/settings": "tenant_settings:update",
    "GET /tenants/{id}/usage": "billing:read",
    "PATCH /tenants/{id}/plan": "billing:update",
    "GET /users": "users:read",
    "POST /users": "users:create",
    "GET /users/{id}": "users:read",
    "PATCH /users/{id}": "users:update",
    "GET /roles": "roles:read",
    "POST /roles": "roles:create",
    "PATCH /roles/{key}": "roles:update",
    "GET /audit-logs": "audit_logs:read",
    "GET /leads": "leads:read",
    "GET /leads/export": "leads:read",
    "POST /leads/import": "leads:create",
    "GET /imports": "leads:create",
    "GET /imports/{id}": "leads:create",  # importers follow their imports
    "POST /imports/{id}/start": "leads:create",
    "POST /leads": "leads:create",
    "GET /leads/{id}": "leads:read",
    "PATCH /leads/{id}": "leads:update",
    "DELETE /leads/{id}": "leads:delete",
    "POST /leads/{id}/restore": "leads:delete",  # undoing a delete is the deleter's right
    "POST /leads/{id}/merge": "leads:delete",  # the merged lead is deleted
    # a conversion also creates a contact (and maybe a deal): the route requires those too
    "POST /leads/{id}/convert": "leads:update",
    "POST /leads/{id}/tags/{tag}": "leads:update",
    "DELETE /leads/{id}/tags/{tag}": "leads:update",
    "GET /leads/{id}/history": "leads:read",
    "POST /leads/{id}/notes": "leads:update",
    "GET /leads/{id}/timeline": "leads:read",
    "GET /contacts": "contacts:read",
    "GET /contacts/export": "contacts:read",
    "POST /contacts": "contacts:create",
    "GET /contacts/{id}": "contacts:read",
    "PATCH /contacts/{id}": "contacts:update",
    "DELETE /contacts/{id}": "contacts:delete",
    "POST /contacts/{id}/restore": "contacts:delete",
    "POST /contacts/{id}/tags/{tag}": "contacts:update",
    "DELETE /contacts/{id}/tags/{tag}": "contacts:update",
    "GET /contacts/{id}/history": "contacts:read",
    "POST /contacts/{id}/notes": "contacts:update",
    "GET /contacts/{id}/timeline": "contacts:read",
    # the lists records refer to: anyone who reads leads reads them; tagging is editing
    # records, removing a tag from all of them is a delete; categories and custom fields
    # shape every record: tenant settings
    "GET /gdpr/export": "gdpr:export",
    "POST /gdpr/erase": "gdpr:erase",
    "GET /tags": "leads:read",
    "POST /tags": "leads:update",
    "DELETE /tags/{tag}": "leads:delete",
    "GET /categories": "leads:read",
    "POST /categories": "tenant_settings:update",
    "DELETE /categories/{category}": "tenant_settings:update",
    "GET /custom-fields": "leads:read",
    "POST /custom-fields": "tenant_settings:update",
    "PATCH /custom-fields/{id}": "tenant_settings:update",
    "POST /automations": "automations:create",
    "GET /automations": "automations:read",
    "GET /automations/{id}": "automations:read",
    "PATCH /automations/{id}": "automations:update",
    "DELETE /automations/{id}": "automations:delete",
    "POST /automations/{id}/publish": "automations:update",
    "POST /automations/{id}/pause": "automations:update",
    "POST /automations/{id}/resume": "automations:update",
    "GET /automations/{id}/versions": "automations:read",
    "GET /automations/{id}/versions/{version}": "automations:read",
    "POST /automations/{id}/versions/{version}/restore": "automations:update",
    "GET /automations/{id}/logs": "automations:read",
    "POST /automations/{id}/runs/retry": "automations:update",
    "POST /automation-runs/{id}/retry": "automations:update",
    "POST /automation-runs/{id}/cancel": "automations:update",
    "GET /triggers": "automations:read",
    "POST /automations/{id}/enrol": "automations:update",
    "GET /automations/{id}/runs": "automations:read",
    # Simulating dry-runs the actions as the automation would (it sees every record): only
    # those who may change automations may do it.
    "POST /automations/{id}/simulate": "automations:update",
    "POST /automations/{id}/webhook-secret/rotate": "automations:update",
    "POST /automations/{id}/backtest": "automations:update",
    # The effect's permission (leads:update to tag a lead, deals:update to move a deal) is
    # checked by crm.services.manual_actions once the action and record kind are known.
    "POST /actions": AUTHENTICATED,
    # The catalogue of action kinds: public knowledge for anyone who may read automations.
    "GET /actions": "automations:read",
    "GET /automation-runs/{id}": "automations:read",
    "GET /reports/leads": "reports:read",
    "GET /reports/pipelines": "reports:read",
    "GET /reports/automations": "reports:read",
    "GET /admin/dead-letters": "dead_letters:read",
    "POST /admin/dead-letters/redrive": "dead_letters:update",
    "DELETE /admin/dead-letters/{id}": "dead_letters:delete",
    "GET /webhooks": "webhooks:read",
    "POST /webhooks": "webhooks:create",
    "GET /webhooks/{id}": "webhooks:read",
    "PATCH /webhooks/{id}": "webhooks:update",
    "DELETE /webhooks/{id}": "webhooks:delete",
    "POST /webhooks/{id}/rotate-secret": "webhooks:update",
    "GET /webhooks/{id}/deliveries": "webhooks:read",
    "GET /events/catalog": AUTHENTICATED,  # the shape of events, no tenant data
    "GET /pipelines": "pipelines:read",
    "POST /pipelines": "pipelines:create",
    "GET /pipelines/{id}": "pipelines:read",
    "PATCH /pipelines/{id}": "pipelines:update",
    # the board and the forecast show deals: the route also requires pipelines:read
    "GET /pipelines/{id}/board": "deals:read",
    "GET /pipelines/{id}/forecast": "deals:read",
    "GET /deals": "deals:read",
    "POST /deals": "deals:create",
    "GET /deals/{id}": "deals:read",
    "PATCH /deals/{id}": "deals:update",
    "DELETE /deals/{id}": "deals:delete",
    "POST /deals/{id}/restore": "deals:delete",  # undoing a delete is the deleter's right
    "GET /deals/{id}/stage-history": "deals:read",
    "POST /emails": "emails:create",
    "GET /emails": "emails:read",
    "GET /emails/{id}": "emails:read",
    "GET /suppressions": "suppressions:read",
    "POST /suppressions": "suppressions:create",
    "DELETE /suppressions/{address}": "suppressions:delete",
    # one-click unsubscribe from a marketing email: the token in the link is the credential
    "POST /unsubscribe": PUBLIC,
    "GET /email-templates": "email_templates:read",
    "POST /email-templates": "email_templates:create",
    "GET /email-templates/{id}": "email_templates:read",
    "PATCH /email-templates/{id}": "email_templates:update",
    "DELETE /email-templates/{id}": "email_templates:delete",
    # a preview shows the record's data: reading templates is not enough
    "POST /email-templates/{id}/preview": "email_templates:read",
    "GET /tasks": "tasks:read",
    "POST /tasks": "tasks:create",
    "GET /tasks/{id}": "tasks:read",
    "PATCH /tasks/{id}": "tasks:update",
    "DELETE /tasks/{id}": "tasks:delete",
    # a user's own notifications and preferences
    "GET /notifications": AUTHENTICATED,
    "POST /notifications/{id}/read": AUTHENTICATED,
    "POST /notifications/read-all": AUTHENTICATED,
    "GET /notifications/preferences": AUTHENTICATED,
    "PUT /notifications/preferences": AUTHENTICATED,
}

assert all(p in PERMISSIONS or p in (PUBLIC, AUTHENTICATED) for p in ROUTE_PERMISSIONS.values()), (
    "a route names a permission that does not exist"
)


def route_key(method: str, resource: str) -> str:
    """'GET /leads/{id}': the method and the path as template.yaml declares it."""
    return f"{method.upper()} {resource}"


def route_permission(method: str, resource: str) -> str | None:
    """The permission a route needs (or PUBLIC / AUTHENTICATED); None when it is unmapped."""
    return ROUTE_PERMISSIONS.get(route_key(method, resource))


# ------------------------------------------------------------------ decisions


def grant_of(principal: Principal) -> RoleGrant:
    """What the principal's role allows. An unknown custom role allows nothing."""
    role = builtin_role(principal.role)
    if role is not None:
        return BUILTIN_GRANTS[role]
    return principal.custom_grant or NO_GRANT


def role_permissions(role: Role) -> frozenset[str]:
    return BUILTIN_ROLE_PERMISSIONS[role]


def effective_permissions(principal: Principal) -> frozenset[str]:
    granted = grant_of(principal).permissions
    if principal.api_key_id is not None:
        granted = granted & principal.scopes
    return granted


def is_allowed(principal: Principal, permission: str) -> bool:
    if permission == AUTHENTICATED:
        return True
    return permission in effective_permissions(principal)


def require(principal: Principal, permission: str) -> Principal:
    """Return the principal when allowed, else 403 problem+json naming the permission."""
    if not is_allowed(principal, permission):
        raise Forbidden(f"this action needs the {permission!r} permission", permission=permission)
    return principal


def sees_only_own_records(principal: Principal) -> bool:
    return grant_of(principal).own_records_only


def may_access_record(principal: Principal, owner_id: uuid.UUID | None) -> bool:
    """The record-level rule: a role limited to its own records reaches a record only when it
    owns it or nobody does. Callers answer 404 otherwise, as for another tenant's record."""
    return not sees_only_own_records(principal) or owner_id in (None, principal.user_id)


def may_grant(granter: Principal, grant: RoleGrant) -> bool:
    """Nobody grants a role above their own: every permission of `grant` must be the granter's,
    and a role limited to its own records may only hand out limited roles."""
    mine = grant_of(granter)
    if not grant.permissions <= effective_permissions(granter):
        return False
    return not (mine.own_records_only and not grant.own_records_only)
