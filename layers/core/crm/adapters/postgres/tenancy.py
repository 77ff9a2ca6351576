"""Repositories of the tenancy half of identity: members, invitations, custom roles, the
tenant's profile and settings, plan usage, the audit trail's reader, and the per-request
admission (rate limit + the caller's current role) that runs outside any unit of work."""

from __future__ import annotations

import json
import uuid
import weakref
from datetime import datetime
from typing import Any

import pg8000.native

from crm.adapters.postgres.connection import ConnectionPool
from crm.domain.admission import Admission
from crm.domain.audit import AuditRecord
from crm.domain.members import Invitation, Member
from crm.domain.pagination import Keyset, Page, PageRequest
from crm.domain.plans import CounterRow, Limit, Period
from crm.domain.roles import CustomRole
from crm.domain.tenant_settings import TenantProfile
from crm.domain.tenants import RoleGrant

UNIQUE_VIOLATION = "23505"


def _is_unique_violation(error: pg8000.native.DatabaseError) -> bool:
    return (
        bool(error.args)
        and isinstance(error.args[0], dict)
        and error.args[0].get("C") == UNIQUE_VIOLATION
    )


# ------------------------------------------------------------------ members

_MEMBER_COLUMNS = "id, email, name, role, status, created_at, updated_at, version"


def _member(row: list[Any]) -> Member:
    id_, email, name, role, status, created_at, updated_at, version = row
    return Member(id_, email, name, role, status, created_at, updated_at, version)


class PostgresMemberRepository:
    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def get(self, user_id: uuid.UUID) -> Member | None:
        rows = self._conn.run(f"SELECT {_MEMBER_COLUMNS} FROM users WHERE id = :id", id=user_id)
        return _member(rows[0]) if rows else None

    def get_for_update(self, user_id: uuid.UUID) -> Member | None:
        rows = self._conn.run(
            f"SELECT {_MEMBER_COLUMNS} FROM users WHERE id = :id FOR UPDATE", id=user_id
        )
        return _member(rows[0]) if rows else None

    def find(self, *, role: str | None, status: str | None, page: PageRequest) -> Page[Member]:
        """Oldest first; `page.after` continues a listing after its last (created_at, id)."""
        # Optional filters as "param IS NULL OR column = param": one plan, no built SQL.
        rows = self._conn.run(
            f"SELECT {_MEMBER_COLUMNS} FROM users"
            " WHERE (CAST(:role AS text) IS NULL OR role = :role)"
            "   AND (CAST(:status AS text) IS NULL OR status = :status)"
            "   AND (CAST(:after_at AS timestamptz) IS NULL"
            "        OR (created_at, id) > (CAST(:after_at AS timestamptz), CAST(:after_id AS uuid)))"
            " ORDER BY created_at, id LIMIT :limit",
            role=role,
            status=status,
            after_at=page.after.value if page.after else None,
            after_id=page.after.id if page.after else None,
            limit=page.limit + 1,
        )
        return Page.from_rows(
            [_member(row) for row in rows], page.limit, lambda m: Keyset(m.created_at, m.id)
        )

    def update(
        self, user_id: uuid.UUID, *, name: str, role: str, status: str, expected_version: int
    ) -> Member | None:
        """None when the row is not at `expected_version` any more."""
        rows = self._conn.run(
            "UPDATE users SET name = :name, role = :role, status = :status,"
            " version = version + 1, updated_at = now()"
            f" WHERE id = :id AND version = :version RETURNING {_MEMBER_COLUMNS}",
            id=user_id,
            name=name,
            role=role,
            status=status,
            version=expected_version,
        )
        return _member(rows[0]) if rows else None

    def activate(self, user_id: uuid.UUID, *, name: str, password_hash: str) -> Member | None:
        """A pending (invited) user sets their password; None if no longer pending."""
        rows = self._conn.run(
            "UPDATE users SET name = :name, password_hash = :hash, status = 'active',"
            " version = version + 1, updated_at = now()"
            f" WHERE id = :id AND status = 'pending' RETURNING {_MEMBER_COLUMNS}",
            id=user_id,
            name=name,
            hash=password_hash,
        )
        return _member(rows[0]) if rows else None

    def lock_active_owners(self) -> list[uuid.UUID]:
        """Locks the tenant's active owners: two concurrent demotions cannot both see
        "another owner remains" and leave none."""
        rows = self._conn.run(
            "SELECT id FROM users WHERE role = 'owner' AND status = 'active' ORDER BY id FOR UPDATE"
        )
        return [row[0] for row in rows]

    def count_with_role(self, role: str) -> int:
        rows = self._conn.run("SELECT count(*) FROM users WHERE role = :role", role=role)
        return int(rows[0][0])


