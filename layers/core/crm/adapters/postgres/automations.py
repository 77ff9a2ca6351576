"""Automations and their versions: the editable draft on `automations`, the immutable
published versions on `automation_versions`. SQL only; never commits."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import pg8000.native

from crm.domain.pagination import Keyset

_AUTOMATION_COLUMNS = (
    "a.id, a.name, a.trigger_event, a.status, a.current_version, v.id, v.definition,"
    " v.state_machine_arn, a.created_at, a.draft, a.revision, a.updated_at, a.archived_at,"
    " a.created_by"
)
_FROM_LIVE = (
    " FROM automations a LEFT JOIN automation_versions v"
    "   ON v.automation_id = a.id AND v.version = a.current_version"
)


class PostgresAutomationRepository:
    def __init__(self, conn: pg8000.native.Connection, tenant_id: uuid.UUID) -> None:
        self._conn = conn
        self._tenant_id = tenant_id

    def add(
        self,
        automation_id: uuid.UUID,
        name: str,
        trigger_event: str,
        draft: dict[str, Any],
        created_by: uuid.UUID | None,
    ) -> None:
        """A new automation, in the draft status, with no published version yet."""
        self._conn.run(
            "INSERT INTO automations (id, tenant_id, name, trigger_event, status, current_version,"
            " draft, created_by) VALUES (:id, :tenant_id, :name, :trigger, 'draft', NULL,"
            " CAST(:draft AS jsonb), :created_by)",
            id=automation_id,
            tenant_id=self._tenant_id,
            name=name,
            trigger=trigger_event,
            draft=json.dumps(draft),
            created_by=created_by,
        )

    def get(self, automation_id: uuid.UUID, *, for_update: bool = False) -> dict[str, Any] | None:
        lock = " FOR UPDATE OF a" if for_update else ""
        rows = self._conn.run(
            f"SELECT {_AUTOMATION_COLUMNS}{_FROM_LIVE} WHERE a.id = :id{lock}", id=automation_id
        )
        return _automation_row(rows[0]) if rows else None

    def find(
        self,
        *,
        status: str | None,
        trigger_kind: str | None,
        name_contains: str | None,
        after: Keyset | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Newest first; `name_contains` matches case-insensitively."""
        rows = self._conn.run(
            f"SELECT {_AUTOMATION_COLUMNS}{_FROM_LIVE}"
            " WHERE (CAST(:status AS text) IS NULL OR a.status = CAST(:status AS text))"
            "   AND (CAST(:kind AS text) IS NULL"
            "        OR coalesce(a.draft->'trigger'->>'kind', 'event') = CAST(:kind AS text))"
            "   AND (CAST(:q AS text) IS NULL"
            "        OR strpos(lower(a.name), lower(CAST(:q AS text))) > 0)"
            "   AND (CAST(:after_value AS timestamptz) IS NULL"
            "        OR (a.created_at, a.id) < (CAST(:after_value AS timestamptz),"
            "                                   CAST(:after_id AS uuid)))"
            " ORDER BY a.created_at DESC, a.id DESC LIMIT :limit",
            status=status,
            kind=trigger_kind,
            q=name_contains,
            after_value=after.value if after is not None else None,
            after_id=str(after.id) if after is not None else None,
            limit=limit,
        )
        return [_automation_row(row) for row in rows]

    def update(
        self,
        automation_id: uuid.UUID,
        *,
        name: str,
        draft: dict[str, Any],
        trigger_event: str,
        status: str,
        at: datetime,
    ) -> None:
        """Writes the editable part; the revision (the ETag) grows by one."""
        self._conn.run(
            "UPDATE automations SET name = :name, draft = CAST(:draft AS jsonb),"
            " trigger_event = :trigger, status = CAST(:status AS text),"
            " revision = revision + 1, updated_at = CAST(:at AS timestamptz),"
            " archived_at = CASE WHEN CAST(:status AS text) = 'archived'"
            "   THEN coalesce(archived_at, CAST(:at AS timestamptz)) END"
            " WHERE id = :id",
            id=automation_id,
            name=name,
            draft=json.dumps(draft),
            trigger=trigger_event,
            status=status,
            at=at,
        )

    def add_version(
        self,
        automation_id: uuid.UUID,
        version_id: uuid.UUID,
        definition: dict[str, Any],
        asl: dict[str, Any],
        published_by: uuid.UUID | None,
    ) -> int:
        """Appends the next numbered version; returns its number."""
        rows = self._conn.run(
            "INSERT INTO automation_versions (id, tenant_id, automation_id, version, definition,"
            " asl, published_by)"
            " SELECT :id, :tenant_id, :automation_id, coalesce(max(version), 0) + 1,"
            "        CAST(:definition AS jsonb), CAST(:asl AS jsonb), :published_by"
            " FROM automation_versions WHERE automation_id = :automation_id"
            " RETURNING version",
            id=version_id,
            tenant_id=self._tenant_id,
            automation_id=automation_id,
            definition=json.dumps(definition),
            asl=json.dumps(asl),
            published_by=published_by,
        )
        version: int = rows[0][0]
        return version

    def make_live(self, automation_id: uuid.UUID, version: int) -> None:
        self._conn.run(
            "UPDATE automations SET current_version = :version WHERE id = :id",
            id=automation_id,
            version=version,
        )

    def versions(self, automation_id: uuid.UUID) -> list[dict[str, Any]]:
        rows = self._conn.run(
            "SELECT v.id, v.version, v.definition, v.asl, v.state_machine_arn, v.published_by,"
            " v.created_at FROM automation_versions v WHERE v.automation_id = :id"
            " ORDER BY v.version DESC",
            id=automation_id,
        )
        return [_version_row(row) for row in rows]

    def version(self, automation_id: uuid.UUID, version: int) -> dict[str, Any] | None:
        rows = self._conn.run(
            "SELECT v.id, v.version, v.definition, v.asl, v.state_machine_arn, v.published_by,"
            " v.created_at FROM automation_versions v"
            " WHERE v.automation_id = :id AND v.version = :version",
            id=automation_id,
            version=version,
        )
        return _version_row(rows[0]) if rows else None

    def active_for_trigger(self, trigger_event: str) -> list[dict[str, Any]]:
        """Automations whose live version listens to `trigger_event`, in the active status."""
        rows = self._conn.run(
            f"SELECT {_AUTOMATION_COLUMNS}"
            " FROM automations a JOIN automation_versions v"
            "   ON v.automation_id = a.id AND v.version = a.current_version"
            " WHERE a.trigger_event = :trigger AND a.status = 'active' ORDER BY a.created_at",
            trigger=trigger_event,
        )
        return [_automation_row(row) for row in rows]

    def set_state_machine_arn(self, version_id: uuid.UUID, arn: str) -> None:
        self._conn.run(
            "UPDATE automation_versions SET state_machine_arn = :arn WHERE id = :id",
            arn=arn,
            id=version_id,
        )


def _automation_row(row: list[Any]) -> dict[str, Any]:
    (
        id_, name, trigger, status, version, version_id, definition, arn, created_at,
        draft, revision, updated_at, archived_at, created_by,
    ) = row  # fmt: skip
    return {
        "id": id_,
        "name": name,
        "trigger_event": trigger,
        "status": status,
        "version": version,
        "version_id": version_id,
        "definition": definition,
        "state_machine_arn": arn,
        "created_at": created_at,
        "draft": draft,
        "revision": revision,
        "updated_at": updated_at,
        "archived_at": archived_at,
        "created_by": created_by,
    }


def _version_row(row: list[Any]) -> dict[str, Any]:
    version_id, version, definition, asl, arn, published_by, created_at = row
    return {
        "version_id": version_id,
        "version": version,
        "definition": definition,
        "asl": asl,
        "state_machine_arn": arn,
        "published_by": published_by,
        "published_at": created_at,
    }
