"""In-memory fakes of the tenancy ports (members, invitations, custom roles, tenant profile,
usage, audit trail, request admission), attached to tests/unit/fakes.FakeUnitOfWork.

Plan limits default to the seed rows of infra/db/migrations/0004_tenancy.sql (parsed, so the
fakes and the database agree); a test may override them in `TenancyState.limits`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from crm.domain.admission import Admission
from crm.domain.audit import AuditEntry, AuditRecord
from crm.domain.members import Invitation, Member
from crm.domain.pagination import Keyset, Page, PageRequest
from crm.domain.plans import CounterRow, Limit, Period, period_start
from crm.domain.roles import CustomRole
from crm.domain.tenant_settings import TenantProfile
from crm.domain.tenants import RoleGrant, Tenant, User, builtin_role

from tests.support import ROOT

MIGRATIONS = ROOT / "infra/db/migrations"
PERIODS = {
    "users": Period.NONE,
    "leads": Period.NONE,
    "pipelines": Period.NONE,
    "active_automations": Period.NONE,
    "automation_runs_per_month": Period.MONTH,
    "emails_per_day": Period.DAY,
    "sms_per_day": Period.DAY,
    "api_requests_per_minute": Period.MINUTE,
}


def seeded_limits() -> dict[str, dict[str, int | None]]:
    """plan -> metric -> max_value, from the migrations' INSERT INTO plan_limits."""
    limits: dict[str, dict[str, int | None]] = {}
    for migration in sorted(MIGRATIONS.glob("*.sql")):
        for part in migration.read_text().split("INSERT INTO plan_limits")[1:]:
            section = part.split(";", 1)[0]
            for plan, metric, value in re.findall(r"\('(\w+)', '(\w+)', (NULL|\d+)\)", section):
                limits.setdefault(plan, {})[metric] = None if value == "NULL" else int(value)
    return limits


@dataclass
class _User:
    tenant_id: uuid.UUID
    member: Member
    password_hash: str


@dataclass
class TenancyState:
    tenants: dict[uuid.UUID, TenantProfile] = field(default_factory=dict)
    users: dict[uuid.UUID, _User] = field(default_factory=dict)
    invitations: dict[uuid.UUID, Invitation] = field(default_factory=dict)
    roles: dict[tuple[uuid.UUID, str], CustomRole] = field(default_factory=dict)
    counters: dict[tuple[uuid.UUID, str, datetime], int] = field(default_factory=dict)
    windows: dict[uuid.UUID, tuple[datetime, int]] = field(default_factory=dict)
    limits: dict[str, dict[str, int | None]] = field(default_factory=seeded_limits)
    locks: list[str] = field(default_factory=list)  # what was locked, in order


def _now() -> datetime:
    return datetime.now(UTC)


class FakeTenants:
    def __init__(self, state: TenancyState) -> None:
        self._s = state

    def add(self, tenant: Tenant) -> None:
        if any(t.slug == tenant.slug for t in self._s.tenants.values()):
            from crm.domain.errors import Conflict

            raise Conflict(f"the slug {tenant.slug!r} is taken", field="slug")
        now = _now()
        self._s.tenants[tenant.id] = TenantProfile(
            tenant.id, tenant.name, tenant.slug, tenant.plan, {}, 1, now, now
        )


class FakeUsers:
    def __init__(self, state: TenancyState, tenant_id: uuid.UUID) -> None:
        self._s, self._t = state, tenant_id

    def add(self, user: User, tenant_slug: str) -> None:
        if self.get_by_email(user.email) is not None:
            raise AssertionError("unique (tenant_id, email) violated")
        now = _now()
        member = Member(user.id, user.email, user.name, user.role, user.status, now, now, 1)
        self._s.users[user.id] = _User(self._t, member, user.password_hash)

    def get_by_email(self, email: str) -> User | None:
        for row in self._s.users.values():
            if row.tenant_id == self._t and row.member.email == email.lower():
                m = row.member
                return User(self._t, m.email, m.name, row.password_hash, m.role, m.status, m.id)
        return None


