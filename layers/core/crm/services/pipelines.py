"""Pipeline use cases: list, read, create, edit (rename, archive, default, stages), and the
board and forecast read models of one pipeline."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from crm.domain.audit import AuditEntry, diff
from crm.domain.concurrency import Precondition
from crm.domain.deals import Deal, DealFilters, DealSort, build_forecast
from crm.domain.errors import Conflict, NotFound, ValidationFailed
from crm.domain.events import CloudEvent
from crm.domain.pagination import Page, PageRequest
from crm.domain.permissions import sees_only_own_records
from crm.domain.pipelines import (
    DEFAULT_PIPELINE_NAME,
    DEFAULT_STAGES,
    Pipeline,
    Stage,
    StageSpec,
    new_pipeline,
    plan_stages,
)
from crm.domain.plans import Metric
from crm.domain.tenants import Principal
from crm.ports import DealsUnitOfWork
from crm.services.audit_logs import record_change
from crm.services.idempotency import claim_key
from crm.services.plans import ensure_within_limit
from crm.services.request_context import RequestContext


@dataclass(frozen=True)
class NewPipeline:
    name: str
    stages: list[StageSpec] | None = None  # None: the default stages
    is_default: bool = False


@dataclass(frozen=True)
class PipelineChanges:
    """A PATCH: only what the request named (None: not named)."""

    name: str | None = None
    archived: bool | None = None
    is_default: bool | None = None
    stages: list[StageSpec] | None = None


@dataclass(frozen=True)
class BoardColumn:
    stage: Stage
    deals: Page[Deal]
    deal_count: int
    value_by_currency: dict[str, Decimal]


@dataclass(frozen=True)
class Board:
    pipeline: Pipeline
    columns: list[BoardColumn]


def visible_to(principal: Principal) -> uuid.UUID | None:
    """The owner whose records (and unassigned ones) are all this principal may see; None:
    every record of the tenant."""
    return principal.user_id if sees_only_own_records(principal) else None


def _event(
    event_type: str,
    pipeline: Pipeline,
    correlation_id: str | None,
    changes: dict[str, Any] | None = None,
) -> CloudEvent:
    data: dict[str, Any] = {"pipeline": pipeline.to_dict()}
    if changes is not None:
        data["changes"] = changes
    return CloudEvent(
        type=event_type,
        tenant_id=pipeline.tenant_id,
        subject=f"pipelines/{pipeline.id}",
        data=data,
        correlation_id=correlation_id,
    )


def _not_found(pipeline_id: uuid.UUID) -> NotFound:
    return NotFound(f"pipeline {pipeline_id} not found")


def add_default_pipeline(
    uow: DealsUnitOfWork, tenant_id: uuid.UUID, created_by: uuid.UUID | None
) -> Pipeline:
    """The pipeline a tenant starts with; sign-up calls this inside its unit of work."""
    pipeline = new_pipeline(
        tenant_id, DEFAULT_PIPELINE_NAME, DEFAULT_STAGES, created_by=created_by, is_default=True
    )
    uow.pipelines.add(pipeline)
    uow.add_event(_event("crm.pipeline.created", pipeline, None))
    uow.audit.record(
        AuditEntry(
            tenant_id=tenant_id,
            action="pipeline.created",
            actor_id=created_by,
            entity_type="pipeline",
            entity_id=str(pipeline.id),
            changes=diff(None, pipeline.to_dict()),
        )
    )
    return pipeline


def list_pipelines(
    principal: Principal,
    page: PageRequest,
    *,
    include_archived: bool,
    unit_of_work: Callable[[uuid.UUID], DealsUnitOfWork],
) -> Page[Pipeline]:
    with unit_of_work(principal.tenant_id) as uow:
        return uow.pipelines.find(include_archived=include_archived, page=page)


def get_pipeline(
    pipeline_id: uuid.UUID,
    principal: Principal,
    *,
    unit_of_work: Callable[[uuid.UUID], DealsUnitOfWork],
) -> Pipeline:
    with unit_of_work(principal.tenant_id) as uow:
        pipeline = uow.pipelines.get(pipeline_id)
    if pipeline is None:
        raise _not_found(pipeline_id)
    return pipeline


def create_pipeline(
    command: NewPipeline,
    context: RequestContext,
    *,
    unit_of_work: Callable[[uuid.UUID], DealsUnitOfWork],
    request: dict[str, Any],
    idempotency_key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Returns (pipeline, replayed). `request` is the body as sent: what an Idempotency-Key
    is bound to. The plan's pipeline limit counts every pipeline, archived ones too."""
    principal = context.principal
    with unit_of_work(principal.tenant_id) as uow:
        claim = claim_key(uow, idempotency_key, "pipelines.create", request)
        if claim.replay is not None:
            return claim.replay.body, True
        ensure_within_limit(uow, Metric.PIPELINES)
        pipeline = new_pipeline(
            principal.tenant_id,
            command.name,
            DEFAULT_STAGES if command.stages is None else command.stages,
            created_by=principal.user_id,
        )
        if command.is_default or uow.pipelines.get_default() is None:
            _take_default(uow, pipeline, context)
        uow.pipelines.add(pipeline)
        body = pipeline.to_dict()
        uow.add_event(_event("crm.pipeline.created", pipeline, context.correlation_id))
        _audit(uow, context, "pipeline.created", pipeline.id, None, body)
        claim.complete(201, body)
        uow.commit()
    return body, False


