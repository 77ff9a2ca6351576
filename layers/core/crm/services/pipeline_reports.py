"""GET /reports/pipelines: deals per pipeline from the OpenSearch deal documents (the analytics
worker's projection of crm.deal.* events), named from Postgres (the pipelines and their
stages; pipeline events are not projected, and names change without touching deals).

Money is never summed across currencies: every amount is a list of {currency, deals, value}.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from crm.domain.errors import NotFound
from crm.domain.pagination import MAX_PAGE_SIZE, PageRequest
from crm.domain.pipelines import Pipeline
from crm.domain.tenants import Principal
from crm.ports import DealSearchIndex, UnitOfWorkFactory
from crm.services.pipelines import visible_to


@dataclass(frozen=True)
class ReportPeriod:
    """Whole days, both ends included (UTC)."""

    start: date
    end: date


def pipelines_report(
    principal: Principal,
    period: ReportPeriod,
    pipeline_id: uuid.UUID | None,
    *,
    deals: DealSearchIndex,
    unit_of_work: UnitOfWorkFactory,
) -> dict[str, Any]:
    """Per pipeline (or the one asked; another tenant's is not found): live deals and value by
    stage and currency now; won and lost deals and value closed in the period, the conversion
    rate won / (won + lost) and the average days from creation to a won close; deals created
    per month in the period. A role limited to its own records counts only the deals it owns
    or nobody owns."""
    aggregation = deals.pipeline_aggregations(
        principal.tenant_id,
        start=period.start,
        end=period.end,
        pipeline_id=pipeline_id,
        visible_owner=visible_to(principal),
    )
    found = {str(bucket["key"]) for bucket in aggregation.get("buckets", [])}
    with unit_of_work(principal.tenant_id) as uow:
        if pipeline_id is not None:
            pipeline = uow.pipelines.get(pipeline_id)
            if pipeline is None:
                raise NotFound(f"pipeline {pipeline_id} not found")
            pipelines = [pipeline]
        else:
            # The live pipelines, plus any other one that has deals (archived ones).
            pipelines = uow.pipelines.find(
                include_archived=False, page=PageRequest(MAX_PAGE_SIZE)
            ).items
            listed = {str(p.id) for p in pipelines}
            for key in sorted(found - listed):
                extra = uow.pipelines.get(uuid.UUID(key))
                if extra is not None:
                    pipelines.append(extra)
    return {
        "from": period.start.isoformat(),
        "to": period.end.isoformat(),
        "pipelines": shape_pipelines(aggregation, pipelines),
    }


def shape_pipelines(
    aggregation: dict[str, Any], pipelines: Sequence[Pipeline]
) -> list[dict[str, Any]]:
    """The report's pipelines from the raw `by_pipeline` aggregation, in the order given (a
    pipeline without deals gets zeros); a pipeline with deals that is not given (gone from
    Postgres) is left out: it cannot be named and nobody may open it."""
    buckets = {str(bucket["key"]): bucket for bucket in aggregation.get("buckets", [])}
    return [_pipeline(pipeline, buckets.get(str(pipeline.id))) for pipeline in pipelines]


def _pipeline(pipeline: Pipeline, bucket: dict[str, Any] | None) -> dict[str, Any]:
    bucket = bucket or {}
    by_stage = {str(b["key"]): b for b in bucket.get("by_stage", {}).get("buckets", [])}
    stages = [
        {
            "stage_id": str(stage.id),
            "name": stage.name,
            "kind": stage.kind.value,
            **_amounts(by_stage.get(str(stage.id))),
        }
        for stage in sorted(pipeline.stages, key=lambda s: s.position)
    ]
    closed = {
        str(b["key"]): b for b in bucket.get("closed", {}).get("by_status", {}).get("buckets", [])
    }
    won, lost = _amounts(closed.get("won")), _amounts(closed.get("lost"))
    decided = won["deals"] + lost["deals"]
    average = (closed.get("won") or {}).get("days_to_close", {}).get("value")
    months = bucket.get("created", {}).get("per_month", {}).get("buckets", [])
    return {
        "pipeline_id": str(pipeline.id),
        "name": pipeline.name,
        "archived": pipeline.archived,
        "deals": int(bucket.get("doc_count", 0)),
        "stages": stages,
        "won": won,
        "lost": lost,
        # None when nothing closed in the period: no rate, rather than a misleading 0
        "conversion_rate": round(won["deals"] / decided, 4) if decided else None,
        "average_days_to_close": round(float(average), 2) if average is not None else None,
        "created_per_month": [
            {"month": month["key_as_string"], "deals": int(month["doc_count"])}
            for month in months
            if month["doc_count"]
        ],
    }


def _amounts(bucket: dict[str, Any] | None) -> dict[str, Any]:
    """{deals, values: [{currency, deals, value}]} of a bucket holding `by_currency`."""
    if bucket is None:
        return {"deals": 0, "values": []}
    values = [
        {
            "currency": str(currency["key"]),
            "deals": int(currency["doc_count"]),
            "value": format_cents(currency["cents"]["value"]),
        }
        for currency in bucket.get("by_currency", {}).get("buckets", [])
    ]
    return {
        "deals": int(bucket["doc_count"]),
        "values": sorted(values, key=lambda v: v["currency"]),
    }


def format_cents(cents: float | None) -> str:
    """A sum aggregation's cents (a double, exact below 2**53) as a two-place decimal string."""
    whole = round(cents or 0)
    return f"{Decimal(whole).scaleb(-2):.2f}"