class FakeMembers:
    def __init__(self, state: TenancyState, tenant_id: uuid.UUID) -> None:
        self._s, self._t = state, tenant_id

    def _mine(self) -> list[_User]:
        return [u for u in self._s.users.values() if u.tenant_id == self._t]

    def get(self, user_id: uuid.UUID) -> Member | None:
        row = self._s.users.get(user_id)
        return row.member if row and row.tenant_id == self._t else None

    def get_for_update(self, user_id: uuid.UUID) -> Member | None:
        self._s.locks.append(f"user:{user_id}")
        return self.get(user_id)

    def find(self, *, role: str | None, status: str | None, page: PageRequest) -> Page[Member]:
        members = sorted((u.member for u in self._mine()), key=lambda m: (m.created_at, m.id))
        after = page.after
        rows = [
            m
            for m in members
            if (role is None or m.role == role)
            and (status is None or m.status == status)
            and (after is None or (m.created_at, m.id) > (after.value, after.id))
        ]
        return Page.from_rows(
            rows[: page.limit + 1], page.limit, lambda m: Keyset(m.created_at, m.id)
        )

    def update(self, user_id, *, name, role, status, expected_version) -> Member | None:  # type: ignore[no-untyped-def]
        row = self._s.users.get(user_id)
        if row is None or row.tenant_id != self._t or row.member.version != expected_version:
            return None
        if builtin_role(role) is None and (self._t, role) not in self._s.roles:
            raise AssertionError("users_custom_role_fkey violated")
        row.member = replace(
            row.member, name=name, role=role, status=status,
            version=row.member.version + 1, updated_at=_now(),
        )  # fmt: skip
        return row.member

    def activate(self, user_id, *, name, password_hash) -> Member | None:  # type: ignore[no-untyped-def]
        row = self._s.users.get(user_id)
        if row is None or row.tenant_id != self._t or row.member.status != "pending":
            return None
        row.password_hash = password_hash
        row.member = replace(row.member, name=name, status="active", version=row.member.version + 1)
        return row.member

    def lock_active_owners(self) -> list[uuid.UUID]:
        owners = sorted(
            u.member.id
            for u in self._mine()
            if u.member.role == "owner" and u.member.status == "active"
        )
        self._s.locks.append("owners")
        return owners

    def count_with_role(self, role: str) -> int:
        return sum(1 for u in self._mine() if u.member.role == role)


class FakeInvitations:
    def __init__(self, state: TenancyState, tenant_id: uuid.UUID) -> None:
        self._s, self._t = state, tenant_id

    def add(self, invitation: Invitation) -> None:
        self._s.invitations[invitation.id] = replace(invitation, tenant_id=self._t)

    def get_by_token_hash(self, token_hash: str) -> Invitation | None:
        for invitation in self._s.invitations.values():
            if invitation.tenant_id == self._t and invitation.token_hash == token_hash:
                return invitation
        return None

    def mark_accepted(self, invitation_id: uuid.UUID) -> bool:
        invitation = self._s.invitations[invitation_id]
        if invitation.accepted_at or invitation.revoked_at:
            return False
        self._s.invitations[invitation_id] = replace(invitation, accepted_at=_now())
        return True

    def revoke_open(self, user_id: uuid.UUID) -> int:
        revoked = 0
        for key, inv in list(self._s.invitations.items()):
            if inv.user_id == user_id and inv.accepted_at is None and inv.revoked_at is None:
                self._s.invitations[key] = replace(inv, revoked_at=_now())
                revoked += 1
        return revoked


class FakeCustomRoles:
    def __init__(self, state: TenancyState, tenant_id: uuid.UUID) -> None:
        self._s, self._t = state, tenant_id

    def all(self) -> list[CustomRole]:
        return sorted(
            (r for (t, _), r in self._s.roles.items() if t == self._t), key=lambda r: r.key
        )

    def get(self, key: str, *, for_update: bool = False) -> CustomRole | None:
        return self._s.roles.get((self._t, key))

    def add(self, key, name, description, permissions, own_records_only) -> CustomRole | None:  # type: ignore[no-untyped-def]
        if (self._t, key) in self._s.roles:
            return None
        now = _now()
        role = CustomRole(key, name, description, permissions, own_records_only, now, now, 1)
        self._s.roles[(self._t, key)] = role
        return role

    def update(
        self, key, *, name, description, permissions, own_records_only, expected_version
    ) -> CustomRole | None:  # type: ignore[no-untyped-def]
        role = self._s.roles.get((self._t, key))
        if role is None or role.version != expected_version:
            return None
        updated = replace(role, name=name, description=description, permissions=permissions,
                          own_records_only=own_records_only, version=role.version + 1)  # fmt: skip
        self._s.roles[(self._t, key)] = updated
        return updated