# ------------------------------------------------------------------ invitations


class PostgresInvitationRepository:
    def __init__(self, conn: pg8000.native.Connection, tenant_id: uuid.UUID) -> None:
        self._conn = conn
        self._tenant_id = tenant_id

    def add(self, invitation: Invitation) -> None:
        self._conn.run(
            "INSERT INTO invitations (id, tenant_id, user_id, token_hash, expires_at, created_by)"
            " VALUES (:id, :tenant_id, :user_id, :hash, :expires_at, :created_by)",
            id=invitation.id,
            tenant_id=self._tenant_id,
            user_id=invitation.user_id,
            hash=invitation.token_hash,
            expires_at=invitation.expires_at,
            created_by=invitation.created_by,
        )

    def get_by_token_hash(self, token_hash: str) -> Invitation | None:
        rows = self._conn.run(
            "SELECT id, tenant_id, user_id, token_hash, created_by, expires_at, accepted_at,"
            " revoked_at FROM invitations WHERE token_hash = :hash FOR UPDATE",
            hash=token_hash,
        )
        if not rows:
            return None
        id_, tenant_id, user_id, hash_, created_by, expires_at, accepted_at, revoked_at = rows[0]
        return Invitation(
            tenant_id=tenant_id,
            user_id=user_id,
            token_hash=hash_,
            created_by=created_by,
            expires_at=expires_at,
            accepted_at=accepted_at,
            revoked_at=revoked_at,
            id=id_,
        )

    def mark_accepted(self, invitation_id: uuid.UUID) -> bool:
        rows = self._conn.run(
            "UPDATE invitations SET accepted_at = now() WHERE id = :id"
            " AND accepted_at IS NULL AND revoked_at IS NULL RETURNING id",
            id=invitation_id,
        )
        return bool(rows)

    def revoke_open(self, user_id: uuid.UUID) -> int:
        rows = self._conn.run(
            "UPDATE invitations SET revoked_at = now() WHERE user_id = :user_id"
            " AND accepted_at IS NULL AND revoked_at IS NULL RETURNING id",
            user_id=user_id,
        )
        return len(rows)


# ------------------------------------------------------------------ custom roles

_ROLE_COLUMNS = (
    "key, name, description, permissions, own_records_only, created_at, updated_at, version"
)


def _custom_role(row: list[Any]) -> CustomRole:
    key, name, description, permissions, own, created_at, updated_at, version = row
    return CustomRole(
        key, name, description, frozenset(permissions), own, created_at, updated_at, version
    )


