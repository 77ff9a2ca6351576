"""Ports of tenants, their users, members, roles, profile, plan usage and request admission."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol

from crm.domain.admission import Admission
from crm.domain.members import Invitation, Member
from crm.domain.pagination import Page, PageRequest
from crm.domain.plans import CounterRow, Limit, Period
from crm.domain.roles import CustomRole
from crm.domain.tenant_settings import TenantProfile
from crm.domain.tenants import Tenant, User
from crm.ports.transaction import TransactionScope


class TenantRepository(Protocol):
    def add(self, tenant: Tenant) -> None: ...


class UserRepository(Protocol):
    def add(self, user: User, tenant_slug: str) -> None: ...
    def get_by_email(self, email: str) -> User | None: ...


class MemberRepository(Protocol):
    """The tenant's users as administrators manage them (crm.services.users)."""

    def get(self, user_id: uuid.UUID) -> Member | None: ...
    def get_for_update(self, user_id: uuid.UUID) -> Member | None: ...
    def find(self, *, role: str | None, status: str | None, page: PageRequest) -> Page[Member]: ...
    def update(
        self, user_id: uuid.UUID, *, name: str, role: str, status: str, expected_version: int
    ) -> Member | None: ...
    def activate(self, user_id: uuid.UUID, *, name: str, password_hash: str) -> Member | None: ...
    def lock_active_owners(self) -> list[uuid.UUID]: ...
    def count_with_role(self, role: str) -> int: ...


class InvitationRepository(Protocol):
    def add(self, invitation: Invitation) -> None: ...
    def get_by_token_hash(self, token_hash: str) -> Invitation | None: ...
    def mark_accepted(self, invitation_id: uuid.UUID) -> bool: ...
    def revoke_open(self, user_id: uuid.UUID) -> int: ...


class CustomRoleRepository(Protocol):
    def all(self) -> list[CustomRole]: ...
    def get(self, key: str, *, for_update: bool = False) -> CustomRole | None: ...
    def add(
        self,
        key: str,
        name: str,
        description: str,
        permissions: frozenset[str],
        own_records_only: bool,
    ) -> CustomRole | None: ...
    def update(
        self,
        key: str,
        *,
        name: str,
        description: str,
        permissions: frozenset[str],
        own_records_only: bool,
        expected_version: int,
    ) -> CustomRole | None: ...


class TenantProfileRepository(Protocol):
    def get(self, *, for_update: bool = False) -> TenantProfile | None: ...
    def update(
        self, *, name: str, settings: dict[str, Any], plan: str, expected_version: int
    ) -> TenantProfile | None: ...


class UsageRepository(Protocol):
    """Plans, limits and usage counters (crm.services.plans)."""

    def plan_exists(self, plan: str) -> bool: ...
    def limits(self, plan: str) -> dict[str, Limit]: ...
    def lock_level(self, metric: str) -> tuple[int, int | None, str]: ...
    def consume(self, metric: str, amount: int) -> tuple[bool, int, int | None, str, datetime]: ...
    def counters(self, plan: str, period_starts: dict[Period, datetime]) -> list[CounterRow]: ...


class RequestAdmission(Protocol):
    """Once per authenticated API request, outside any unit of work: count it in the tenant's
    rate-limit window and read the caller's current role and status, and whether the
    credential (API key `api_key_id`, or an access token issued at `issued_at`, epoch seconds,
    in session `session_id`) has been revoked since."""

    def admit(
        self,
        tenant_id: uuid.UUID,
        user_id: uuid.UUID,
        *,
        api_key_id: uuid.UUID | None = None,
        issued_at: int | None = None,
        session_id: uuid.UUID | None = None,
    ) -> Admission: ...


class PlanUsageUnitOfWork(TransactionScope, Protocol):
    """The tenant's plan limits and usage counters (crm.services.plans)."""

    @property
    def usage(self) -> UsageRepository: ...
