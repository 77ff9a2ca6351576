"""Tags, categories and custom field definitions: SQL only; never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pg8000.native

from crm.domain.custom_fields import CustomField, FieldType
from crm.domain.records import RecordKind
from crm.domain.taxonomy import Category, Tag

# The record tables a tag or category is removed from, with their history column.
_RECORD_TABLES = (("leads", "lead_id"), ("contacts", "contact_id"))


def _strip_from_records(
    conn: pg8000.native.Connection,
    *,
    column: str,
    match: str,
    new_value: str,
    params: dict[str, Any],
    actor: tuple[str, uuid.UUID | None],
    at: datetime,
) -> int:
    """Change `column` of every record matching `match` (deleted ones too: they can be
    restored) to `new_value`, with a history row each (action tagged / updated). Returns how
    many records changed."""
    action = "tagged" if column == "tags" else "updated"
    changed = 0
    for table, history_column in _RECORD_TABLES:
        rows = conn.run(
            f"WITH old AS (SELECT id, {column} AS value FROM {table} WHERE {match} FOR UPDATE),"
            f" changed AS (UPDATE {table} r SET {column} = {new_value},"
            "   version = r.version + 1, updated_at = :at"
            f"   FROM old WHERE r.id = old.id RETURNING r.id, old.value AS old_value,"
            f"   r.{column} AS new_value)"
            f" INSERT INTO record_history (id, tenant_id, {history_column}, change_id, action,"
            "  field, old_value, new_value, actor_type, actor_id, changed_at)"
            f" SELECT gen_random_uuid(), app_tenant_id(), id, gen_random_uuid(), '{action}',"
            f"  '{column}', to_jsonb(old_value), to_jsonb(new_value), :actor_type, :actor_id, :at"
            " FROM changed RETURNING 1",
            at=at,
            actor_type=actor[0],
            actor_id=actor[1],
            **params,
        )
        changed += len(rows)
    return changed


class PostgresTags:
    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def all(self) -> list[Tag]:
        rows = self._conn.run("SELECT name, color, created_by, created_at FROM tags ORDER BY name")
        return [Tag(*row) for row in rows]

    def existing(self, names: Sequence[str]) -> set[str]:
        rows = self._conn.run(
            "SELECT name FROM tags WHERE name = ANY(CAST(:names AS text[]))", names=list(names)
        )
        return {row[0] for row in rows}

    def add(self, tag: Tag) -> bool:
        rows = self._conn.run(
            "INSERT INTO tags (tenant_id, name, color, created_by, created_at)"
            " VALUES (app_tenant_id(), :name, :color, :created_by, :created_at)"
            " ON CONFLICT DO NOTHING RETURNING 1",
            name=tag.name,
            color=tag.color,
            created_by=tag.created_by,
            created_at=tag.created_at,
        )
        return bool(rows)

    def get(self, name: str) -> Tag | None:
        rows = self._conn.run(
            "SELECT name, color, created_by, created_at FROM tags WHERE name = :name", name=name
        )
        return Tag(*rows[0]) if rows else None

    def delete(self, name: str, *, actor: tuple[str, uuid.UUID | None], at: datetime) -> int | None:
        """Remove the tag from every record, then delete it. None when there is no such tag;
        else how many records lost it."""
        if not self._conn.run("SELECT 1 FROM tags WHERE name = :name FOR UPDATE", name=name):
            return None
        changed = _strip_from_records(
            self._conn,
            column="tags",
            match="tags @> ARRAY[CAST(:name AS text)]",
            new_value="array_remove(r.tags, CAST(:name AS text))",
            params={"name": name},
            actor=actor,
            at=at,
        )
        self._conn.run("DELETE FROM tags WHERE name = :name", name=name)
        return changed


class PostgresCategories:
    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def all(self) -> list[Category]:
        rows = self._conn.run("SELECT name, created_by, created_at FROM categories ORDER BY name")
        return [Category(*row) for row in rows]

    def exists(self, name: str) -> bool:
        return bool(self._conn.run("SELECT 1 FROM categories WHERE name = :name", name=name))

    def add(self, category: Category) -> bool:
        rows = self._conn.run(
            "INSERT INTO categories (tenant_id, name, created_by, created_at)"
            " VALUES (app_tenant_id(), :name, :created_by, :created_at)"
            " ON CONFLICT DO NOTHING RETURNING 1",
            name=category.name,
            created_by=category.created_by,
            created_at=category.created_at,
        )
        return bool(rows)

    def delete(self, name: str, *, actor: tuple[str, uuid.UUID | None], at: datetime) -> int | None:
        """Clear the category from every record (with history), then delete it."""
        if not self._conn.run("SELECT 1 FROM categories WHERE name = :name FOR UPDATE", name=name):
            return None
        changed = _strip_from_records(
            self._conn,
            column="category",
            match="category = :name",
            new_value="NULL",
            params={"name": name},
            actor=actor,
            at=at,
        )
        self._conn.run("DELETE FROM categories WHERE name = :name", name=name)
        return changed


_FIELD_COLUMNS = (
    "id, entity, key, label, type, required, options, created_at, updated_at, version, tenant_id"
)


def _field(row: Sequence[Any]) -> CustomField:
    id_, entity, key, label, type_, required, options, created, updated, version, tenant = row
    return CustomField(
        tenant_id=tenant,
        entity=RecordKind(entity),
        key=key,
        label=label,
        type=FieldType(type_),
        required=required,
        options=list(options or []),
        id=id_,
        created_at=created,
        updated_at=updated,
        version=version,
    )


class PostgresCustomFields:
    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def for_entity(self, entity: RecordKind) -> list[CustomField]:
        rows = self._conn.run(
            f"SELECT {_FIELD_COLUMNS} FROM custom_fields WHERE entity = :entity"
            " ORDER BY created_at, id",
            entity=entity.value,
        )
        return [_field(row) for row in rows]

    def all(self) -> list[CustomField]:
        rows = self._conn.run(
            f"SELECT {_FIELD_COLUMNS} FROM custom_fields ORDER BY entity, created_at, id"
        )
        return [_field(row) for row in rows]

    def get(self, field_id: uuid.UUID, *, for_update: bool = False) -> CustomField | None:
        lock = " FOR UPDATE" if for_update else ""
        rows = self._conn.run(
            f"SELECT {_FIELD_COLUMNS} FROM custom_fields WHERE id = :id{lock}", id=field_id
        )
        return _field(rows[0]) if rows else None

    def add(self, definition: CustomField) -> bool:
        rows = self._conn.run(
            "INSERT INTO custom_fields (id, tenant_id, entity, key, label, type, required,"
            " options, created_at, updated_at, version) VALUES (:id, :tenant_id, :entity, :key,"
            " :label, :type, :required, CAST(:options AS text[]), :created_at, :updated_at,"
            " :version) ON CONFLICT (tenant_id, entity, key) DO NOTHING RETURNING 1",
            id=definition.id,
            tenant_id=definition.tenant_id,
            entity=definition.entity.value,
            key=definition.key,
            label=definition.label,
            type=definition.type.value,
            required=definition.required,
            options=list(definition.options),
            created_at=definition.created_at,
            updated_at=definition.updated_at,
            version=definition.version,
        )
        return bool(rows)

    def update(self, definition: CustomField) -> None:
        self._conn.run(
            "UPDATE custom_fields SET label = :label, required = :required,"
            " options = CAST(:options AS text[]), updated_at = :updated_at, version = :version"
            " WHERE id = :id",
            id=definition.id,
            label=definition.label,
            required=definition.required,
            options=list(definition.options),
            updated_at=definition.updated_at,
            version=definition.version,
        )
