"""Deals: an opportunity with a value, moving through a pipeline's stages.

A stage move is a transition with rules (a lost stage needs a reason), a record in the stage
history (time in stage) and its own events: crm.deal.stage_changed, plus crm.deal.won or
crm.deal.lost when the deal closes. The forecast weighs each deal's value by its probability.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from crm.domain.errors import ValidationFailed
from crm.domain.events import CloudEvent
from crm.domain.money import cents, format_amount
from crm.domain.pipelines import Pipeline, Stage, StageKind


class DealSortField(StrEnum):
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    VALUE = "value"
    EXPECTED_CLOSE_DATE = "expected_close_date"

    @property
    def nullable(self) -> bool:
        return self is DealSortField.EXPECTED_CLOSE_DATE


@dataclass(frozen=True)
class DealSort:
    field: DealSortField = DealSortField.CREATED_AT
    descending: bool = True

    @property
    def scope(self) -> str:
        """What a cursor of this order is bound to."""
        return f"deals:{self.field.value}:{'desc' if self.descending else 'asc'}"


@dataclass(frozen=True)
class DealFilters:
    """What a deal list is narrowed to; `visible_to` is the record-level rule of roles that
    see only their own deals and unassigned ones (not a filter a caller chooses)."""

    pipeline_id: uuid.UUID | None = None
    stage_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    status: StageKind | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    visible_to: uuid.UUID | None = None


@dataclass
class Deal:
    tenant_id: uuid.UUID
    title: str
    pipeline_id: uuid.UUID
    stage_id: uuid.UUID
    status: StageKind  # the stage's kind, kept on the deal for filtering
    stage_probability: int  # the stage's default, read with the deal
    value: Decimal = Decimal("0.00")
    currency: str = "USD"
    probability: int | None = None  # an override of the stage's default; None inherits it
    expected_close_date: date | None = None
    owner_id: uuid.UUID | None = None
    lead_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    lost_reason: str | None = None
    created_by: uuid.UUID | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    stage_entered_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    closed_at: datetime | None = None
    deleted_at: datetime | None = None
    version: int = 1

    @property
    def effective_probability(self) -> int:
        return self.stage_probability if self.probability is None else self.probability

    def sort_value(self, sort: DealSortField) -> datetime | date | Decimal | None:
        value: datetime | date | Decimal | None = getattr(self, sort.value)
        return value

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "title": self.title,
            "value": format_amount(self.value),
            "currency": self.currency,
            "probability": self.effective_probability,
            "probability_override": self.probability,
            "expected_close_date": _iso(self.expected_close_date),
            "owner_id": _str(self.owner_id),
            "lead_id": _str(self.lead_id),
            "contact_id": _str(self.contact_id),
            "pipeline_id": str(self.pipeline_id),
            "stage_id": str(self.stage_id),
            "status": self.status.value,
            "lost_reason": self.lost_reason,
            "stage_entered_at": self.stage_entered_at.isoformat(),
            "closed_at": _iso(self.closed_at),
            "created_by": _str(self.created_by),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "deleted_at": _iso(self.deleted_at),
            "version": self.version,
        }


def _str(value: uuid.UUID | None) -> str | None:
    return str(value) if value else None


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value else None


def _problem(name: str, msg: str) -> dict[str, Any]:
    return {"loc": ["body", name], "msg": msg, "type": "value_error"}


# ------------------------------------------------------------------ transitions


@dataclass(frozen=True)
class StageTransition:
    """A deal moved from one stage to another (maybe of another pipeline)."""

    from_pipeline_id: uuid.UUID
    from_stage: Stage
    to_pipeline_id: uuid.UUID
    to_stage: Stage
    at: datetime
    reason: str | None
    seconds_in_previous_stage: float

    def to_data(self) -> dict[str, Any]:
        return {
            "from_stage": _stage_ref(self.from_stage, self.from_pipeline_id),
            "to_stage": _stage_ref(self.to_stage, self.to_pipeline_id),
            "reason": self.reason,
            "seconds_in_previous_stage": self.seconds_in_previous_stage,
        }


def _stage_ref(stage: Stage, pipeline_id: uuid.UUID) -> dict[str, Any]:
    return {
        "id": str(stage.id),
        "name": stage.name,
        "kind": stage.kind.value,
        "pipeline_id": str(pipeline_id),
    }


def place_in_stage(deal: Deal, pipeline: Pipeline, stage: Stage, at: datetime) -> None:
    """Put the deal in `stage` (creation or a move): status, dates and probability follow.

    A closed deal (won or lost) takes its stage's fixed probability, so an override set while
    the deal was open does not survive the close.
    """
    deal.pipeline_id = pipeline.id
    deal.stage_id = stage.id
    deal.status = stage.kind
    deal.stage_probability = stage.probability
    deal.stage_entered_at = at
    if stage.kind is StageKind.OPEN:
        deal.closed_at = None
    else:
        deal.closed_at = at
        deal.probability = None


def move_deal(
    deal: Deal,
    from_stage: Stage,
    to_pipeline: Pipeline,
    to_stage: Stage,
    *,
    reason: str | None,
    at: datetime,
) -> StageTransition | None:
    """Move `deal` to `to_stage`; None when it is already there.

    422 when the stage is not of `to_pipeline`, when the deal would change to an archived
    pipeline, or when the target is a lost stage and no reason is given.
    """
    if to_pipeline.stage(to_stage.id) is None:
        raise ValidationFailed(
            "the stage is not in the pipeline",
            [_problem("stage_id", "not a stage of the deal's pipeline")],
        )
    if to_stage.id == deal.stage_id:
        return None
    if to_pipeline.id != deal.pipeline_id and to_pipeline.archived:
        raise ValidationFailed(
            "the pipeline is archived",
            [_problem("pipeline_id", "deals cannot move into an archived pipeline")],
        )
    if to_stage.kind is StageKind.LOST and not reason:
        raise ValidationFailed(
            "a deal moving to a lost stage needs a reason",
            [_problem("lost_reason", "required when moving to a lost stage")],
        )
    transition = StageTransition(
        from_pipeline_id=deal.pipeline_id,
        from_stage=from_stage,
        to_pipeline_id=to_pipeline.id,
        to_stage=to_stage,
        at=at,
        reason=reason,
        seconds_in_previous_stage=max(0.0, (at - deal.stage_entered_at).total_seconds()),
    )
    place_in_stage(deal, to_pipeline, to_stage, at)
    return transition


def check_invariants(deal: Deal) -> None:
    """What must hold after any change: a lost deal has a reason and only a lost deal has
    one; only an open deal overrides its stage's probability (a closed deal counts 100 or 0)."""
    problems = []
    if deal.status is StageKind.LOST and not deal.lost_reason:
        problems.append(_problem("lost_reason", "required for a deal in a lost stage"))
    if deal.status is not StageKind.LOST and deal.lost_reason is not None:
        problems.append(_problem("lost_reason", "only allowed for a deal in a lost stage"))
    if deal.status is not StageKind.OPEN and deal.probability is not None:
        problems.append(_problem("probability", "a won or lost deal takes its stage's probability"))
    if problems:
        raise ValidationFailed("the deal was rejected", problems)