def update_pipeline(
    pipeline_id: uuid.UUID,
    changes: PipelineChanges,
    context: RequestContext,
    *,
    unit_of_work: Callable[[uuid.UUID], DealsUnitOfWork],
    precondition: Precondition | None = None,
) -> dict[str, Any]:
    """Rename, archive or unarchive, make the default, edit the stages.

    `stages` is the complete ordered list: a stage named by id is kept (renamed, moved,
    re-weighted), one without id is added, one left out is removed. 409 when removing a
    stage, or changing its kind, while deals are in it, and when archiving the default.
    """
    principal = context.principal
    now = datetime.now(UTC)
    with unit_of_work(principal.tenant_id) as uow:
        pipeline = uow.pipelines.get(pipeline_id, for_update=True)
        if pipeline is None:
            raise _not_found(pipeline_id)
        if precondition is not None:
            precondition.check(pipeline.version, f"pipeline {pipeline_id}")
        before = pipeline.to_dict()
        removed: list[uuid.UUID] = []
        if changes.name is not None:
            pipeline.name = changes.name
        if changes.stages is not None:
            removed = _replace_stages(uow, pipeline, changes.stages)
        if changes.archived is not None:
            _set_archived(pipeline, changes.archived, now)
        if changes.is_default is not None:
            if not changes.is_default:
                raise ValidationFailed(
                    "a pipeline stops being the default when another one becomes it",
                    [_body_error("is_default", "only true is accepted")],
                )
            if not pipeline.is_default:
                _take_default(uow, pipeline, context)
        if _content(pipeline.to_dict()) == _content(before):
            return before
        pipeline.version += 1
        pipeline.updated_at = now
        uow.pipelines.save(pipeline, removed)
        after = pipeline.to_dict()
        changed = diff(_content(before), _content(after))
        uow.add_event(_event("crm.pipeline.updated", pipeline, context.correlation_id, changed))
        _audit(uow, context, "pipeline.updated", pipeline.id, before, after)
        uow.commit()
    return after


def _content(body: dict[str, Any]) -> dict[str, Any]:
    """What a change is about (version and updated_at always move with one)."""
    return {k: v for k, v in body.items() if k not in ("version", "updated_at")}


def _body_error(name: str, msg: str) -> dict[str, Any]:
    return {"loc": ["body", name], "msg": msg, "type": "value_error"}


