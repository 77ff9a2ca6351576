"""Email templates and their versions. SQL only; never commits."""

from __future__ import annotations

import uuid
from typing import Any

import pg8000.native

from crm.domain.email_templates import EmailTemplate, TemplateContent
from crm.domain.pagination import Keyset

_SELECT = (
    "SELECT t.id, t.tenant_id, t.name, v.subject, v.html, v.text_body, t.current_version,"
    " t.created_by, t.created_at, t.updated_at FROM email_templates t"
    " JOIN email_template_versions v ON v.template_id = t.id AND v.version = {version}"
)


def _template(row: list[Any]) -> EmailTemplate:
    id_, tenant_id, name, subject, html, text, version, created_by, created_at, updated_at = row
    return EmailTemplate(
        id=id_,
        tenant_id=tenant_id,
        name=name,
        content=TemplateContent(subject, html, text),
        version=version,
        created_by=created_by,
        created_at=created_at,
        updated_at=updated_at,
    )


class PostgresEmailTemplates:
    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def add(self, template: EmailTemplate) -> None:
        self._conn.run(
            "INSERT INTO email_templates (id, tenant_id, name, current_version, created_by,"
            " created_at, updated_at) VALUES (:id, :tenant_id, :name, :version, :created_by,"
            " :at, :at)",
            id=template.id,
            tenant_id=template.tenant_id,
            name=template.name,
            version=template.version,
            created_by=template.created_by,
            at=template.created_at,
        )
        self._add_version(template)

    def _add_version(self, template: EmailTemplate) -> None:
        self._conn.run(
            "INSERT INTO email_template_versions (tenant_id, template_id, version, subject,"
            " html, text_body, created_by) VALUES (:tenant_id, :id, :version, :subject, :html,"
            " :text, :created_by)",
            tenant_id=template.tenant_id,
            id=template.id,
            version=template.version,
            subject=template.content.subject,
            html=template.content.html,
            text=template.content.text,
            created_by=template.created_by,
        )

    def get(self, template_id: uuid.UUID, *, for_update: bool = False) -> EmailTemplate | None:
        lock = " FOR UPDATE OF t" if for_update else ""
        rows = self._conn.run(
            _SELECT.format(version="t.current_version")
            + f" WHERE t.id = :id AND t.deleted_at IS NULL{lock}",
            id=template_id,
        )
        return _template(rows[0]) if rows else None

    def get_version(self, template_id: uuid.UUID, version: int) -> EmailTemplate | None:
        rows = self._conn.run(
            _SELECT.format(version=":version") + " WHERE t.id = :id",
            id=template_id,
            version=version,
        )
        if not rows:
            return None
        found = _template(rows[0])
        return EmailTemplate(**{**found.__dict__, "version": version})

    def page(self, limit: int, after: Keyset | None) -> list[EmailTemplate]:
        where = "t.deleted_at IS NULL"
        params: dict[str, Any] = {"limit": limit}
        if after is not None:
            where += " AND (t.created_at, t.id) < (:after_at, :after_id)"
            params.update(after_at=after.value, after_id=after.id)
        rows = self._conn.run(
            _SELECT.format(version="t.current_version")
            + f" WHERE {where} ORDER BY t.created_at DESC, t.id DESC LIMIT :limit",
            **params,
        )
        return [_template(row) for row in rows]

    def save_version(self, template: EmailTemplate) -> None:
        """A new current version (template.version, one above the stored one) and name."""
        self._conn.run(
            "UPDATE email_templates SET name = :name, current_version = :version,"
            " updated_at = :at WHERE id = :id",
            id=template.id,
            name=template.name,
            version=template.version,
            at=template.updated_at,
        )
        self._add_version(template)

    def delete(self, template_id: uuid.UUID) -> None:
        self._conn.run(
            "UPDATE email_templates SET deleted_at = now() WHERE id = :id", id=template_id
        )
