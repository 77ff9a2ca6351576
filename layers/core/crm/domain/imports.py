"""Lead imports from CSV: the job, its column mapping, and how one row becomes a lead's fields
(or the reasons it cannot, per column).

A mapping names, for each lead field, the CSV column that holds it: `{"name": "Nome",
"email": "E-mail", "custom_fields.segment": "Segmento"}`. Cells are trimmed; an empty cell is no
value. Tags and multi-select values are separated by `;` or `,`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from email_validator import EmailNotValidError, validate_email

from crm.domain.custom_fields import CustomField, FieldType
from crm.domain.errors import ValidationFailed
from crm.domain.leads import LeadStatus
from crm.domain.records import normalize_tag

MAX_ROWS = 200_000
MAX_FILE_BYTES = 50 * 1024 * 1024
INLINE_MAX_BYTES = 4 * 1024 * 1024  # a CSV sent in the request body (Lambda's payload limit)
LEAD_COLUMNS = ("name", "email", "phone", "company", "source", "status", "lost_reason", "score",
                "category", "tags")  # fmt: skip
CUSTOM_PREFIX = "custom_fields."
LIMITS = {"name": 200, "phone": 40, "company": 200, "source": 60, "lost_reason": 500}
TRUE_WORDS = frozenset({"true", "yes", "y", "1", "sim", "s"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "nao", "não"})


class ImportStatus(StrEnum):
    AWAITING_UPLOAD = "awaiting_upload"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def ended(self) -> bool:
        return self in (ImportStatus.COMPLETED, ImportStatus.FAILED)


class DedupPolicy(StrEnum):
    SKIP = "skip"  # a row whose email or phone a live lead has is left out (counted)
    UPDATE = "update"  # such a row updates that lead (its non-empty cells)


@dataclass
class ImportJob:
    tenant_id: uuid.UUID
    mapping: dict[str, str]
    dedup_policy: DedupPolicy
    object_key: str
    file_name: str | None = None
    owner_id: uuid.UUID | None = None
    default_tags: list[str] = field(default_factory=list)
    trigger_automations: bool = False  # each created lead also gets its crm.lead.created
    status: ImportStatus = ImportStatus.AWAITING_UPLOAD
    total_rows: int | None = None
    processed_rows: int = 0
    created_count: int = 0
    updated_count: int = 0
    skipped_count: int = 0
    failed_count: int = 0
    failure: str | None = None
    created_by: uuid.UUID | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    attempts: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "status": self.status.value,
            "file_name": self.file_name,
            "mapping": dict(self.mapping),
            "dedup_policy": self.dedup_policy.value,
            "owner_id": str(self.owner_id) if self.owner_id else None,
            "default_tags": list(self.default_tags),
            "trigger_automations": self.trigger_automations,
            "total_rows": self.total_rows,
            "processed_rows": self.processed_rows,
            "created": self.created_count,
            "updated": self.updated_count,
            "skipped": self.skipped_count,
            "failed": self.failed_count,
            "progress": (
                round(self.processed_rows / self.total_rows, 4) if self.total_rows else None
            ),
            "failure": self.failure,
            "created_by": str(self.created_by) if self.created_by else None,
            "created_at": self.created_at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


@dataclass(frozen=True)
class RowError:
    row: int  # 1 = the first row after the header
    errors: list[dict[str, str]]  # [{column, field, msg}]: no cell values (personal data)

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "errors": self.errors}


def check_mapping(mapping: Mapping[str, str], definitions: Sequence[CustomField]) -> None:
    """422 unless every target is a lead field or a lead custom field, and name is mapped."""
    keys = {d.key for d in definitions}
    errors = []
    for target, column in mapping.items():
        if target.startswith(CUSTOM_PREFIX):
            if target.removeprefix(CUSTOM_PREFIX) not in keys:
                errors.append(_mapping_error(target, "no such lead custom field"))
        elif target not in LEAD_COLUMNS:
            errors.append(
                _mapping_error(target, f"one of {list(LEAD_COLUMNS)} or custom_fields.<key>")
            )
        if not column.strip():
            errors.append(_mapping_error(target, "names a CSV column"))
    if "name" not in mapping:
        errors.append(_mapping_error("name", "required: the column with the lead's name"))
    required = [d.key for d in definitions if d.required and CUSTOM_PREFIX + d.key not in mapping]
    errors += [_mapping_error(CUSTOM_PREFIX + key, "a required custom field") for key in required]
    if errors:
        raise ValidationFailed("the column mapping is not usable", errors)


def _mapping_error(target: str, msg: str) -> dict[str, Any]:
    return {"loc": ["body", "mapping", target], "msg": msg, "type": "value_error"}


def missing_columns(mapping: Mapping[str, str], header: Sequence[str]) -> list[str]:
    present = {column.strip() for column in header}
    return sorted({column for column in mapping.values() if column.strip() not in present})


@dataclass(frozen=True)
class RowContext:
    """What a row is checked against: the tenant's tags, categories and definitions."""

    tags: frozenset[str]
    categories: frozenset[str]
    definitions: dict[str, CustomField]
    default_tags: tuple[str, ...] = ()