def _audit(
    uow: DealsUnitOfWork,
    context: RequestContext,
    action: str,
    pipeline_id: uuid.UUID,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    record_change(
        uow,
        context.principal,
        action,
        entity_type="pipeline",
        entity_id=str(pipeline_id),
        before=before,
        after=after,
        meta=context.meta,
    )


def _set_archived(pipeline: Pipeline, archived: bool, now: datetime) -> None:
    if archived and pipeline.is_default:
        raise Conflict(
            "the default pipeline cannot be archived; make another pipeline the default first",
            field="archived",
        )
    if archived and pipeline.archived_at is None:
        pipeline.archived_at = now
    elif not archived:
        pipeline.archived_at = None


def _replace_stages(
    uow: DealsUnitOfWork, pipeline: Pipeline, specs: list[StageSpec]
) -> list[uuid.UUID]:
    planned = plan_stages(pipeline.stages, specs)
    kept = {stage.id for stage in planned}
    removed = [stage.id for stage in pipeline.stages if stage.id not in kept]
    # Deals keep their stage's kind as their status: a stage with deals keeps its kind.
    kind_changed = [
        stage.id
        for stage in planned
        if (old := pipeline.stage(stage.id)) is not None and old.kind is not stage.kind
    ]
    busy = uow.pipelines.stages_with_deals([*removed, *kind_changed])
    if busy:
        names = sorted(stage.name for stage in pipeline.stages if stage.id in busy)
        raise Conflict(
            f"stages with deals cannot be removed or change kind ({', '.join(names)});"
            " move their deals first",
            field="stages",
            stage_ids=sorted(str(stage_id) for stage_id in busy),
        )
    pipeline.stages = planned
    return removed


def _take_default(uow: DealsUnitOfWork, pipeline: Pipeline, context: RequestContext) -> None:
    """Make `pipeline` the default, taking the flag from the current default (one per
    tenant: the current one is locked and saved first)."""
    if pipeline.archived:
        raise Conflict("an archived pipeline cannot be the default", field="is_default")
    current = uow.pipelines.get_default(for_update=True)
    if current is not None and current.id != pipeline.id:
        before = current.to_dict()
        current.is_default = False
        current.version += 1
        current.updated_at = datetime.now(UTC)
        uow.pipelines.save(current)
        after = current.to_dict()
        changed = diff(_content(before), _content(after))
        uow.add_event(_event("crm.pipeline.updated", current, context.correlation_id, changed))
        _audit(uow, context, "pipeline.updated", current.id, before, after)
    pipeline.is_default = True


# ------------------------------------------------------------------ board and forecast


def pipeline_board(
    pipeline_id: uuid.UUID,
    principal: Principal,
    *,
    limit: int,
    unit_of_work: Callable[[uuid.UUID], DealsUnitOfWork],
) -> Board:
    """The kanban: every stage with its first `limit` deals (newest first), its deal count
    and its value per currency. Sellers see their own and unassigned deals only."""
    owner = visible_to(principal)
    with unit_of_work(principal.tenant_id) as uow:
        pipeline = uow.pipelines.get(pipeline_id)
        if pipeline is None:
            raise _not_found(pipeline_id)
        pages = uow.deals.board(pipeline_id, visible_to=owner, limit=limit)
        totals = uow.deals.stage_totals(pipeline_id, visible_to=owner)
    counts: dict[uuid.UUID, int] = {}
    values: dict[uuid.UUID, dict[str, Decimal]] = {}
    for stage_id, currency, count, value in totals:
        counts[stage_id] = counts.get(stage_id, 0) + count
        values.setdefault(stage_id, {})[currency] = value
    columns = [
        BoardColumn(
            stage=stage,
            deals=pages.get(stage.id, Page([], None)),
            deal_count=counts.get(stage.id, 0),
            value_by_currency=dict(sorted(values.get(stage.id, {}).items())),
        )
        for stage in pipeline.stages
    ]
    return Board(pipeline, columns)


def board_column_page(
    pipeline_id: uuid.UUID,
    stage_id: uuid.UUID,
    principal: Principal,
    page: PageRequest,
    *,
    unit_of_work: Callable[[uuid.UUID], DealsUnitOfWork],
) -> Page[Deal]:
    """The next page of one board column (same order as the board)."""
    with unit_of_work(principal.tenant_id) as uow:
        pipeline = uow.pipelines.get(pipeline_id)
        if pipeline is None:
            raise _not_found(pipeline_id)
        if pipeline.stage(stage_id) is None:
            raise ValidationFailed(
                "the stage is not in this pipeline",
                [
                    {
                        "loc": ["query", "stage_id"],
                        "msg": "not a stage of this pipeline",
                        "type": "value_error",
                    }
                ],
            )
        filters = DealFilters(stage_id=stage_id, visible_to=visible_to(principal))
        return uow.deals.find(filters, DealSort(), page)


def pipeline_forecast(
    pipeline_id: uuid.UUID,
    principal: Principal,
    *,
    unit_of_work: Callable[[uuid.UUID], DealsUnitOfWork],
) -> dict[str, Any]:
    """Weighted value by stage and expected-close month, per currency, of the live deals
    (sellers: of their own and unassigned deals)."""
    with unit_of_work(principal.tenant_id) as uow:
        pipeline = uow.pipelines.get(pipeline_id)
        if pipeline is None:
            raise _not_found(pipeline_id)
        groups = uow.deals.forecast_groups(pipeline_id, visible_to=visible_to(principal))
    return build_forecast(pipeline, groups)
