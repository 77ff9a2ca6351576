"""In-memory pipelines and deals repositories for unit tests of the services. Their list
order and keyset rules mirror the SQL (NULLs last ascending, first descending; id breaks
ties), so a service test on them means the same as one on Postgres."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from crm.domain.deals import (
    Deal,
    DealFilters,
    DealSort,
    DealSortField,
    ForecastGroup,
    StageStay,
)
from crm.domain.errors import Conflict
from crm.domain.pagination import Keyset, Page, PageRequest
from crm.domain.pipelines import Pipeline

from tests.unit.fakes import FakeStore, FakeUnitOfWork


@dataclass
class DealData:
    pipelines: dict[uuid.UUID, Pipeline] = field(default_factory=dict)
    deals: dict[uuid.UUID, Deal] = field(default_factory=dict)
    stays: list[StageStay] = field(default_factory=list)
    active_users: set[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=set)  # (tenant, user)
    currencies: dict[uuid.UUID, str] = field(default_factory=dict)  # tenant -> setting
    pipeline_limit: int | None = None


def _sort_key(value: Any, id_: uuid.UUID) -> tuple[bool, Any, uuid.UUID]:
    """Ascending order as Postgres sorts it: NULLs last, then by id."""
    return (value is None, value if value is not None else 0, id_)


class FakePipelines:
    def __init__(self, data: DealData, tenant_id: uuid.UUID) -> None:
        self._d, self._t = data, tenant_id

    def _mine(self) -> list[Pipeline]:
        return [p for p in self._d.pipelines.values() if p.tenant_id == self._t]

    def add(self, pipeline: Pipeline) -> None:
        if pipeline.is_default and any(p.is_default for p in self._mine()):
            raise Conflict("another pipeline became the default meanwhile; retry")
        self._d.pipelines[pipeline.id] = copy.deepcopy(pipeline)

    def get(self, pipeline_id: uuid.UUID, *, for_update: bool = False) -> Pipeline | None:
        found = self._d.pipelines.get(pipeline_id)
        return copy.deepcopy(found) if found and found.tenant_id == self._t else None

    def get_default(self, *, for_update: bool = False) -> Pipeline | None:
        return next((copy.deepcopy(p) for p in self._mine() if p.is_default), None)

    def find(self, *, include_archived: bool, page: PageRequest) -> Page[Pipeline]:
        rows = sorted(
            (p for p in self._mine() if include_archived or not p.archived),
            key=lambda p: (p.created_at, p.id),
        )
        if page.after is not None:
            after = (page.after.value, page.after.id)
            rows = [p for p in rows if (p.created_at, p.id) > after]
        return Page.from_rows(
            copy.deepcopy(rows[: page.limit + 1]), page.limit, lambda p: Keyset(p.created_at, p.id)
        )

    def save(self, pipeline: Pipeline, removed_stage_ids: Sequence[uuid.UUID] = ()) -> None:
        if set(removed_stage_ids) & self.stages_with_deals(removed_stage_ids):
            raise Conflict("a stage that still has deals cannot be removed")
        if pipeline.is_default and any(p.is_default for p in self._mine() if p.id != pipeline.id):
            raise Conflict("another pipeline became the default meanwhile; retry")
        self._d.pipelines[pipeline.id] = copy.deepcopy(pipeline)

    def stages_with_deals(self, stage_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        return {d.stage_id for d in self._d.deals.values() if d.stage_id in set(stage_ids)}


class FakeDeals:
    def __init__(self, data: DealData, tenant_id: uuid.UUID) -> None:
        self._d, self._t = data, tenant_id

    def _with_stage(self, deal: Deal) -> Deal:
        stage = self._d.pipelines[deal.pipeline_id].stage(deal.stage_id)
        assert stage is not None, "a deal's stage is in its pipeline"
        return replace(copy.deepcopy(deal), stage_probability=stage.probability)

    def _live(self, visible_to: uuid.UUID | None = None) -> list[Deal]:
        return [
            self._with_stage(d)
            for d in self._d.deals.values()
            if d.tenant_id == self._t
            and d.deleted_at is None
            and (visible_to is None or d.owner_id in (visible_to, None))
        ]

    def add(self, deal: Deal) -> None:
        self._d.deals[deal.id] = copy.deepcopy(deal)

    def get(
        self, deal_id: uuid.UUID, *, for_update: bool = False, include_deleted: bool = False
    ) -> Deal | None:
        deal = self._d.deals.get(deal_id)
        if deal is None or deal.tenant_id != self._t:
            return None
        if deal.deleted_at is not None and not include_deleted:
            return None
        return self._with_stage(deal)

    def update(self, deal: Deal) -> None:
        self._d.deals[deal.id] = copy.deepcopy(deal)

    def find(self, filters: DealFilters, sort: DealSort, page: PageRequest) -> Page[Deal]:
        rows = [d for d in self._live(filters.visible_to) if _matches(d, filters)]

        def key(deal: Deal) -> tuple[bool, Any, uuid.UUID]:
            return _sort_key(deal.sort_value(sort.field), deal.id)

        rows.sort(key=key, reverse=sort.descending)
        if page.after is not None:
            after = _sort_key(page.after.value, page.after.id)
            rows = [d for d in rows if (key(d) < after if sort.descending else key(d) > after)]
        return Page.from_rows(
            rows[: page.limit + 1],
            page.limit,
            lambda d: Keyset(d.sort_value(sort.field), d.id),
        )

    def board(
        self, pipeline_id: uuid.UUID, *, visible_to: uuid.UUID | None, limit: int
    ) -> dict[uuid.UUID, Page[Deal]]:
        columns: dict[uuid.UUID, Page[Deal]] = {}
        for stage in self._d.pipelines[pipeline_id].stages:
            page = self.find(
                DealFilters(stage_id=stage.id, visible_to=visible_to),
                DealSort(DealSortField.CREATED_AT),
                PageRequest(limit),
            )
            if page.items:
                columns[stage.id] = page
        return columns

    def stage_totals(
        self, pipeline_id: uuid.UUID, *, visible_to: uuid.UUID | None
    ) -> list[tuple[uuid.UUID, str, int, Decimal]]:
        totals: dict[tuple[uuid.UUID, str], tuple[int, Decimal]] = {}
        for deal in self._live(visible_to):
            if deal.pipeline_id == pipeline_id:
                count, value = totals.get((deal.stage_id, deal.currency), (0, Decimal(0)))
                totals[(deal.stage_id, deal.currency)] = (count + 1, value + deal.value)
        return [(s, c, n, v) for (s, c), (n, v) in totals.items()]

    def forecast_groups(
        self, pipeline_id: uuid.UUID, *, visible_to: uuid.UUID | None
    ) -> list[ForecastGroup]:
        groups: dict[tuple[uuid.UUID, date | None, str, int], tuple[int, Decimal]] = {}
        for deal in self._live(visible_to):
            if deal.pipeline_id != pipeline_id:
                continue
            month = deal.expected_close_date.replace(day=1) if deal.expected_close_date else None
            group = (deal.stage_id, month, deal.currency, deal.effective_probability)
            count, value = groups.get(group, (0, Decimal(0)))
            groups[group] = (count + 1, value + deal.value)
        return [
            ForecastGroup(stage_id=s, month=m, currency=c, probability=p, deal_count=n, value=v)
            for (s, m, c, p), (n, v) in groups.items()
        ]

    def add_stage_stay(self, stay: StageStay) -> None:
        self._d.stays.append(stay)

    def close_stage_stay(self, deal_id: uuid.UUID, at: datetime) -> None:
        self._d.stays = [
            replace(s, left_at=at) if s.deal_id == deal_id and s.left_at is None else s
            for s in self._d.stays
        ]

    def stage_history(self, deal_id: uuid.UUID, page: PageRequest) -> Page[StageStay]:
        stays = sorted(
            (s for s in self._d.stays if s.deal_id == deal_id), key=lambda s: (s.entered_at, s.id)
        )
        if page.after is not None:
            after = (page.after.value, page.after.id)
            stays = [s for s in stays if (s.entered_at, s.id) > after]
        return Page.from_rows(
            stays[: page.limit + 1], page.limit, lambda s: Keyset(s.entered_at, s.id)
        )

    def tenant_currency(self) -> str | None:
        return self._d.currencies.get(self._t)

    def is_active_user(self, user_id: uuid.UUID) -> bool:
        return (self._t, user_id) in self._d.active_users


def _matches(deal: Deal, f: DealFilters) -> bool:
    checks = [
        f.pipeline_id is None or deal.pipeline_id == f.pipeline_id,
        f.stage_id is None or deal.stage_id == f.stage_id,
        f.owner_id is None or deal.owner_id == f.owner_id,
        f.status is None or deal.status is f.status,
        f.created_after is None or deal.created_at >= f.created_after,
        f.created_before is None or deal.created_at < f.created_before,
        f.updated_after is None or deal.updated_at >= f.updated_after,
        f.updated_before is None or deal.updated_at < f.updated_before,
    ]
    return all(checks)


class FakeUsage:
    """The level of the pipelines metric, as the usage trigger keeps it in Postgres."""

    def __init__(self, data: DealData, tenant_id: uuid.UUID) -> None:
        self._d, self._t = data, tenant_id

    def lock_level(self, metric: str) -> tuple[int, int | None, str]:
        used = sum(1 for p in self._d.pipelines.values() if p.tenant_id == self._t)
        return used, self._d.pipeline_limit, "test"


@dataclass
class DealStore(FakeStore):
    deal_data: DealData = field(default_factory=DealData)


class DealsUnitOfWork(FakeUnitOfWork):
    """FakeUnitOfWork plus pipelines, deals and the usage level, staged like the rest."""

    _store: DealStore
    _staged: DealStore

    def __enter__(self) -> DealsUnitOfWork:
        super().__enter__()
        data = self._staged.deal_data
        self.pipelines = FakePipelines(data, self.tenant_id)
        self.deals = FakeDeals(data, self.tenant_id)
        self.usage = FakeUsage(data, self.tenant_id)
        return self


def deal_uow_factory(store: DealStore) -> Callable[[uuid.UUID], DealsUnitOfWork]:
    return lambda tenant_id: DealsUnitOfWork(store, tenant_id)
