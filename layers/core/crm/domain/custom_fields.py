"""Custom fields: per-tenant definitions (key, type, required, options) for leads and contacts,
and the validation every write of a record's values goes through (422 per field)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from crm.domain.errors import ValidationFailed
from crm.domain.records import RecordKind

TEXT_MAX_LENGTH = 1000
MAX_OPTIONS = 100
OPTION_MAX_LENGTH = 100
MAX_NUMBER = 1e15  # beyond this a JSON number stops being exact in most clients


class FieldType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    SELECT = "select"
    MULTI_SELECT = "multi-select"
    BOOL = "bool"

    @property
    def has_options(self) -> bool:
        return self in (FieldType.SELECT, FieldType.MULTI_SELECT)


@dataclass
class CustomField:
    tenant_id: uuid.UUID
    entity: RecordKind
    key: str
    label: str
    type: FieldType
    required: bool = False
    options: list[str] = field(default_factory=list)
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    version: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "entity": self.entity.value,
            "key": self.key,
            "label": self.label,
            "type": self.type.value,
            "required": self.required,
            "options": list(self.options),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "version": self.version,
        }

    def check_options(self) -> None:
        if self.type.has_options and not self.options:
            raise ValidationFailed(
                "a select field needs options",
                [_error("options", "at least one option for select and multi-select")],
            )
        if not self.type.has_options and self.options:
            raise ValidationFailed(
                "only select fields have options",
                [_error("options", f"a {self.type.value} field takes no options")],
            )
        if len(set(self.options)) != len(self.options):
            raise ValidationFailed("options repeat", [_error("options", "options must differ")])

    def coerce(self, value: Any) -> Any:
        """The value as stored (JSON), or ValueError with a message for the caller."""
        kind = self.type
        if kind is FieldType.TEXT:
            if not isinstance(value, str):
                raise ValueError("must be a string")
            text = value.strip()
            if len(text) > TEXT_MAX_LENGTH:
                raise ValueError(f"at most {TEXT_MAX_LENGTH} characters")
            return text
        if kind is FieldType.NUMBER:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError("must be a number")
            if not math.isfinite(value) or abs(value) > MAX_NUMBER:
                raise ValueError(f"must be a finite number up to {MAX_NUMBER:g}")
            return value
        if kind is FieldType.DATE:
            if not isinstance(value, str):
                raise ValueError("must be a date (YYYY-MM-DD)")
            try:
                return date.fromisoformat(value).isoformat()
            except ValueError as error:
                raise ValueError("must be a date (YYYY-MM-DD)") from error
        if kind is FieldType.BOOL:
            if not isinstance(value, bool):
                raise ValueError("must be true or false")
            return value
        if kind is FieldType.SELECT:
            if not isinstance(value, str) or value not in self.options:
                raise ValueError(f"must be one of {self.options}")
            return value
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("must be a list of options")
        unknown = [v for v in value if v not in self.options]
        if unknown:
            raise ValueError(f"not options of this field: {unknown}; options: {self.options}")
        return list(dict.fromkeys(value))

    def filter_value(self, raw: str) -> Any:
        """The JSON a list filter `cf.<key>=<raw>` looks for (containment)."""
        kind = self.type
        if kind is FieldType.NUMBER:
            try:
                number = float(raw)
            except ValueError as error:
                raise ValueError("must be a number") from error
            return int(number) if number.is_integer() else number
        if kind is FieldType.BOOL:
            if raw not in ("true", "false"):
                raise ValueError("must be true or false")
            return raw == "true"
        if kind is FieldType.MULTI_SELECT:
            return [self.coerce([raw])[0]]
        return self.coerce(raw)


def _error(name: str, msg: str, loc: str = "body") -> dict[str, Any]:
    return {"loc": [loc, name], "msg": msg, "type": "value_error"}


def validate_values(
    definitions: Iterable[CustomField],
    current: Mapping[str, Any],
    changes: Mapping[str, Any],
    *,
    loc: tuple[str, ...] = ("body", "custom_fields"),
) -> dict[str, Any]:
    """Apply `changes` (key -> value; None removes the key) to `current` and return the new
    values. Every problem is reported at once, per key: an unknown key, a value of the wrong
    type or not among the options, a required field missing or removed."""
    by_key = {definition.key: definition for definition in definitions}
    values = dict(current)
    errors: list[dict[str, Any]] = []
    for key, value in changes.items():
        definition = by_key.get(key)
        if definition is None:
            errors.append(_field_error(loc, key, "no such custom field"))
            continue
        if value is None:
            values.pop(key, None)
            continue
        try:
            values[key] = definition.coerce(value)
        except ValueError as error:
            errors.append(_field_error(loc, key, str(error)))
    reported = {error["loc"][-1] for error in errors}
    for definition in by_key.values():
        missing = values.get(definition.key) in (None, "", [])
        if definition.required and missing and definition.key not in reported:
            errors.append(_field_error(loc, definition.key, "required"))
    if errors:
        raise ValidationFailed("invalid custom field values", errors)
    return values


def _field_error(loc: tuple[str, ...], key: str, msg: str) -> dict[str, Any]:
    return {"loc": [*loc, key], "msg": msg, "type": "value_error"}
