"""Deals and their stage history: SQL only, parameterised; never commits.

List queries are composed from fixed fragments (column names come from DealSortField, never
from the request); every value is a bind parameter.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import pg8000.native

from crm.domain.deals import (
    Deal,
    DealFilters,
    DealSort,
    DealSortField,
    ForecastGroup,
    StageStay,
)
from crm.domain.pagination import Keyset, Page, PageRequest
from crm.domain.pipelines import StageKind

# The deal's own columns plus its stage's probability (deals inherit it unless overridden).
# A scalar subquery rather than a join: it runs for the rows returned only, and leaves the
# planner a single-table top-N on the index of the list's order (a join let it misjudge).
_DEAL_SELECT = (
    "d.id, d.tenant_id, d.title, d.value, d.currency, d.probability, d.expected_close_date,"
    " d.owner_id, d.lead_id, d.contact_id, d.pipeline_id, d.stage_id, d.status, d.lost_reason,"
    " d.stage_entered_at, d.closed_at, d.created_by, d.created_at, d.updated_at, d.deleted_at,"
    " d.version, (SELECT st.probability FROM pipeline_stages st WHERE st.id = d.stage_id)"
)
_DEAL_FROM = "deals d"
_WRITABLE = (
    "title",
    "value",
    "currency",
    "probability",
    "expected_close_date",
    "owner_id",
    "lead_id",
    "contact_id",
    "pipeline_id",
    "stage_id",
    "status",
    "lost_reason",
    "stage_entered_at",
    "closed_at",
    "updated_at",
    "deleted_at",
    "version",
)
_SORT_COLUMNS = {
    DealSortField.CREATED_AT: "d.created_at",
    DealSortField.UPDATED_AT: "d.updated_at",
    DealSortField.VALUE: "d.value",
    DealSortField.EXPECTED_CLOSE_DATE: "d.expected_close_date",
}
_HISTORY_COLUMNS = (
    "id, deal_id, pipeline_id, stage_id, stage_name, from_stage_id, entered_at, left_at,"
    " reason, moved_by"
)
_VISIBLE_TO = "(d.owner_id = :visible_to OR d.owner_id IS NULL)"


def keyset_condition(column: str, sort: DealSort, after: Keyset) -> str:
    """The WHERE fragment for "after this row" in `sort` order.

    NULLs (only expected_close_date has them) sort last ascending and first descending,
    Postgres' defaults, so one btree index serves both directions.
    """
    if not sort.field.nullable or after.value is not None:
        op = "<" if sort.descending else ">"
        condition = f"({column}, d.id) {op} (:after_value, :after_id)"
        if sort.field.nullable and not sort.descending:
            condition = f"({condition} OR {column} IS NULL)"
        return condition
    if sort.descending:
        return f"(({column} IS NULL AND d.id < :after_id) OR {column} IS NOT NULL)"
    return f"({column} IS NULL AND d.id > :after_id)"


def deal_list_query(
    filters: DealFilters, sort: DealSort, page: PageRequest
) -> tuple[str, dict[str, Any]]:
    """The SQL and parameters of one page of a deal list (limit + 1 rows: one more means a
    next page). Every filter and sort has an index that delivers the order (no sort step):
    tests/integration/test_pipelines_deals.py checks the plans."""
    conditions, params = _filter_conditions(filters)
    column = _SORT_COLUMNS[sort.field]
    if page.after is not None:
        conditions.append(keyset_condition(column, sort, page.after))
        params["after_id"] = page.after.id
        if page.after.value is not None:
            params["after_value"] = page.after.value
    direction = "DESC" if sort.descending else "ASC"
    sql = (
        f"SELECT {_DEAL_SELECT} FROM {_DEAL_FROM} WHERE {' AND '.join(conditions)}"
        f" ORDER BY {column} {direction}, d.id {direction} LIMIT :limit"
    )
    return sql, {**params, "limit": page.limit + 1}


class PostgresDealRepository:
    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def add(self, deal: Deal) -> None:
        columns = ("id", "tenant_id", "created_by", "created_at", *_WRITABLE)
        self._conn.run(
            f"INSERT INTO deals ({', '.join(columns)})"
            f" VALUES ({', '.join(':' + c for c in columns)})",
            **{c: _param(deal, c) for c in columns},
        )

    def get(
        self, deal_id: uuid.UUID, *, for_update: bool = False, include_deleted: bool = False
    ) -> Deal | None:
        live = "" if include_deleted else " AND d.deleted_at IS NULL"
        lock = " FOR UPDATE OF d" if for_update else ""
        rows = self._conn.run(
            f"SELECT {_DEAL_SELECT} FROM {_DEAL_FROM} WHERE d.id = :id{live}{lock}", id=deal_id
        )
        return _deal(rows[0]) if rows else None

    def update(self, deal: Deal) -> None:
        self._conn.run(
            f"UPDATE deals SET {', '.join(f'{c} = :{c}' for c in _WRITABLE)} WHERE id = :id",
            id=deal.id,
            **{c: _param(deal, c) for c in _WRITABLE},
        )

    def find(self, filters: DealFilters, sort: DealSort, page: PageRequest) -> Page[Deal]:
        sql, params = deal_list_query(filters, sort, page)
        rows = self._conn.run(sql, **params)
        return Page.from_rows(
            [_deal(row) for row in rows],
            page.limit,
            lambda deal: Keyset(deal.sort_value(sort.field), deal.id),
        )

    def board(
        self, pipeline_id: uuid.UUID, *, visible_to: uuid.UUID | None, limit: int
    ) -> dict[uuid.UUID, Page[Deal]]:
        # One round trip for every column: a LATERAL top-N per stage on deals_stage.
        scope = f" AND {_VISIBLE_TO}" if visible_to else ""
        params: dict[str, Any] = {"pipeline_id": pipeline_id, "limit": limit + 1}
        if visible_to:
            params["visible_to"] = visible_to
        rows = self._conn.run(
            f"SELECT {_DEAL_SELECT} FROM pipeline_stages s CROSS JOIN LATERAL ("
            "  SELECT * FROM deals d WHERE d.stage_id = s.id AND d.deleted_at IS NULL"
            f"  {scope} ORDER BY d.created_at DESC, d.id DESC LIMIT :limit) d"
            " WHERE s.pipeline_id = :pipeline_id ORDER BY s.position, d.created_at DESC, d.id DESC",
            **params,
        )
        by_stage: dict[uuid.UUID, list[Deal]] = {}
        for row in rows:
            deal = _deal(row)
            by_stage.setdefault(deal.stage_id, []).append(deal)
        return {
            stage_id: Page.from_rows(deals, limit, lambda d: Keyset(d.created_at, d.id))
            for stage_id, deals in by_stage.items()
        }

    def stage_totals(
        self, pipeline_id: uuid.UUID, *, visible_to: uuid.UUID | None
    ) -> list[tuple[uuid.UUID, str, int, Decimal]]:
        scope, params = _scope(visible_to)
        rows = self._conn.run(
            "SELECT d.stage_id, d.currency, count(*), sum(d.value) FROM deals d"
            f" WHERE d.pipeline_id = :pipeline_id AND d.deleted_at IS NULL{scope}"
            " GROUP BY d.stage_id, d.currency",
            pipeline_id=pipeline_id,
            **params,
        )
        return [(row[0], row[1], row[2], row[3]) for row in rows]

    def forecast_groups(
        self, pipeline_id: uuid.UUID, *, visible_to: uuid.UUID | None
    ) -> list[ForecastGroup]:
        scope, params = _scope(visible_to)
        rows = self._conn.run(
            "SELECT d.stage_id,"
            "  CAST(date_trunc('month', CAST(d.expected_close_date AS timestamp)) AS date),"
            "  d.currency, COALESCE(d.probability, s.probability), count(*), sum(d.value)"
            " FROM deals d JOIN pipeline_stages s ON s.id = d.stage_id"
            f" WHERE d.pipeline_id = :pipeline_id AND d.deleted_at IS NULL{scope}"
            " GROUP BY 1, 2, 3, 4",
            pipeline_id=pipeline_id,
            **params,
        )
        return [
            ForecastGroup(
                stage_id=row[0],
                month=row[1],
                currency=row[2],
                probability=row[3],
                deal_count=row[4],
                value=row[5],
            )
            for row in rows
        ]

    def add_stage_stay(self, stay: StageStay) -> None:
        self._conn.run(
            f"INSERT INTO deal_stage_history (tenant_id, {_HISTORY_COLUMNS})"
            " VALUES (app_tenant_id(), :id, :deal_id, :pipeline_id, :stage_id, :stage_name,"
            " :from_stage_id, :entered_at, :left_at, :reason, :moved_by)",
            id=stay.id,
            deal_id=stay.deal_id,
            pipeline_id=stay.pipeline_id,
            stage_id=stay.stage_id,
            stage_name=stay.stage_name,
            from_stage_id=stay.from_stage_id,
            entered_at=stay.entered_at,
            left_at=stay.left_at,
            reason=stay.reason,
            moved_by=stay.moved_by,
        )

    def close_stage_stay(self, deal_id: uuid.UUID, at: datetime) -> None:
        self._conn.run(
            "UPDATE deal_stage_history SET left_at = greatest(:at, entered_at)"
            " WHERE deal_id = :deal_id AND left_at IS NULL",
            at=at,
            deal_id=deal_id,
        )

    def stage_history(self, deal_id: uuid.UUID, page: PageRequest) -> Page[StageStay]:
        after = ""
        params: dict[str, Any] = {"deal_id": deal_id, "limit": page.limit + 1}
        if page.after is not None:
            after = " AND (entered_at, id) > (:after_value, :after_id)"
            params.update(after_value=page.after.value, after_id=page.after.id)
        rows = self._conn.run(
            f"SELECT {_HISTORY_COLUMNS} FROM deal_stage_history WHERE deal_id = :deal_id{after}"
            " ORDER BY entered_at, id LIMIT :limit",
            **params,
        )
        stays = [
            StageStay(
                id=row[0],
                deal_id=row[1],
                pipeline_id=row[2],
                stage_id=row[3],
                stage_name=row[4],
                from_stage_id=row[5],
                entered_at=row[6],
                left_at=row[7],
                reason=row[8],
                moved_by=row[9],
            )
            for row in rows
        ]
        return Page.from_rows(stays, page.limit, lambda s: Keyset(s.entered_at, s.id))

    def tenant_currency(self) -> str | None:
        rows = self._conn.run("SELECT settings->>'currency' FROM tenants")
        return rows[0][0] if rows else None

    def is_active_user(self, user_id: uuid.UUID) -> bool:
        return bool(
            self._conn.run("SELECT 1 FROM users WHERE id = :id AND status = 'active'", id=user_id)
        )


def _scope(visible_to: uuid.UUID | None) -> tuple[str, dict[str, Any]]:
    if visible_to is None:
        return "", {}
    return f" AND {_VISIBLE_TO}", {"visible_to": visible_to}


def _filter_conditions(filters: DealFilters) -> tuple[list[str], dict[str, Any]]:
    conditions = ["d.deleted_at IS NULL"]
    params: dict[str, Any] = {}
    for name, condition in (
        ("pipeline_id", "d.pipeline_id = :pipeline_id"),
        ("stage_id", "d.stage_id = :stage_id"),
        ("owner_id", "d.owner_id = :owner_id"),
        ("created_after", "d.created_at >= :created_after"),
        ("created_before", "d.created_at < :created_before"),
        ("updated_after", "d.updated_at >= :updated_after"),
        ("updated_before", "d.updated_at < :updated_before"),
        ("visible_to", _VISIBLE_TO),
    ):
        value = getattr(filters, name)
        if value is not None:
            conditions.append(condition)
            params[name] = value
    if filters.status is not None:
        conditions.append("d.status = :status")
        params["status"] = filters.status.value
    return conditions, params


def _param(deal: Deal, column: str) -> Any:
    value = getattr(deal, column)
    return value.value if isinstance(value, StageKind) else value


def _deal(row: list[Any]) -> Deal:
    (
        id_,
        tenant_id,
        title,
        value,
        currency,
        probability,
        expected_close_date,
        owner_id,
        lead_id,
        contact_id,
        pipeline_id,
        stage_id,
        status,
        lost_reason,
        stage_entered_at,
        closed_at,
        created_by,
        created_at,
        updated_at,
        deleted_at,
        version,
        stage_probability,
    ) = row
    return Deal(
        id=id_,
        tenant_id=tenant_id,
        title=title,
        value=value,
        currency=currency,
        probability=probability,
        expected_close_date=expected_close_date,
        owner_id=owner_id,
        lead_id=lead_id,
        contact_id=contact_id,
        pipeline_id=pipeline_id,
        stage_id=stage_id,
        status=StageKind(status),
        lost_reason=lost_reason,
        stage_entered_at=stage_entered_at,
        closed_at=closed_at,
        created_by=created_by,
        created_at=created_at,
        updated_at=updated_at,
        deleted_at=deleted_at,
        version=version,
        stage_probability=stage_probability,
    )
