"""Rules leads and contacts share, used inside a service's unit of work: who may own a record,
which tags and categories exist, custom field values, duplicates, history and audit rows.

Record-level rule: a principal whose role sees only its own records (sellers) reaches only
records it owns or that nobody owns; any other answers 404, like another tenant's.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Protocol

from crm.domain.custom_fields import validate_values
from crm.domain.errors import Forbidden, NotFound, ValidationFailed
from crm.domain.records import (
    Change,
    RecordKind,
    body_error,
    duplicate_conflict,
    normalize_tags,
    phone_digits,
)
from crm.domain.tenants import Principal
from crm.ports import UnitOfWork
from crm.services.audit_logs import record_change
from crm.services.pipelines import visible_to
from crm.services.request_context import RequestContext


class IdentityLookup(Protocol):
    """What the duplicate rule needs of a lead or contact repository."""

    def lock_identities(self, keys: Sequence[str]) -> None: ...
    def find_duplicate(
        self, email: str | None, phone_digits: str | None, exclude_id: uuid.UUID | None
    ) -> tuple[uuid.UUID, str] | None: ...


def may_see(principal: Principal, owner_id: uuid.UUID | None) -> bool:
    owner = visible_to(principal)
    return owner is None or owner_id in (owner, None)


def not_found(kind: RecordKind, record_id: uuid.UUID) -> NotFound:
    return NotFound(f"{kind.value} {record_id} not found")


def check_owner(
    uow: UnitOfWork, principal: Principal, owner_id: uuid.UUID | None, kind: RecordKind
) -> None:
    """An owner is an active user of the tenant; a seller may only take a record or leave it
    unassigned (giving it away would be a change it could not see afterwards)."""
    if owner_id is None or owner_id == principal.user_id:
        return  # the API gate admitted the caller: an active user of the tenant
    restricted_to = visible_to(principal)
    if restricted_to is not None and owner_id != restricted_to:
        raise Forbidden(f"your role assigns {kind.plural} only to yourself (or to nobody)")
    if not uow.leads.is_active_user(owner_id):
        raise ValidationFailed(
            "the owner is not an active user of this organisation",
            [body_error("owner_id", "no active user with this id")],
        )


def check_tags(uow: UnitOfWork, names: Sequence[str], *, loc: str = "tags") -> list[str]:
    """The tags normalised; 422 for a malformed one or one the tenant has not created."""
    tags = normalize_tags(list(names), loc=loc)
    unknown = sorted(set(tags) - uow.tags.existing(tags)) if tags else []
    if unknown:
        raise ValidationFailed(
            "unknown tags: create them first (POST /tags)",
            [body_error(loc, f"no tag named {name!r}") for name in unknown],
        )
    return tags


def check_category(uow: UnitOfWork, category: str | None) -> None:
    if category is not None and not uow.categories.exists(category):
        raise ValidationFailed(
            "unknown category: create it first (POST /categories)",
            [body_error("category", f"no category named {category!r}")],
        )


def custom_values(
    uow: UnitOfWork, kind: RecordKind, current: dict[str, Any], changes: dict[str, Any] | None
) -> dict[str, Any]:
    """`current` with `changes` applied, validated against the tenant's definitions. None:
    the write does not touch custom fields (required ones are checked when it does, and on
    creation)."""
    if changes is None:
        return current
    return validate_values(uow.custom_fields.for_entity(kind), current, changes)


def custom_filter(uow: UnitOfWork, kind: RecordKind, raw: dict[str, str]) -> dict[str, Any]:
    """`cf.<key>=<value>` list filters typed by the tenant's definitions (422 per key)."""
    if not raw:
        return {}
    definitions = {d.key: d for d in uow.custom_fields.for_entity(kind)}
    values, errors = {}, []
    for key, text in raw.items():
        definition = definitions.get(key)
        if definition is None:
            errors.append(body_error(f"cf.{key}", "no such custom field", loc="query"))
            continue
        try:
            values[key] = definition.filter_value(text)
        except ValueError as error:
            errors.append(body_error(f"cf.{key}", str(error), loc="query"))
    if errors:
        raise ValidationFailed("invalid custom field filter", errors)
    return values


def record_values(body: dict[str, Any]) -> dict[str, Any]:
    """A record's values for a whole-record history row (no bookkeeping)."""
    return {
        k: v
        for k, v in body.items()
        if k not in ("id", "version", "created_at", "updated_at", "created_by")
    }


def ensure_unique(
    repository: IdentityLookup,
    kind: RecordKind,
    email: str | None,
    phone: str | None,
    exclude_id: uuid.UUID | None = None,
) -> None:
    """409 pointing at the live record that already uses the email or phone. The identities
    are locked until commit first, so two concurrent writers of one email cannot both pass."""
    digits = phone_digits(phone)
    keys = ([f"email:{email}"] if email else []) + ([f"phone:{digits}"] if digits else [])
    if not keys:
        return
    repository.lock_identities(keys)
    found = repository.find_duplicate(email, digits, exclude_id)
    if found is not None:
        raise duplicate_conflict(kind, found[0], found[1])


def write_history(uow: UnitOfWork, change: Change) -> None:
    uow.history.add(change.entries)


def audit(
    uow: UnitOfWork,
    context: RequestContext,
    kind: RecordKind,
    action: str,
    record_id: uuid.UUID,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """An audit row without personal data (only the audited fields of the record)."""
    record_change(
        uow,
        context.principal,
        f"{kind.value}.{action}",
        entity_type=kind.value,
        entity_id=str(record_id),
        before=before,
        after=after,
        meta=context.meta,
    )