# ------------------------------------------------------------------ stage history


@dataclass(frozen=True)
class StageStay:
    """One stay of a deal in a stage: entered, left (None while it is still there)."""

    deal_id: uuid.UUID
    pipeline_id: uuid.UUID
    stage_id: uuid.UUID
    stage_name: str
    entered_at: datetime
    from_stage_id: uuid.UUID | None = None
    left_at: datetime | None = None
    reason: str | None = None
    moved_by: uuid.UUID | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    def seconds_in_stage(self, now: datetime) -> float:
        return max(0.0, ((self.left_at or now) - self.entered_at).total_seconds())

    def to_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "pipeline_id": str(self.pipeline_id),
            "stage_id": str(self.stage_id),
            "stage_name": self.stage_name,
            "from_stage_id": _str(self.from_stage_id),
            "entered_at": self.entered_at.isoformat(),
            "left_at": _iso(self.left_at),
            "seconds_in_stage": self.seconds_in_stage(now),
            "current": self.left_at is None,
            "reason": self.reason,
            "moved_by": _str(self.moved_by),
        }


# ------------------------------------------------------------------ events


def _event(
    event_type: str, deal: Deal, data: dict[str, Any], correlation_id: str | None
) -> CloudEvent:
    return CloudEvent(
        type=event_type,
        tenant_id=deal.tenant_id,
        subject=f"deals/{deal.id}",
        data={"deal": deal.to_dict(), **data},
        correlation_id=correlation_id,
    )


