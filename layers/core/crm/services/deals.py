"""Deal use cases: create, read, list, edit (including stage moves), soft delete and restore,
stage history.

Record-level rule: a principal whose role sees only its own records (sellers) reads and
changes only deals it owns or that nobody owns; any other deal answers 404, like another
tenant's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from crm.domain.concurrency import Precondition
from crm.domain.deals import (
    Deal,
    DealFilters,
    DealSort,
    StageStay,
    StageTransition,
    check_invariants,
    created_events,
    deleted_event,
    move_deal,
    place_in_stage,
    restored_event,
    updated_events,
)
from crm.domain.errors import Forbidden, NotFound, ValidationFailed
from crm.domain.money import DEFAULT_CURRENCY
from crm.domain.pagination import Page, PageRequest
from crm.domain.pipelines import Pipeline, Stage, StageKind
from crm.domain.tenants import Principal
from crm.ports import DealsUnitOfWork
from crm.services.audit_logs import record_change
from crm.services.idempotency import claim_key
from crm.services.pipelines import visible_to
from crm.services.request_context import RequestContext

# The fields a PATCH may name; `None` values mean "clear" for the nullable ones.
NULLABLE_FIELDS = frozenset(
    {"probability", "expected_close_date", "owner_id", "lead_id", "contact_id", "lost_reason"}
)
PLAIN_FIELDS = ("title", "value", "currency", "probability", "expected_close_date", "contact_id")


@dataclass(frozen=True)
class NewDeal:
    title: str
    value: Decimal = Decimal("0")
    currency: str | None = None  # None: the tenant's currency, else USD
    probability: int | None = None  # None: the stage's
    expected_close_date: date | None = None
    owner_id: uuid.UUID | None = None
    assign_to_caller: bool = True  # no owner_id in the request: the caller owns the deal
    lead_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    pipeline_id: uuid.UUID | None = None  # None: the default pipeline
    stage_id: uuid.UUID | None = None  # None: the pipeline's first open stage
    lost_reason: str | None = None


def _not_found(deal_id: uuid.UUID) -> NotFound:
    return NotFound(f"deal {deal_id} not found")


def _body_error(name: str, msg: str) -> dict[str, Any]:
    return {"loc": ["body", name], "msg": msg, "type": "value_error"}


def _may_see(principal: Principal, deal: Deal) -> bool:
    owner = visible_to(principal)
    return owner is None or deal.owner_id in (owner, None)


def _load(
    uow: DealsUnitOfWork,
    deal_id: uuid.UUID,
    principal: Principal,
    *,
    for_update: bool = False,
    include_deleted: bool = False,
) -> Deal:
    deal = uow.deals.get(deal_id, for_update=for_update, include_deleted=include_deleted)
    if deal is None or not _may_see(principal, deal):
        raise _not_found(deal_id)
    return deal


def _check_owner(uow: DealsUnitOfWork, principal: Principal, owner_id: uuid.UUID | None) -> None:
    """An owner is an active user of the tenant; a seller may only take a deal or leave it
    unassigned (giving it away would be a change it could not see afterwards)."""
    if owner_id is None:
        return
    restricted_to = visible_to(principal)
    if restricted_to is not None and owner_id != restricted_to:
        raise Forbidden("your role assigns deals only to yourself (or to nobody)")
    if not uow.deals.is_active_user(owner_id):
        raise ValidationFailed(
            "the owner is not an active user of this organisation",
            [_body_error("owner_id", "no active user with this id")],
        )


def _check_lead(uow: DealsUnitOfWork, lead_id: uuid.UUID | None) -> None:
    if lead_id is not None and uow.leads.get(lead_id) is None:
        raise ValidationFailed(
            "the lead does not exist", [_body_error("lead_id", "no lead with this id")]
        )


def _check_contact(uow: DealsUnitOfWork, contact_id: uuid.UUID | None) -> None:
    """The contact must be one of the tenant's live contacts (the foreign key would refuse
    another tenant's or a made-up id, as a 500)."""
    if contact_id is not None and uow.contacts.get(contact_id) is None:
        raise ValidationFailed(
            "the contact does not exist", [_body_error("contact_id", "no contact with this id")]
        )


