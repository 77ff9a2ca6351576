"""Custom roles: a tenant's own permission sets, next to the built-in roles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crm.domain.permissions import BUILTIN_GRANTS
from crm.domain.tenants import Role, RoleGrant


@dataclass(frozen=True)
class CustomRole:
    key: str
    name: str
    description: str
    permissions: frozenset[str]
    own_records_only: bool
    created_at: datetime
    updated_at: datetime
    version: int

    @property
    def grant(self) -> RoleGrant:
        return RoleGrant(self.permissions, self.own_records_only)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "description": self.description,
            "builtin": False,
            "permissions": sorted(self.permissions),
            "own_records_only": self.own_records_only,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "version": self.version,
        }

    def audited(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "permissions": sorted(self.permissions),
            "own_records_only": self.own_records_only,
        }


BUILTIN_ROLE_DESCRIPTIONS = {
    Role.OWNER: "Everything, including the plan; at least one per tenant",
    Role.ADMIN: "Everything except changing the plan",
    Role.MANAGER: "All CRM data and automations; reads users, roles, settings and usage",
    Role.SELLER: "Leads, contacts and deals they own or that are unassigned",
    Role.VIEWER: "Reads CRM data, pipelines, automations and reports",
}


def builtin_role_view(role: Role) -> dict[str, Any]:
    grant = BUILTIN_GRANTS[role]
    return {
        "key": role.value,
        "name": role.value.capitalize(),
        "description": BUILTIN_ROLE_DESCRIPTIONS[role],
        "builtin": True,
        "permissions": sorted(grant.permissions),
        "own_records_only": grant.own_records_only,
    }
