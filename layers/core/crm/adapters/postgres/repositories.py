"""Repositories: all SQL of the aggregates, parameterised. They never commit."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pg8000.native

from crm.domain.audit import AuditEntry
from crm.domain.errors import Conflict
from crm.domain.tenants import Tenant, User

UNIQUE_VIOLATION = "23505"


def _is_unique_violation(error: pg8000.native.DatabaseError) -> bool:
    return (
        bool(error.args)
        and isinstance(error.args[0], dict)
        and error.args[0].get("C") == UNIQUE_VIOLATION
    )


class PostgresTenantRepository:
    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def add(self, tenant: Tenant) -> None:
        try:
            self._conn.run(
                "INSERT INTO tenants (id, name, slug, plan) VALUES (:id, :name, :slug, :plan)",
                id=tenant.id,
                name=tenant.name,
                slug=tenant.slug,
                plan=tenant.plan,
            )
        except pg8000.native.DatabaseError as error:
            if _is_unique_violation(error):
                raise Conflict(f"the slug {tenant.slug!r} is taken", field="slug") from error
            raise


class PostgresUserRepository:
    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def add(self, user: User, tenant_slug: str) -> None:
        self._conn.run(
            "INSERT INTO users (id, tenant_id, email, name, password_hash, role, status)"
            " VALUES (:id, :tenant_id, :email, :name, :hash, :role, :status)",
            id=user.id,
            tenant_id=user.tenant_id,
            email=user.email,
            name=user.name,
            hash=user.password_hash,
            role=str(user.role),
            status=user.status,
        )
        self._conn.run(
            "INSERT INTO login_directory (email, tenant_id, tenant_slug, user_id)"
            " VALUES (:email, :tenant_id, :slug, :user_id)",
            email=user.email,
            tenant_id=user.tenant_id,
            slug=tenant_slug,
            user_id=user.id,
        )

    def get_by_email(self, email: str) -> User | None:
        rows = self._conn.run(
            "SELECT id, tenant_id, email, name, password_hash, role, status FROM users"
            " WHERE email = :email",
            email=email.lower(),
        )
        if not rows:
            return None
        id_, tenant_id, email_, name, hash_, role, status = rows[0]
        return User(
            id=id_,
            tenant_id=tenant_id,
            email=email_,
            name=name,
            password_hash=hash_,
            role=role,
            status=status,
        )


class PostgresLoginDirectory:
    """Reads the email -> tenants mapping through the only door the app role has to it."""

    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def tenants_for(self, email: str) -> list[tuple[uuid.UUID, str, uuid.UUID]]:
        rows = self._conn.run(
            "SELECT tenant_id, tenant_slug, user_id FROM find_login_tenants(:email)", email=email
        )
        return [(row[0], row[1], row[2]) for row in rows]


class PostgresAutomationRunRepository:
    def __init__(self, conn: pg8000.native.Connection, tenant_id: uuid.UUID) -> None:
        self._conn = conn
        self._tenant_id = tenant_id

    def add_if_absent(
        self,
        run_id: uuid.UUID,
        automation_id: uuid.UUID,
        version_id: uuid.UUID,
        event_id: uuid.UUID,
        execution_name: str,
    ) -> bool:
        rows = self._conn.run(
            "INSERT INTO automation_runs (id, tenant_id, automation_id, version_id, event_id,"
            " execution_name) VALUES (:id, :tenant_id, :automation_id, :version_id, :event_id,"
            " :name) ON CONFLICT (version_id, event_id) DO NOTHING RETURNING id",
            id=run_id,
            tenant_id=self._tenant_id,
            automation_id=automation_id,
            version_id=version_id,
            event_id=event_id,
            name=execution_name,
        )
        return bool(rows)

    def set_execution_arn(self, run_id: uuid.UUID, arn: str) -> None:
        self._conn.run(
            "UPDATE automation_runs SET execution_arn = :arn WHERE id = :id", arn=arn, id=run_id
        )


class PostgresActionLedger:
    def __init__(self, conn: pg8000.native.Connection, tenant_id: uuid.UUID) -> None:
        self._conn = conn
        self._tenant_id = tenant_id

    def claim(self, key: str, run_id: uuid.UUID, step_id: str, kind: str) -> dict[str, Any] | None:
        # A concurrent duplicate blocks on the unique key until the first transaction ends,
        # then sees its row: the effect inside that transaction happens once.
        inserted = self._conn.run(
            "INSERT INTO action_executions (tenant_id, idempotency_key, run_id, step_id, kind)"
            " VALUES (:tenant_id, :key, :run_id, :step_id, :kind)"
            " ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING 1",
            tenant_id=self._tenant_id,
            key=key,
            run_id=run_id,
            step_id=step_id,
            kind=kind,
        )
        if inserted:
            return None
        rows = self._conn.run(
            "SELECT result FROM action_executions WHERE idempotency_key = :key", key=key
        )
        result: dict[str, Any] = rows[0][0]
        return result

    def record_result(self, key: str, result: dict[str, Any]) -> None:
        self._conn.run(
            "UPDATE action_executions SET result = CAST(:result AS jsonb)"
            " WHERE idempotency_key = :key",
            result=json.dumps(result),
            key=key,
        )


class PostgresIdempotencyStore:
    def __init__(self, conn: pg8000.native.Connection, tenant_id: uuid.UUID) -> None:
        self._conn = conn
        self._tenant_id = tenant_id

    def get(self, key: str) -> tuple[str, int, dict[str, Any]] | None:
        rows = self._conn.run(
            "SELECT request_hash, status_code, response FROM idempotency_keys WHERE key = :key",
            key=key,
        )
        return (rows[0][0], rows[0][1], rows[0][2]) if rows else None

    def put(self, key: str, request_hash: str, status_code: int, response: dict[str, Any]) -> None:
        self._conn.run(
            "INSERT INTO idempotency_keys (tenant_id, key, request_hash, status_code, response)"
            " VALUES (:tenant_id, :key, :hash, :status, CAST(:response AS json))",
            tenant_id=self._tenant_id,
            key=key,
            hash=request_hash,
            status=status_code,
            response=json.dumps(response, default=str),
        )

    def claim(self, key: str, request_hash: str) -> tuple[str, int, dict[str, Any]] | None:
        # Insert first: a second request with the same key blocks on the primary key until
        # this transaction ends, then finds the committed response (or, after a rollback,
        # inserts its own claim). The placeholder response is never visible outside.
        inserted = self._conn.run(
            "INSERT INTO idempotency_keys (tenant_id, key, request_hash, status_code, response)"
            " VALUES (:tenant_id, :key, :hash, 0, '{}'::json)"
            " ON CONFLICT (tenant_id, key) DO NOTHING RETURNING 1",
            tenant_id=self._tenant_id,
            key=key,
            hash=request_hash,
        )
        return None if inserted else self.get(key)

    def complete(self, key: str, status_code: int, response: dict[str, Any]) -> None:
        self._conn.run(
            "UPDATE idempotency_keys SET status_code = :status, response = CAST(:response AS json)"
            " WHERE key = :key",
            status=status_code,
            response=json.dumps(response, default=str),
            key=key,
        )


class PostgresOutbox:
    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def add(self, envelope: dict[str, Any]) -> int:
        """Write the event and return its sequence number within its aggregate (subject).
        Bumping the aggregate's counter locks its row until commit, so concurrent writers of
        one aggregate get consecutive numbers in commit order."""
        rows = self._conn.run(
            "WITH next AS ("
            "  INSERT INTO aggregate_sequences AS s (tenant_id, aggregate, last_sequence)"
            "  VALUES (:tenant_id, :aggregate, 1)"
            "  ON CONFLICT (tenant_id, aggregate)"
            "  DO UPDATE SET last_sequence = s.last_sequence + 1"
            "  RETURNING last_sequence)"
            " INSERT INTO outbox (id, tenant_id, type, aggregate, sequence, envelope)"
            " SELECT :id, :tenant_id, :type, :aggregate, next.last_sequence,"
            "   CAST(:envelope AS jsonb) || jsonb_build_object('aggregatesequence', next.last_sequence)"
            " FROM next RETURNING sequence",
            id=uuid.UUID(envelope["id"]),
            tenant_id=uuid.UUID(envelope["tenantid"]),
            type=envelope["type"],
            aggregate=envelope.get("subject") or "",
            envelope=json.dumps(envelope),
        )
        sequence: int = rows[0][0]
        return sequence

    def add_many(self, envelopes: list[dict[str, Any]]) -> list[int]:
        """add() for many events in one statement, each of its own aggregate (a lead an
        import creates): each aggregate's counter is bumped once. Returns the sequence numbers
        in the order given."""
        subjects = [envelope.get("subject") or "" for envelope in envelopes]
        if len(set(subjects)) != len(subjects):
            raise ValueError("add_many takes one event per aggregate; use add() for more")
        if not envelopes:
            return []
        # One JSON document for all the events: per-element array parameters cost the
        # driver more than the database for an import's hundreds of envelopes.
        rows = self._conn.run(
            "WITH input AS ("
            "  SELECT CAST(e->>'id' AS uuid) AS id, e->>'type' AS type,"
            "   coalesce(e->>'subject', '') AS aggregate, e AS envelope"
            "  FROM jsonb_array_elements(CAST(:envelopes AS jsonb)) AS e),"
            " next AS ("
            "  INSERT INTO aggregate_sequences AS s (tenant_id, aggregate, last_sequence)"
            "  SELECT :tenant_id, aggregate, 1 FROM input"
            "  ON CONFLICT (tenant_id, aggregate)"
            "  DO UPDATE SET last_sequence = s.last_sequence + 1"
            "  RETURNING aggregate, last_sequence)"
            " INSERT INTO outbox (id, tenant_id, type, aggregate, sequence, envelope)"
            " SELECT input.id, :tenant_id, input.type, input.aggregate, next.last_sequence,"
            "   input.envelope || jsonb_build_object('aggregatesequence', next.last_sequence)"
            " FROM input JOIN next ON next.aggregate = input.aggregate"
            " RETURNING aggregate, sequence",
            envelopes=json.dumps(envelopes),
            tenant_id=uuid.UUID(envelopes[0]["tenantid"]),
        )
        sequences = {row[0]: row[1] for row in rows}
        return [sequences[subject] for subject in subjects]

    def mark_published(self, event_ids: list[uuid.UUID]) -> None:
        self._conn.run(
            "UPDATE outbox SET published_at = clock_timestamp(), attempts = attempts + 1"
            " WHERE id = ANY(CAST(:ids AS uuid[])) AND published_at IS NULL",
            ids=[str(i) for i in event_ids],
        )

    def claim_unpublished(self, older_than_seconds: float, limit: int) -> list[dict[str, Any]]:
        """Rows no one is relaying right now (SKIP LOCKED), oldest first. Relay role only."""
        rows = self._conn.run(
            "SELECT envelope FROM outbox WHERE published_at IS NULL"
            " AND created_at < clock_timestamp() - make_interval(secs => :age)"
            " ORDER BY created_at LIMIT :limit FOR UPDATE SKIP LOCKED",
            age=older_than_seconds,
            limit=limit,
        )
        return [row[0] for row in rows]

    def record_failure(self, event_ids: list[uuid.UUID], error: str) -> None:
        self._conn.run(
            "UPDATE outbox SET attempts = attempts + 1, last_error = :error"
            " WHERE id = ANY(CAST(:ids AS uuid[]))",
            error=error[:2000],
            ids=[str(i) for i in event_ids],
        )


class PostgresAuditLog:
    """Append-only: the app role has no UPDATE or DELETE on audit_log."""

    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def record(self, entry: AuditEntry) -> None:
        self._conn.run(
            "INSERT INTO audit_log (tenant_id, actor_type, actor_id, action, entity_type,"
            " entity_id, changes, ip, user_agent, request_id) VALUES (:tenant_id, :actor_type,"
            " :actor_id, :action, :entity_type, :entity_id, CAST(:changes AS jsonb),"
            " CAST(:ip AS inet), :user_agent, :request_id)",
            tenant_id=entry.tenant_id,
            actor_type=entry.actor_type,
            actor_id=entry.actor_id,
            action=entry.action,
            entity_type=entry.entity_type,
            entity_id=entry.entity_id,
            changes=json.dumps(entry.changes, default=str),
            ip=entry.meta.ip,
            user_agent=entry.meta.user_agent,
            request_id=entry.meta.request_id,
        )