def _target_pipeline(uow: DealsUnitOfWork, pipeline_id: uuid.UUID | None) -> Pipeline:
    pipeline = uow.pipelines.get(pipeline_id) if pipeline_id else uow.pipelines.get_default()
    if pipeline is None:
        raise ValidationFailed(
            "no such pipeline",
            [
                _body_error(
                    "pipeline_id",
                    "no pipeline with this id"
                    if pipeline_id
                    else "this organisation has no default pipeline: name one",
                )
            ],
        )
    return pipeline


def _target_stage(pipeline: Pipeline, stage_id: uuid.UUID | None) -> Stage:
    if stage_id is None:
        return pipeline.first_open_stage()
    stage = pipeline.stage(stage_id)
    if stage is None:
        raise ValidationFailed(
            "the stage is not in the pipeline",
            [_body_error("stage_id", "not a stage of the deal's pipeline")],
        )
    return stage


def _audit(
    uow: DealsUnitOfWork,
    context: RequestContext,
    action: str,
    deal_id: uuid.UUID,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    record_change(
        uow,
        context.principal,
        action,
        entity_type="deal",
        entity_id=str(deal_id),
        before=before,
        after=after,
        meta=context.meta,
    )


def create_deal(
    command: NewDeal,
    context: RequestContext,
    *,
    unit_of_work: Callable[[uuid.UUID], DealsUnitOfWork],
    request: dict[str, Any],
    idempotency_key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Returns (deal, replayed). `request` is the body as sent (what an Idempotency-Key is
    bound to)."""
    principal = context.principal
    with unit_of_work(principal.tenant_id) as uow:
        claim = claim_key(uow, idempotency_key, "deals.create", request)
        if claim.replay is not None:
            return claim.replay.body, True
        body = add_deal(uow, command, context, datetime.now(UTC)).to_dict()
        claim.complete(201, body)
        uow.commit()
    return body, False


def add_deal(
    uow: DealsUnitOfWork, command: NewDeal, context: RequestContext, now: datetime
) -> Deal:
    """Check and write a new deal with its first stage stay, events and audit row, in `uow`
    (creating one, or converting a lead into a contact and a deal)."""
    principal = context.principal
    pipeline = _target_pipeline(uow, command.pipeline_id)
    if pipeline.archived:
        raise ValidationFailed(
            "the pipeline is archived",
            [_body_error("pipeline_id", "deals cannot be created in an archived pipeline")],
        )
    stage = _target_stage(pipeline, command.stage_id)
    owner_id = principal.user_id if command.assign_to_caller else command.owner_id
    _check_owner(uow, principal, owner_id)
    _check_lead(uow, command.lead_id)
    _check_contact(uow, command.contact_id)
    deal = Deal(
        tenant_id=principal.tenant_id,
        title=command.title,
        value=command.value,
        currency=command.currency or uow.deals.tenant_currency() or DEFAULT_CURRENCY,
        expected_close_date=command.expected_close_date,
        owner_id=owner_id,
        lead_id=command.lead_id,
        contact_id=command.contact_id,
        lost_reason=command.lost_reason,
        created_by=principal.user_id,
        pipeline_id=pipeline.id,
        stage_id=stage.id,
        status=stage.kind,
        stage_probability=stage.probability,
        created_at=now,
        updated_at=now,
    )
    place_in_stage(deal, pipeline, stage, now)
    deal.probability = command.probability
    check_invariants(deal)
    uow.deals.add(deal)
    uow.deals.add_stage_stay(
        StageStay(
            deal_id=deal.id,
            pipeline_id=pipeline.id,
            stage_id=stage.id,
            stage_name=stage.name,
            entered_at=now,
            reason=deal.lost_reason,
            moved_by=principal.user_id,
        )
    )
    for event in created_events(deal, stage, context.correlation_id):
        uow.add_event(event)
    _audit(uow, context, "deal.created", deal.id, None, deal.to_dict())
    return deal


def get_deal(
    deal_id: uuid.UUID,
    principal: Principal,
    *,
    unit_of_work: Callable[[uuid.UUID], DealsUnitOfWork],
) -> dict[str, Any]:
    with unit_of_work(principal.tenant_id) as uow:
        return _load(uow, deal_id, principal).to_dict()


def list_deals(
    principal: Principal,
    filters: DealFilters,
    sort: DealSort,
    page: PageRequest,
    *,
    unit_of_work: Callable[[uuid.UUID], DealsUnitOfWork],
) -> Page[Deal]:
    if filters.visible_to is not None:
        raise ValueError("visible_to is the record-level rule, not a caller's filter")
    scoped = replace(filters, visible_to=visible_to(principal))
    with unit_of_work(principal.tenant_id) as uow:
        return uow.deals.find(scoped, sort, page)


def update_deal(
    deal_id: uuid.UUID,
    changes: dict[str, Any],
    context: RequestContext,
    *,
    unit_of_work: Callable[[uuid.UUID], DealsUnitOfWork],
    precondition: Precondition | None = None,
) -> dict[str, Any]:
    """Apply a PATCH: `changes` holds only the fields the request named.

    Naming `stage_id` (and/or `pipeline_id`) moves the deal: a transition with a stage history
    row and crm.deal.stage_changed (+ crm.deal.won / crm.deal.lost). A lost stage needs
    `lost_reason`. Naming only a new `pipeline_id` moves the deal to its first open stage.
    """
    unknown = set(changes) - {
        *PLAIN_FIELDS,
        "owner_id",
        "lead_id",
        "pipeline_id",
        "stage_id",
        "lost_reason",
    }
    if unknown:
        raise ValueError(f"not deal fields: {sorted(unknown)}")
    principal = context.principal
    with unit_of_work(principal.tenant_id) as uow:
        deal = _load(uow, deal_id, principal, for_update=True)
        if precondition is not None:
            precondition.check(deal.version, f"deal {deal_id}")
        body = change_deal(uow, deal, changes, context)
        uow.commit()
    return body


def load_deal_for_change(uow: DealsUnitOfWork, deal_id: uuid.UUID, principal: Principal) -> Deal:
    """The live deal locked until commit; 404 when the principal cannot see it."""
    return _load(uow, deal_id, principal, for_update=True)


def change_deal(
    uow: DealsUnitOfWork, deal: Deal, changes: dict[str, Any], context: RequestContext
) -> dict[str, Any]:
    """Apply `changes` to a locked deal inside `uow` (a PATCH, or an automation's stage move):
    rules, then (when anything changed) version, row, stage stays, events and audit. Returns
    the deal as it is now; the caller commits."""
    principal = context.principal
    now = datetime.now(UTC)
    before = deal.to_dict()
    # The move first: closing clears a probability override, and a probability named in
    # the same request must then be refused, not silently dropped.
    transition = _move(uow, deal, changes, now)
    if "contact_id" in changes and changes["contact_id"] != deal.contact_id:
        _check_contact(uow, changes["contact_id"])
    for name in PLAIN_FIELDS:
        if name in changes:
            setattr(deal, name, changes[name])
    if "owner_id" in changes and changes["owner_id"] != deal.owner_id:
        _check_owner(uow, principal, changes["owner_id"])
        deal.owner_id = changes["owner_id"]
    if "lead_id" in changes and changes["lead_id"] != deal.lead_id:
        _check_lead(uow, changes["lead_id"])
        deal.lead_id = changes["lead_id"]
    if "lost_reason" in changes:
        deal.lost_reason = changes["lost_reason"]
    elif transition is not None and transition.to_stage.kind is not StageKind.LOST:
        deal.lost_reason = None  # reopened or won: the old reason no longer applies
    check_invariants(deal)
    after = deal.to_dict()
    changed = _changed_fields(before, after)
    if not changed:
        return before
    deal.version += 1
    deal.updated_at = now
    uow.deals.update(deal)
    if transition is not None:
        uow.deals.close_stage_stay(deal.id, now)
        uow.deals.add_stage_stay(
            StageStay(
                deal_id=deal.id,
                pipeline_id=transition.to_pipeline_id,
                stage_id=transition.to_stage.id,
                stage_name=transition.to_stage.name,
                from_stage_id=transition.from_stage.id,
                entered_at=now,
                reason=transition.reason,
                moved_by=principal.user_id,
            )
        )
    body = deal.to_dict()
    for event in updated_events(deal, changed, transition, context.correlation_id):
        uow.add_event(event)
    action = "deal.stage_changed" if transition is not None else "deal.updated"
    _audit(uow, context, action, deal.id, before, body)
    return body


def _move(
    uow: DealsUnitOfWork, deal: Deal, changes: dict[str, Any], now: datetime
) -> StageTransition | None:
    pipeline_id = changes.get("pipeline_id") or deal.pipeline_id
    if "stage_id" not in changes and pipeline_id == deal.pipeline_id:
        return None
    current = uow.pipelines.get(deal.pipeline_id)
    target = current if pipeline_id == deal.pipeline_id else uow.pipelines.get(pipeline_id)
    if current is None:
        raise RuntimeError(f"deal {deal.id} points at a missing pipeline")  # the FK forbids it
    if target is None:
        raise ValidationFailed(
            "no such pipeline", [_body_error("pipeline_id", "no pipeline with this id")]
        )
    from_stage = current.stage(deal.stage_id)
    assert from_stage is not None, "the foreign key keeps a deal's stage in its pipeline"
    to_stage = _target_stage(target, changes.get("stage_id"))
    return move_deal(deal, from_stage, target, to_stage, reason=changes.get("lost_reason"), at=now)


def _changed_fields(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    ignored = {"version", "updated_at", "stage_entered_at"}
    return {
        name: {"old": before[name], "new": after[name]}
        for name in after
        if name not in ignored and before.get(name) != after[name]
    }


def delete_deal(
    deal_id: uuid.UUID,
    context: RequestContext,
    *,
    unit_of_work: Callable[[uuid.UUID], DealsUnitOfWork],
    precondition: Precondition | None = None,
) -> None:
    """Soft delete: the deal leaves lists, boards and forecasts, and can be restored."""
    principal = context.principal
    now = datetime.now(UTC)
    with unit_of_work(principal.tenant_id) as uow:
        deal = _load(uow, deal_id, principal, for_update=True)
        if precondition is not None:
            precondition.check(deal.version, f"deal {deal_id}")
        before = deal.to_dict()
        deal.deleted_at = now
        deal.updated_at = now
        deal.version += 1
        uow.deals.update(deal)
        uow.add_event(deleted_event(deal, context.correlation_id))
        _audit(uow, context, "deal.deleted", deal.id, before, deal.to_dict())
        uow.commit()


def restore_deal(
    deal_id: uuid.UUID,
    context: RequestContext,
    *,
    unit_of_work: Callable[[uuid.UUID], DealsUnitOfWork],
    idempotency_key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Undo a soft delete; restoring a live deal changes nothing. Returns (deal, replayed)."""
    principal = context.principal
    now = datetime.now(UTC)
    with unit_of_work(principal.tenant_id) as uow:
        claim = claim_key(uow, idempotency_key, "deals.restore", {"deal_id": str(deal_id)})
        if claim.replay is not None:
            return claim.replay.body, True
        deal = _load(uow, deal_id, principal, for_update=True, include_deleted=True)
        if deal.deleted_at is not None:
            before = deal.to_dict()
            deal.deleted_at = None
            deal.updated_at = now
            deal.version += 1
            uow.deals.update(deal)
            uow.add_event(restored_event(deal, context.correlation_id))
            _audit(uow, context, "deal.restored", deal.id, before, deal.to_dict())
        body = deal.to_dict()
        claim.complete(200, body)
        uow.commit()
    return body, False


def deal_stage_history(
    deal_id: uuid.UUID,
    principal: Principal,
    page: PageRequest,
    *,
    unit_of_work: Callable[[uuid.UUID], DealsUnitOfWork],
) -> Page[StageStay]:
    """The deal's stays in stages, oldest first, with time in stage."""
    with unit_of_work(principal.tenant_id) as uow:
        _load(uow, deal_id, principal)
        return uow.deals.stage_history(deal_id, page)
