"""What leads and contacts share: tags, phones compared by digits, the field-by-field history of
their changes, list sorting and filters, and the duplicate rule (an email or phone already used
by a live record of the same kind in the tenant)."""

from __future__ import annotations

import dataclasses
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from crm.domain.errors import Conflict, ValidationFailed
from crm.domain.tenants import Principal

MAX_TAGS = 50
TAG_MAX_LENGTH = 50
PURGE_AFTER_DAYS = 30  # a soft-deleted record can be restored for this long, then it is purged


class RecordKind(StrEnum):
    LEAD = "lead"
    CONTACT = "contact"

    @property
    def plural(self) -> str:
        return f"{self.value}s"


def body_error(name: str, msg: str, *, loc: str = "body") -> dict[str, Any]:
    return {"loc": [loc, *name.split(".")], "msg": msg, "type": "value_error"}


# ------------------------------------------------------------------ values


def normalize_tag(name: str) -> str:
    """Tags are case-insensitive names: stored stripped and lower-cased, without commas (a
    list filter separates tags with commas)."""
    tag = name.strip().lower()
    if not 1 <= len(tag) <= TAG_MAX_LENGTH or "," in tag or not tag.isprintable():
        raise ValueError(f"a tag is 1-{TAG_MAX_LENGTH} printable characters without commas")
    return tag


def normalize_tags(names: list[str], *, loc: str = "tags") -> list[str]:
    """Distinct tags in the order given; 422 naming `loc` when one is malformed."""
    tags: list[str] = []
    for name in names:
        try:
            tag = normalize_tag(name)
        except ValueError as error:
            raise ValidationFailed(str(error), [body_error(loc, str(error))]) from error
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValidationFailed(
            "too many tags", [body_error(loc, f"at most {MAX_TAGS} tags per record")]
        )
    return tags


_NOT_DIGITS = re.compile(r"[^0-9]")


def phone_digits(phone: str | None) -> str | None:
    """The digits of a phone number (as the database's crm_phone_digits computes them)."""
    if phone is None:
        return None
    return _NOT_DIGITS.sub("", phone) or None


def duplicate_conflict(kind: RecordKind, existing_id: uuid.UUID, field_name: str) -> Conflict:
    """409 pointing at the live record that already uses the email or phone."""
    return Conflict(
        f"a {kind.value} with this {field_name} already exists",
        field=field_name,
        existing_id=str(existing_id),
        existing=f"/{kind.plural}/{existing_id}",
    )


# ------------------------------------------------------------------ history


@dataclass(frozen=True)
class HistoryEntry:
    """One changed field of one change (field None: a whole-record action, e.g. created, with
    the record's values in `new`)."""

    kind: RecordKind
    record_id: uuid.UUID
    change_id: uuid.UUID
    action: str
    field: str | None
    old: Any
    new: Any
    actor_type: str
    actor_id: uuid.UUID | None
    changed_at: datetime
    # dataclasses.field: `field` is an attribute of this class
    id: uuid.UUID = dataclasses.field(default_factory=uuid.uuid4)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "change_id": str(self.change_id),
            f"{self.kind.value}_id": str(self.record_id),
            "action": self.action,
            "field": self.field,
            "old": self.old,
            "new": self.new,
            "actor": {"type": self.actor_type, "id": str(self.actor_id) if self.actor_id else None},
            "changed_at": self.changed_at.isoformat(),
        }


@dataclass
class Change:
    """The history rows of one change to one record, written together (one change_id)."""

    kind: RecordKind
    record_id: uuid.UUID
    actor_type: str
    actor_id: uuid.UUID | None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    entries: list[HistoryEntry] = field(default_factory=list)

    @classmethod
    def by(
        cls, principal: Principal | None, kind: RecordKind, record_id: uuid.UUID, at: datetime
    ) -> Change:
        if principal is None:
            return cls(kind, record_id, "system", None, at)
        return cls(kind, record_id, principal.actor_type, principal.actor_id, at)

    def record(self, action: str, field_name: str | None, old: Any, new: Any) -> None:
        self.entries.append(
            HistoryEntry(
                kind=self.kind,
                record_id=self.record_id,
                change_id=self.id,
                action=action,
                field=field_name,
                old=old,
                new=new,
                actor_type=self.actor_type,
                actor_id=self.actor_id,
                changed_at=self.at,
            )
        )

    def fields(self, changes: dict[str, dict[str, Any]], actions: dict[str, str]) -> None:
        """A row per changed field; custom fields one row per key (custom_fields.<key>)."""
        for name, change in sorted(changes.items()):
            if name == "custom_fields":
                old, new = change["old"] or {}, change["new"] or {}
                for key in sorted(set(old) | set(new)):
                    if old.get(key) != new.get(key):
                        self.record("updated", f"custom_fields.{key}", old.get(key), new.get(key))
                continue
            self.record(actions.get(name, "updated"), name, change["old"], change["new"])


def changed_fields(
    before: dict[str, Any], after: dict[str, Any], ignored: frozenset[str]
) -> dict[str, dict[str, Any]]:
    return {
        name: {"old": before.get(name), "new": value}
        for name, value in after.items()
        if name not in ignored and before.get(name) != value
    }


# ------------------------------------------------------------------ lists


class RecordSortField(StrEnum):
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    NAME = "name"
    SCORE = "score"  # leads only

    @property
    def nullable(self) -> bool:
        return self is RecordSortField.SCORE


@dataclass(frozen=True)
class RecordSort:
    kind: RecordKind
    field: RecordSortField = RecordSortField.CREATED_AT
    descending: bool = True

    @property
    def scope(self) -> str:
        """What a cursor of this order is bound to."""
        return f"{self.kind.plural}:{self.field.value}:{'desc' if self.descending else 'asc'}"


SortValue = datetime | date | Decimal | str | None


@dataclass(frozen=True)
class RecordFilters:
    """What a lead or contact list is narrowed to. `visible_to` is the record-level rule of
    roles that see only their own records and unassigned ones (never a caller's filter)."""

    statuses: tuple[str, ...] = ()  # leads only
    owner_id: uuid.UUID | None = None
    unassigned: bool = False
    tags: tuple[str, ...] = ()  # every one of them
    category: str | None = None
    source: str | None = None  # leads only
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    custom_fields: dict[str, Any] = field(default_factory=dict)  # key -> JSON value contained
    q: str | None = None
    deleted: bool = False  # the trash: soft-deleted records instead of live ones
    visible_to: uuid.UUID | None = None