class PostgresCustomRoleRepository:
    def __init__(self, conn: pg8000.native.Connection, tenant_id: uuid.UUID) -> None:
        self._conn = conn
        self._tenant_id = tenant_id

    def all(self) -> list[CustomRole]:
        rows = self._conn.run(f"SELECT {_ROLE_COLUMNS} FROM custom_roles ORDER BY key")
        return [_custom_role(row) for row in rows]

    def get(self, key: str, *, for_update: bool = False) -> CustomRole | None:
        lock = " FOR UPDATE" if for_update else ""
        rows = self._conn.run(
            f"SELECT {_ROLE_COLUMNS} FROM custom_roles WHERE key = :k{lock}", k=key
        )
        return _custom_role(rows[0]) if rows else None

    def add(
        self,
        key: str,
        name: str,
        description: str,
        permissions: frozenset[str],
        own_records_only: bool,
    ) -> CustomRole | None:
        """None when the tenant already has a role with this key."""
        try:
            rows = self._conn.run(
                "INSERT INTO custom_roles (tenant_id, key, name, description, permissions,"
                " own_records_only) VALUES (:tenant_id, :key, :name, :description,"
                f" CAST(:permissions AS text[]), :own) RETURNING {_ROLE_COLUMNS}",
                tenant_id=self._tenant_id,
                key=key,
                name=name,
                description=description,
                permissions=sorted(permissions),
                own=own_records_only,
            )
        except pg8000.native.DatabaseError as error:
            if _is_unique_violation(error):
                return None
            raise
        return _custom_role(rows[0])

    def update(
        self,
        key: str,
        *,
        name: str,
        description: str,
        permissions: frozenset[str],
        own_records_only: bool,
        expected_version: int,
    ) -> CustomRole | None:
        rows = self._conn.run(
            "UPDATE custom_roles SET name = :name, description = :description,"
            " permissions = CAST(:permissions AS text[]), own_records_only = :own,"
            " version = version + 1, updated_at = now()"
            f" WHERE key = :key AND version = :version RETURNING {_ROLE_COLUMNS}",
            key=key,
            name=name,
            description=description,
            permissions=sorted(permissions),
            own=own_records_only,
            version=expected_version,
        )
        return _custom_role(rows[0]) if rows else None


# ------------------------------------------------------------------ tenant profile


_PROFILE_COLUMNS = "id, name, slug, plan, settings, version, created_at, updated_at"


class PostgresTenantProfileRepository:
    def __init__(self, conn: pg8000.native.Connection, tenant_id: uuid.UUID) -> None:
        self._conn = conn
        self._tenant_id = tenant_id

    def get(self, *, for_update: bool = False) -> TenantProfile | None:
        lock = " FOR UPDATE" if for_update else ""
        rows = self._conn.run(
            f"SELECT {_PROFILE_COLUMNS} FROM tenants WHERE id = :id{lock}", id=self._tenant_id
        )
        return TenantProfile(*rows[0]) if rows else None

    def update(
        self, *, name: str, settings: dict[str, Any], plan: str, expected_version: int
    ) -> TenantProfile | None:
        rows = self._conn.run(
            "UPDATE tenants SET name = :name, settings = CAST(:settings AS jsonb), plan = :plan,"
            " version = version + 1, updated_at = now()"
            f" WHERE id = :id AND version = :version RETURNING {_PROFILE_COLUMNS}",
            id=self._tenant_id,
            name=name,
            settings=json.dumps(settings),
            plan=plan,
            version=expected_version,
        )
        return TenantProfile(*rows[0]) if rows else None


# ------------------------------------------------------------------ plans and usage