def _closing_events(
    deal: Deal, stage: Stage, reason: str | None, correlation_id: str | None
) -> list[CloudEvent]:
    if stage.kind is StageKind.WON:
        return [_event("crm.deal.won", deal, {}, correlation_id)]
    if stage.kind is StageKind.LOST:
        return [_event("crm.deal.lost", deal, {"reason": reason}, correlation_id)]
    return []


def created_events(deal: Deal, stage: Stage, correlation_id: str | None) -> list[CloudEvent]:
    """crm.deal.created, and crm.deal.won/lost when it was created closed."""
    return [
        _event("crm.deal.created", deal, {}, correlation_id),
        *_closing_events(deal, stage, deal.lost_reason, correlation_id),
    ]


def updated_events(
    deal: Deal,
    changes: dict[str, Any],
    transition: StageTransition | None,
    correlation_id: str | None,
) -> list[CloudEvent]:
    """crm.deal.updated with the changed fields; a move adds crm.deal.stage_changed and,
    into a closed stage, crm.deal.won or crm.deal.lost."""
    events = [_event("crm.deal.updated", deal, {"changes": changes}, correlation_id)]
    if transition is not None:
        data = {"changes": changes, **transition.to_data()}
        events.append(_event("crm.deal.stage_changed", deal, data, correlation_id))
        events += _closing_events(deal, transition.to_stage, transition.reason, correlation_id)
    return events


def deleted_event(deal: Deal, correlation_id: str | None) -> CloudEvent:
    return _event("crm.deal.deleted", deal, {}, correlation_id)


def restored_event(deal: Deal, correlation_id: str | None) -> CloudEvent:
    return _event("crm.deal.restored", deal, {}, correlation_id)


# ------------------------------------------------------------------ forecast


@dataclass(frozen=True)
class ForecastGroup:
    """Deals of one stage, expected-close month, currency and probability: the SQL does the
    grouping, `build_forecast` the weighing (so its arithmetic is tested without a database)."""

    stage_id: uuid.UUID
    month: date | None  # the first day of the expected-close month; None: no date
    currency: str
    probability: int
    deal_count: int
    value: Decimal


@dataclass
class _Bucket:
    deal_count: int = 0
    value: Decimal = Decimal(0)
    weighted: Decimal = Decimal(0)  # exact; rounded once, when rendered

    def add(self, group: ForecastGroup) -> None:
        self.deal_count += group.deal_count
        self.value += group.value
        self.weighted += group.value * group.probability / 100

    def to_dict(self) -> dict[str, Any]:
        return {
            "deal_count": self.deal_count,
            "value": format_amount(self.value),
            "weighted_value": format_amount(cents(self.weighted)),
        }


def build_forecast(pipeline: Pipeline, groups: Iterable[ForecastGroup]) -> dict[str, Any]:
    """Weighted value (value x probability / 100) by stage and by expected-close month, one
    block per currency (amounts of different currencies are never added)."""
    totals: dict[str, _Bucket] = defaultdict(_Bucket)
    by_stage: dict[str, dict[uuid.UUID, _Bucket]] = defaultdict(lambda: defaultdict(_Bucket))
    by_month: dict[str, dict[date | None, _Bucket]] = defaultdict(lambda: defaultdict(_Bucket))
    for group in groups:
        totals[group.currency].add(group)
        by_stage[group.currency][group.stage_id].add(group)
        by_month[group.currency][group.month].add(group)
    currencies = []
    for currency in sorted(totals):
        months = sorted(by_month[currency], key=lambda m: (m is None, m or date.min))
        currencies.append(
            {
                "currency": currency,
                **totals[currency].to_dict(),
                "by_stage": [
                    {
                        "stage_id": str(stage.id),
                        "name": stage.name,
                        "kind": stage.kind.value,
                        "probability": stage.probability,
                        **by_stage[currency].get(stage.id, _Bucket()).to_dict(),
                    }
                    for stage in pipeline.stages
                ],
                "by_month": [
                    {
                        "month": month.strftime("%Y-%m") if month else None,
                        **by_month[currency][month].to_dict(),
                    }
                    for month in months
                ],
            }
        )
    return {"pipeline_id": str(pipeline.id), "currencies": currencies}