def parse_row(
    cells: Mapping[str, str], mapping: Mapping[str, str], context: RowContext
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """(fields, errors): the lead fields of one row — only those with a value — or why not."""
    fields: dict[str, Any] = {}
    errors: list[dict[str, str]] = []

    def fail(target: str, msg: str) -> None:
        errors.append({"column": mapping[target], "field": target, "msg": msg})

    custom: dict[str, Any] = {}
    for target, column in mapping.items():
        raw = (cells.get(column.strip()) or "").strip()
        if not raw:
            continue
        try:
            if target.startswith(CUSTOM_PREFIX):
                key = target.removeprefix(CUSTOM_PREFIX)
                custom[key] = _custom_value(context.definitions[key], raw)
            else:
                fields[target] = _lead_value(target, raw, context)
        except ValueError as error:
            fail(target, str(error))
    if "name" not in fields and not any(e["field"] == "name" for e in errors):
        fail("name", "required")
    for key, definition in context.definitions.items():
        if definition.required and key not in custom and CUSTOM_PREFIX + key in mapping:
            fail(CUSTOM_PREFIX + key, "required")
    status = fields.get("status")
    if status == LeadStatus.LOST and not fields.get("lost_reason"):
        errors.append({"column": mapping.get("status", ""), "field": "status",
                       "msg": "a lost lead needs a lost_reason column value"})  # fmt: skip
    if status != LeadStatus.LOST and "lost_reason" in fields:
        fail("lost_reason", "only a lost lead has a lost reason")
    if custom:
        fields["custom_fields"] = custom
    tags = list(dict.fromkeys([*context.default_tags, *fields.get("tags", [])]))
    if tags:
        fields["tags"] = tags
    return fields, errors


def _split(raw: str) -> list[str]:
    return [part.strip() for part in raw.replace(";", ",").split(",") if part.strip()]


def _lead_value(target: str, raw: str, context: RowContext) -> Any:
    if target in LIMITS and len(raw) > LIMITS[target]:
        raise ValueError(f"at most {LIMITS[target]} characters")
    if target == "email":
        try:
            return validate_email(raw, check_deliverability=False).normalized.lower()
        except EmailNotValidError as error:
            raise ValueError("not an email address") from error
    if target == "status":
        try:
            status = LeadStatus(raw.lower())
        except ValueError as error:
            raise ValueError("new, qualified or lost") from error
        if status is LeadStatus.CONVERTED:
            raise ValueError("new, qualified or lost (leads become converted by converting)")
        return status
    if target == "score":
        try:
            score = int(raw)
        except ValueError as error:
            raise ValueError("a whole number from 0 to 100") from error
        if not 0 <= score <= 100:
            raise ValueError("a whole number from 0 to 100")
        return score
    if target == "category":
        if raw not in context.categories:
            raise ValueError("no such category")
        return raw
    if target == "tags":
        tags = [normalize_tag(tag) for tag in _split(raw)]
        unknown = sorted(set(tags) - context.tags)
        if unknown:
            raise ValueError(f"no such tags: {', '.join(unknown)}")
        return tags
    return raw


def _custom_value(definition: CustomField, raw: str) -> Any:
    kind = definition.type
    value: Any = raw
    if kind is FieldType.NUMBER:
        try:
            number = (
                float(raw.replace(",", "."))
                if raw.count(",") == 1 and "." not in raw
                else float(raw)
            )
        except ValueError as error:
            raise ValueError("must be a number") from error
        value = int(number) if number.is_integer() else number
    elif kind is FieldType.BOOL:
        word = raw.lower()
        if word not in TRUE_WORDS | FALSE_WORDS:
            raise ValueError("must be true or false")
        value = word in TRUE_WORDS
    elif kind is FieldType.MULTI_SELECT:
        value = _split(raw)
    return definition.coerce(value)