class PostgresUsageRepository:
    def __init__(self, conn: pg8000.native.Connection, tenant_id: uuid.UUID) -> None:
        self._conn = conn
        self._tenant_id = tenant_id

    def plan_exists(self, plan: str) -> bool:
        return bool(self._conn.run("SELECT 1 FROM plans WHERE key = :k", k=plan))

    def plans(self) -> list[tuple[str, str]]:
        return [
            (r[0], r[1]) for r in self._conn.run("SELECT key, name FROM plans ORDER BY position")
        ]

    def limits(self, plan: str) -> dict[str, Limit]:
        rows = self._conn.run(
            "SELECT m.key, m.period, l.max_value FROM usage_metrics m"
            " LEFT JOIN plan_limits l ON l.metric = m.key AND l.plan = :plan ORDER BY m.key",
            plan=plan,
        )
        return {key: Limit(key, Period(period), max_value) for key, period, max_value in rows}

    def lock_level(self, metric: str) -> tuple[int, int | None, str]:
        """(used, limit, plan) of a level metric, its counter row locked until commit: the
        check and the insert it guards happen as one step for concurrent requests."""
        rows = self._conn.run(
            "WITH counter AS ("
            "  INSERT INTO usage_counters AS c (tenant_id, metric, period_start, used)"
            "  VALUES (:tenant_id, :metric, 'epoch', 0)"
            "  ON CONFLICT (tenant_id, metric, period_start) DO UPDATE SET used = c.used"
            "  RETURNING c.used)"
            " SELECT counter.used, l.max_value, t.plan FROM counter, tenants t"
            " LEFT JOIN plan_limits l ON l.plan = t.plan AND l.metric = :metric"
            " WHERE t.id = :tenant_id",
            tenant_id=self._tenant_id,
            metric=metric,
        )
        used, max_value, plan = rows[0]
        return int(used), max_value, plan

    def consume(self, metric: str, amount: int) -> tuple[bool, int, int | None, str, datetime]:
        """Adds `amount` to the counter of the metric's current period (UTC) unless that passes
        the plan's limit. Returns (consumed, used after, limit, plan, period start)."""
        rows = self._conn.run(
            "WITH lim AS ("
            "  SELECT t.plan, l.max_value,"
            "   date_trunc(m.period, clock_timestamp() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
            "     AS start"
            "  FROM tenants t JOIN usage_metrics m ON m.key = :metric AND m.period <> 'none'"
            "  LEFT JOIN plan_limits l ON l.plan = t.plan AND l.metric = m.key"
            "  WHERE t.id = :tenant_id),"
            " counted AS ("
            "  INSERT INTO usage_counters AS c (tenant_id, metric, period_start, used)"
            "  SELECT :tenant_id, :metric, lim.start, :amount FROM lim"
            "   WHERE lim.max_value IS NULL OR :amount <= lim.max_value"
            "  ON CONFLICT (tenant_id, metric, period_start) DO UPDATE SET used = c.used + :amount"
            "   WHERE (SELECT max_value FROM lim) IS NULL"
            "      OR c.used + :amount <= (SELECT max_value FROM lim)"
            "  RETURNING c.used)"
            " SELECT (SELECT used FROM counted), lim.max_value, lim.plan, lim.start FROM lim",
            tenant_id=self._tenant_id,
            metric=metric,
            amount=amount,
        )
        if not rows:
            raise ValueError(f"{metric} is not a periodic metric")
        used, max_value, plan, start = rows[0]
        if used is not None:
            return True, int(used), max_value, plan, start
        current = self._conn.run(
            "SELECT used FROM usage_counters WHERE metric = :metric AND period_start = :start",
            metric=metric,
            start=start,
        )
        return False, int(current[0][0]) if current else 0, max_value, plan, start

    def counters(self, plan: str, period_starts: dict[Period, datetime]) -> list[CounterRow]:
        """Every metric with the plan's limit and the counter of its current period."""
        rows = self._conn.run(
            "SELECT m.key, m.period, l.max_value FROM usage_metrics m"
            " LEFT JOIN plan_limits l ON l.metric = m.key AND l.plan = :plan ORDER BY m.key",
            plan=plan,
        )
        used_rows = self._conn.run(
            "SELECT metric, period_start, used FROM usage_counters"
            " WHERE period_start = ANY(CAST(:starts AS timestamptz[]))",
            starts=[start.isoformat() for start in period_starts.values()],
        )
        used = {(metric, start): value for metric, start, value in used_rows}
        window = self._conn.run("SELECT window_start, request_count FROM rate_limit_windows")
        result = []
        for key, period_name, max_value in rows:
            period = Period(period_name)
            start = period_starts[period]
            if key == "api_requests_per_minute":
                count = int(window[0][1]) if window and window[0][0] == start else 0
            else:
                count = int(used.get((key, start), 0))
            result.append(
                CounterRow(key, period, max_value, None if period is Period.NONE else start, count)
            )
        return result


# ------------------------------------------------------------------ audit trail (reads)


