"""Tenant-managed lists records refer to: tags, categories and custom field definitions.

Deleting a tag or category takes it off every lead and contact (each gets a history row and
a new version) in the same transaction; it is a bulk administrative change, so the records
emit no per-record events — the audit row names it and how many records changed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from crm.domain.concurrency import Precondition
from crm.domain.custom_fields import CustomField, FieldType
from crm.domain.errors import Conflict, NotFound, ValidationFailed
from crm.domain.records import RecordKind, body_error, normalize_tag
from crm.domain.taxonomy import Category, Tag
from crm.domain.tenants import Principal
from crm.ports import TaxonomyUnitOfWork
from crm.services.audit_logs import record_change
from crm.services.idempotency import claim_key
from crm.services.request_context import RequestContext


def _audit(
    uow: TaxonomyUnitOfWork,
    context: RequestContext,
    action: str,
    entity_type: str,
    entity_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    record_change(
        uow,
        context.principal,
        action,
        entity_type=entity_type,
        entity_id=entity_id,
        before=before,
        after=after,
        meta=context.meta,
    )


def _actor(principal: Principal) -> tuple[str, uuid.UUID | None]:
    return principal.actor_type, principal.actor_id


# ------------------------------------------------------------------ tags


def list_tags(
    principal: Principal, *, unit_of_work: Callable[[uuid.UUID], TaxonomyUnitOfWork]
) -> list[Tag]:
    with unit_of_work(principal.tenant_id) as uow:
        return uow.tags.all()


def create_tag(
    name: str,
    color: str | None,
    context: RequestContext,
    *,
    unit_of_work: Callable[[uuid.UUID], TaxonomyUnitOfWork],
    idempotency_key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """409 when the tenant has the tag already (names are case-insensitive)."""
    try:
        tag = Tag(normalize_tag(name), color.lower() if color else None, context.principal.user_id)
    except ValueError as error:
        raise ValidationFailed(str(error), [body_error("name", str(error))]) from error
    with unit_of_work(context.principal.tenant_id) as uow:
        claim = claim_key(uow, idempotency_key, "tags.create", {"name": name, "color": color})
        if claim.replay is not None:
            return claim.replay.body, True
        if not uow.tags.add(tag):
            raise Conflict(f"the tag {tag.name!r} exists", field="name")
        body = tag.to_dict()
        _audit(uow, context, "tag.created", "tag", tag.name, None, body)
        claim.complete(201, body)
        uow.commit()
    return body, False


def delete_tag(
    name: str, context: RequestContext, *, unit_of_work: Callable[[uuid.UUID], TaxonomyUnitOfWork]
) -> int:
    """Remove the tag from every record and delete it; returns how many records lost it."""
    tag = name.strip().lower()
    with unit_of_work(context.principal.tenant_id) as uow:
        changed = uow.tags.delete(tag, actor=_actor(context.principal), at=datetime.now(UTC))
        if changed is None:
            raise NotFound(f"tag {tag!r} not found")
        _audit(uow, context, "tag.deleted", "tag", tag, {"records": changed}, None)
        uow.commit()
    return changed


# ------------------------------------------------------------------ categories


def list_categories(
    principal: Principal, *, unit_of_work: Callable[[uuid.UUID], TaxonomyUnitOfWork]
) -> list[Category]:
    with unit_of_work(principal.tenant_id) as uow:
        return uow.categories.all()


def create_category(
    name: str,
    context: RequestContext,
    *,
    unit_of_work: Callable[[uuid.UUID], TaxonomyUnitOfWork],
    idempotency_key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    category = Category(name.strip(), context.principal.user_id)
    with unit_of_work(context.principal.tenant_id) as uow:
        claim = claim_key(uow, idempotency_key, "categories.create", {"name": name})
        if claim.replay is not None:
            return claim.replay.body, True
        if not uow.categories.add(category):
            raise Conflict(f"the category {category.name!r} exists", field="name")
        body = category.to_dict()
        _audit(uow, context, "category.created", "category", category.name, None, body)
        claim.complete(201, body)
        uow.commit()
    return body, False


def delete_category(
    name: str, context: RequestContext, *, unit_of_work: Callable[[uuid.UUID], TaxonomyUnitOfWork]
) -> int:
    """Clear the category from every record and delete it; returns how many records had it."""
    with unit_of_work(context.principal.tenant_id) as uow:
        changed = uow.categories.delete(name, actor=_actor(context.principal), at=datetime.now(UTC))
        if changed is None:
            raise NotFound(f"category {name!r} not found")
        _audit(uow, context, "category.deleted", "category", name, {"records": changed}, None)
        uow.commit()
    return changed


# ------------------------------------------------------------------ custom fields


def list_custom_fields(
    principal: Principal,
    entity: RecordKind | None,
    *,
    unit_of_work: Callable[[uuid.UUID], TaxonomyUnitOfWork],
) -> list[CustomField]:
    with unit_of_work(principal.tenant_id) as uow:
        return uow.custom_fields.all() if entity is None else uow.custom_fields.for_entity(entity)


def create_custom_field(
    entity: RecordKind,
    key: str,
    label: str,
    type_: FieldType,
    required: bool,
    options: list[str],
    context: RequestContext,
    *,
    unit_of_work: Callable[[uuid.UUID], TaxonomyUnitOfWork],
    request: dict[str, Any],
    idempotency_key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """A definition of `entity` (key unique per entity, 409 otherwise). Existing records are
    not checked against a new required field: writes that touch custom fields are."""
    definition = CustomField(
        tenant_id=context.principal.tenant_id,
        entity=entity,
        key=key,
        label=label,
        type=type_,
        required=required,
        options=options,
    )
    definition.check_options()
    with unit_of_work(context.principal.tenant_id) as uow:
        claim = claim_key(uow, idempotency_key, "custom_fields.create", request)
        if claim.replay is not None:
            return claim.replay.body, True
        if not uow.custom_fields.add(definition):
            raise Conflict(f"the {entity.value} custom field {key!r} exists", field="key")
        body = definition.to_dict()
        _audit(uow, context, "custom_field.created", "custom_field", str(definition.id), None, body)
        claim.complete(201, body)
        uow.commit()
    return body, False


def update_custom_field(
    field_id: uuid.UUID,
    changes: dict[str, Any],
    context: RequestContext,
    *,
    unit_of_work: Callable[[uuid.UUID], TaxonomyUnitOfWork],
    precondition: Precondition | None = None,
) -> dict[str, Any]:
    """Label, required and options (the complete new list) change; key, type and entity do
    not (values already stored depend on them). Values of a removed option stay on the
    records that have them until those records are written."""
    with unit_of_work(context.principal.tenant_id) as uow:
        definition = uow.custom_fields.get(field_id, for_update=True)
        if definition is None:
            raise NotFound(f"custom field {field_id} not found")
        if precondition is not None:
            precondition.check(definition.version, f"custom field {field_id}")
        before = definition.to_dict()
        for name in ("label", "required", "options"):
            if name in changes:
                setattr(definition, name, changes[name])
        definition.check_options()
        if definition.to_dict() == before:
            return before
        definition.version += 1
        definition.updated_at = datetime.now(UTC)
        uow.custom_fields.update(definition)
        after = definition.to_dict()
        _audit(uow, context, "custom_field.updated", "custom_field", str(field_id), before, after)
        uow.commit()
    return after