class FakeTenantProfile:
    def __init__(self, state: TenancyState, tenant_id: uuid.UUID) -> None:
        self._s, self._t = state, tenant_id

    def get(self, *, for_update: bool = False) -> TenantProfile | None:
        return self._s.tenants.get(self._t)

    def update(self, *, name, settings, plan, expected_version) -> TenantProfile | None:  # type: ignore[no-untyped-def]
        profile = self._s.tenants.get(self._t)
        if profile is None or profile.version != expected_version:
            return None
        updated = profile._replace(
            name=name, settings=dict(settings), plan=plan, version=profile.version + 1
        )
        self._s.tenants[self._t] = updated
        return updated


class FakeUsage:
    """Levels are counted from the state, as the tables' triggers keep them in Postgres."""

    def __init__(self, state: TenancyState, staged: Any, tenant_id: uuid.UUID) -> None:
        self._s, self._staged, self._t = state, staged, tenant_id

    def _plan(self) -> str:
        # Unit tests of other services use tenants nobody created: they are on the free plan.
        profile = self._s.tenants.get(self._t)
        return profile.plan if profile else "free"

    def _level(self, metric: str) -> int:
        if metric == "users":
            return sum(
                1 for u in self._s.users.values()
                if u.tenant_id == self._t and u.member.status in ("active", "pending")
            )  # fmt: skip
        if metric == "leads":
            return sum(1 for lead in self._staged.leads.values() if lead.tenant_id == self._t)
        if metric == "active_automations":
            return sum(
                1 for a in self._staged.automations.values()
                if a["tenant_id"] == self._t and a["status"] == "active"
            )  # fmt: skip
        return 0

    def plan_exists(self, plan: str) -> bool:
        return plan in self._s.limits

    def limits(self, plan: str) -> dict[str, Limit]:
        return {m: Limit(m, PERIODS[m], self._s.limits[plan].get(m)) for m in PERIODS}

    def lock_level(self, metric: str) -> tuple[int, int | None, str]:
        self._s.locks.append(f"usage:{metric}")
        plan = self._plan()
        return self._level(metric), self._s.limits[plan].get(metric), plan

    def consume(self, metric: str, amount: int) -> tuple[bool, int, int | None, str, datetime]:
        period = PERIODS[metric]
        if period is Period.NONE:
            raise ValueError(f"{metric} is not a periodic metric")
        plan = self._plan()
        limit = self._s.limits[plan].get(metric)
        start = period_start(period, _now())
        key = (self._t, metric, start)
        used = self._s.counters.get(key, 0)
        if limit is not None and used + amount > limit:
            return False, used, limit, plan, start
        self._s.counters[key] = used + amount
        return True, used + amount, limit, plan, start

    def counters(self, plan: str, period_starts: dict[Period, datetime]) -> list[CounterRow]:
        rows = []
        for metric, period in sorted(PERIODS.items()):
            start = period_starts[period]
            if period is Period.NONE:
                used = self._level(metric)
            elif metric == "api_requests_per_minute":
                window = self._s.windows.get(self._t)
                used = window[1] if window and window[0] == start else 0
            else:
                used = self._s.counters.get((self._t, metric, start), 0)
            start_or_none = None if period is Period.NONE else start
            limit = self._s.limits[plan].get(metric)
            rows.append(CounterRow(metric, period, limit, start_or_none, used))
        return rows