class PostgresAuditTrail:
    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def search(
        self,
        *,
        actor_id: uuid.UUID | None,
        action: str | None,
        entity_type: str | None,
        entity_id: str | None,
        since: datetime | None,
        until: datetime | None,
        page: PageRequest,
    ) -> Page[AuditRecord]:
        """Newest first; `page.after` continues a listing after its last (occurred_at, id),
        id being the log's bigint (crm.domain.pagination.RowId)."""
        rows = self._conn.run(
            "SELECT id, occurred_at, actor_type, actor_id, action, entity_type, entity_id,"
            " changes, host(ip), user_agent, request_id FROM audit_log"
            " WHERE (CAST(:actor_id AS uuid) IS NULL OR actor_id = :actor_id)"
            "   AND (CAST(:action AS text) IS NULL OR action = :action)"
            "   AND (CAST(:entity_type AS text) IS NULL OR entity_type = :entity_type)"
            "   AND (CAST(:entity_id AS text) IS NULL OR entity_id = :entity_id)"
            "   AND (CAST(:since AS timestamptz) IS NULL OR occurred_at >= :since)"
            "   AND (CAST(:until AS timestamptz) IS NULL OR occurred_at < :until)"
            "   AND (CAST(:before_at AS timestamptz) IS NULL"
            "        OR (occurred_at, id) < (CAST(:before_at AS timestamptz), CAST(:before_id AS bigint)))"
            " ORDER BY occurred_at DESC, id DESC LIMIT :limit",
            actor_id=actor_id,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            since=since,
            until=until,
            before_at=page.after.value if page.after else None,
            before_id=page.after.id if page.after else None,
            limit=page.limit + 1,
        )
        return Page.from_rows(
            [AuditRecord(*row) for row in rows], page.limit, lambda r: Keyset(r.occurred_at, r.id)
        )


# ------------------------------------------------------------------ admission


class PostgresRequestAdmission:
    """One round trip per request (admit_api_request, migrations 0004, 0009, 0011), on a pooled connection
    outside any unit of work. The statement is prepared once per connection: parsing it on
    every request cost as much again as running it."""

    SQL = (
        "SELECT * FROM admit_api_request(CAST(:tenant_id AS uuid), CAST(:user_id AS uuid),"
        " CAST(:api_key_id AS uuid), CAST(:issued_at AS bigint), CAST(:session_id AS uuid))"
    )

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self._prepared: weakref.WeakKeyDictionary[
            pg8000.native.Connection, pg8000.native.PreparedStatement
        ] = weakref.WeakKeyDictionary()

    def admit(
        self,
        tenant_id: uuid.UUID,
        user_id: uuid.UUID,
        *,
        api_key_id: uuid.UUID | None = None,
        issued_at: int | None = None,
        session_id: uuid.UUID | None = None,
    ) -> Admission:
        with self._pool.connection() as conn:
            statement = self._prepared.get(conn)
            if statement is None:
                statement = self._prepared[conn] = conn.prepare(self.SQL)
            try:
                rows = statement.run(
                    tenant_id=tenant_id,
                    user_id=user_id,
                    api_key_id=api_key_id,
                    issued_at=issued_at,
                    session_id=session_id,
                )
            except pg8000.native.DatabaseError:
                # e.g. the function was replaced by a migration: prepare it again next time
                self._prepared.pop(conn, None)
                raise
        (count, limit, window_start, reset, role, status, permissions, own_records_only,
         revoked) = rows[0]  # fmt: skip
        grant = (
            RoleGrant(frozenset(permissions), bool(own_records_only))
            if permissions is not None
            else None
        )
        return Admission(count, limit, window_start, reset, role, status, grant, bool(revoked))


def tenancy_repositories(
    conn: pg8000.native.Connection, tenant_id: uuid.UUID
) -> tuple[
    PostgresMemberRepository,
    PostgresInvitationRepository,
    PostgresCustomRoleRepository,
    PostgresTenantProfileRepository,
    PostgresUsageRepository,
    PostgresAuditTrail,
]:
    """The repositories a unit of work exposes as members, invitations, custom_roles,
    tenant_profile, usage and audit_trail."""
    return (
        PostgresMemberRepository(conn),
        PostgresInvitationRepository(conn, tenant_id),
        PostgresCustomRoleRepository(conn, tenant_id),
        PostgresTenantProfileRepository(conn, tenant_id),
        PostgresUsageRepository(conn, tenant_id),
        PostgresAuditTrail(conn),
    )