class FakeAuditTrail:
    def __init__(self, staged: Any) -> None:
        self._staged = staged

    def search(
        self, *, actor_id, action, entity_type, entity_id, since, until, page: PageRequest
    ) -> Page[AuditRecord]:  # type: ignore[no-untyped-def]
        records = [_record(i, e) for i, e in enumerate(self._staged.audit, start=1)]
        after = page.after
        selected = [
            r for r in records
            if (actor_id is None or r.actor_id == actor_id)
            and (action is None or r.action == action)
            and (entity_type is None or r.entity_type == entity_type)
            and (entity_id is None or r.entity_id == entity_id)
            and (since is None or r.occurred_at >= since)
            and (until is None or r.occurred_at < until)
            and (after is None or (r.occurred_at, r.id) < (after.value, after.id))
        ]  # fmt: skip
        newest_first = sorted(selected, key=lambda r: (r.occurred_at, r.id), reverse=True)
        return Page.from_rows(
            newest_first[: page.limit + 1], page.limit, lambda r: Keyset(r.occurred_at, r.id)
        )


# The store is deep-copied by every unit of work, so entries carry no stable identity: their
# position in the log is their id, and it also orders their (fake) times.
_LOG_START = datetime(2026, 1, 1, tzinfo=UTC)


def _record(position: int, entry: AuditEntry) -> AuditRecord:
    return AuditRecord(
        position, _LOG_START + timedelta(seconds=position), entry.actor_type, entry.actor_id,
        entry.action, entry.entity_type, entry.entity_id, entry.changes, entry.meta.ip,
        entry.meta.user_agent, entry.meta.request_id,
    )  # fmt: skip


def attach(uow: Any, staged: Any, tenant_id: uuid.UUID) -> None:
    """Gives a FakeUnitOfWork the tenancy repositories, over the staged copy of the store."""
    state: TenancyState = staged.tenancy
    uow.tenants = FakeTenants(state)
    uow.users = FakeUsers(state, tenant_id)
    uow.members = FakeMembers(state, tenant_id)
    uow.invitations = FakeInvitations(state, tenant_id)
    uow.custom_roles = FakeCustomRoles(state, tenant_id)
    uow.tenant_profile = FakeTenantProfile(state, tenant_id)
    uow.usage = FakeUsage(state, staged, tenant_id)
    uow.audit_trail = FakeAuditTrail(staged)


class FakeAdmission:
    """admit_api_request over a TenancyState: the window, the limit, the caller's role, and
    the credential's revocation (`revoked_keys`; `tokens_valid_after`: user -> epoch seconds;
    `revoked_sessions`)."""

    def __init__(self, state: TenancyState, clock: Any = _now) -> None:
        self._s, self._clock = state, clock
        self.calls = 0
        self.revoked_keys: set[uuid.UUID] = set()
        self.tokens_valid_after: dict[uuid.UUID, int] = {}
        self.revoked_sessions: set[uuid.UUID] = set()

    def admit(
        self,
        tenant_id: uuid.UUID,
        user_id: uuid.UUID,
        *,
        api_key_id: uuid.UUID | None = None,
        issued_at: int | None = None,
        session_id: uuid.UUID | None = None,
    ) -> Admission:
        self.calls += 1
        now = self._clock()
        start = now.replace(second=0, microsecond=0)
        window = self._s.windows.get(tenant_id)
        count = window[1] + 1 if window and window[0] >= start else 1
        self._s.windows[tenant_id] = (max(start, window[0]) if window else start, count)
        profile = self._s.tenants.get(tenant_id)
        limit = self._s.limits[profile.plan].get("api_requests_per_minute") if profile else None
        row = self._s.users.get(user_id)
        member = row.member if row and row.tenant_id == tenant_id else None
        grant: RoleGrant | None = None
        if member is not None and builtin_role(member.role) is None:
            role = self._s.roles.get((tenant_id, member.role))
            grant = role.grant if role else None
        reset = max(1, 60 - now.second)
        if api_key_id is not None:
            revoked = api_key_id in self.revoked_keys
        else:
            valid_after = self.tokens_valid_after.get(user_id)
            revoked = None not in (issued_at, valid_after) and issued_at < valid_after  # type: ignore[operator]
            revoked = revoked or session_id in self.revoked_sessions
        return Admission(
            count, limit, start, reset,
            member.role if member else None, member.status if member else None, grant, revoked,
        )  # fmt: skip
