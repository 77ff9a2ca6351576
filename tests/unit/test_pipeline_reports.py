"""The pipeline report's shaping from OpenSearch aggregations, and the deal projection's
routing of events (in-memory indices; the real aggregations run in
tests/integration/test_deal_index.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from crm.domain.events import CloudEvent
from crm.domain.pipelines import Pipeline, Stage, StageKind
from crm.services.analytics import project_events
from crm.services.pipeline_reports import format_cents, shape_pipelines


def _pipeline() -> Pipeline:
    return Pipeline(
        tenant_id=uuid.uuid4(),
        name="Sales",
        stages=[
            Stage("Won", 100, StageKind.WON, 1),
            Stage("New", 10, StageKind.OPEN, 0),
            Stage("Lost", 0, StageKind.LOST, 2),
        ],
    )


def _currencies(*pairs: tuple[str, int, float]) -> dict[str, Any]:
    return {
        "by_currency": {
            "buckets": [
                {"key": currency, "doc_count": count, "cents": {"value": cents}}
                for currency, count, cents in pairs
            ]
        }
    }


def _bucket(pipeline: Pipeline, **parts: Any) -> dict[str, Any]:
    return {"buckets": [{"key": str(pipeline.id), "doc_count": parts.pop("doc_count"), **parts}]}


def test_currencies_are_kept_apart_and_stages_follow_the_pipeline_order() -> None:
    pipeline = _pipeline()
    new, won = pipeline.stages[1], pipeline.stages[0]
    aggregation = _bucket(
        pipeline,
        doc_count=4,
        by_stage={
            "buckets": [
                {"key": str(new.id), "doc_count": 3,
                 **_currencies(("USD", 1, 1999.0), ("EUR", 2, 250050.0))},
                {"key": str(won.id), "doc_count": 1, **_currencies(("BRL", 1, 100.0))},
            ]
        },
        closed={"doc_count": 1, "by_status": {"buckets": [
            {"key": "won", "doc_count": 1, **_currencies(("BRL", 1, 100.0)),
             "days_to_close": {"value": 3.456}},
        ]}},
        created={"doc_count": 4, "per_month": {"buckets": [
            {"key_as_string": "2026-10", "doc_count": 0},
            {"key_as_string": "2026-11", "doc_count": 4},
        ]}},
    )  # fmt: skip
    (report,) = shape_pipelines(aggregation, [pipeline])
    assert [stage["name"] for stage in report["stages"]] == ["New", "Won", "Lost"]
    assert report["stages"][0] == {
        "stage_id": str(new.id),
        "name": "New",
        "kind": "open",
        "deals": 3,
        "values": [
            {"currency": "EUR", "deals": 2, "value": "2500.50"},
            {"currency": "USD", "deals": 1, "value": "19.99"},
        ],
    }
    assert report["stages"][2] == {
        "stage_id": str(pipeline.stages[2].id),
        "name": "Lost",
        "kind": "lost",
        "deals": 0,
        "values": [],
    }
    assert report["won"] == {
        "deals": 1,
        "values": [{"currency": "BRL", "deals": 1, "value": "1.00"}],
    }
    assert report["lost"] == {"deals": 0, "values": []}
    assert report["conversion_rate"] == 1.0
    assert report["average_days_to_close"] == 3.46
    assert report["created_per_month"] == [{"month": "2026-11", "deals": 4}]


def test_no_closed_deal_means_no_conversion_rate_rather_than_zero() -> None:
    pipeline = _pipeline()
    aggregation = _bucket(
        pipeline,
        doc_count=1,
        closed={"doc_count": 0, "by_status": {"buckets": []}},
    )
    (report,) = shape_pipelines(aggregation, [pipeline])
    assert report["conversion_rate"] is None
    assert report["average_days_to_close"] is None
    # only lost deals: a real zero
    lost_only = _bucket(
        pipeline,
        doc_count=2,
        closed={"doc_count": 2, "by_status": {"buckets": [
            {"key": "lost", "doc_count": 2, **_currencies(("EUR", 2, 10.0)),
             "days_to_close": {"value": 1.0}},
        ]}},
    )  # fmt: skip
    (report,) = shape_pipelines(lost_only, [pipeline])
    assert report["conversion_rate"] == 0.0
    assert report["average_days_to_close"] is None  # of won deals only


def test_an_empty_tenant_gets_its_pipelines_with_zeros() -> None:
    pipeline = _pipeline()
    (report,) = shape_pipelines({"buckets": []}, [pipeline])
    assert report["deals"] == 0
    assert all(stage["deals"] == 0 and stage["values"] == [] for stage in report["stages"])
    assert report["won"] == report["lost"] == {"deals": 0, "values": []}
    assert report["conversion_rate"] is None and report["created_per_month"] == []
    assert shape_pipelines({}, []) == []


def test_a_pipeline_not_asked_for_is_left_out() -> None:
    asked, other = _pipeline(), _pipeline()
    aggregation = {"buckets": [{"key": str(other.id), "doc_count": 5}]}
    (report,) = shape_pipelines(aggregation, [asked])
    assert report["pipeline_id"] == str(asked.id) and report["deals"] == 0


def test_cents_are_formatted_exactly() -> None:
    assert format_cents(None) == "0.00"
    assert format_cents(0.0) == "0.00"
    assert format_cents(5.0) == "0.05"
    assert format_cents(123456789012345.0) == "1234567890123.45"


class _Index:
    def __init__(self) -> None:
        self.written: list[tuple[uuid.UUID, dict[str, Any]]] = []
        self.refuse: set[str] = set()

    def _write(self, items: Sequence[tuple[uuid.UUID, dict[str, Any]]]) -> list[Exception | None]:
        self.written += items
        return [ValueError("no") if item["id"] in self.refuse else None for _, item in items]

    def index_leads(self, leads: Sequence[tuple[uuid.UUID, dict[str, Any]]]) -> list[Any]:
        return self._write(leads)

    def count_by_status(
        self, tenant_id: uuid.UUID, visible_owner: uuid.UUID | None = None
    ) -> dict[str, int]:
        return {}

    def average_days_to_convert(
        self, tenant_id: uuid.UUID, visible_owner: uuid.UUID | None = None
    ) -> float | None:
        return None

    def index_deals(self, deals: Sequence[tuple[uuid.UUID, dict[str, Any]]]) -> list[Any]:
        return self._write(deals)

    def pipeline_aggregations(
        self,
        tenant_id: uuid.UUID,
        *,
        start: date,
        end: date,
        pipeline_id: uuid.UUID | None = None,
        visible_owner: uuid.UUID | None = None,
    ) -> dict[str, Any]:
        return {}


def test_deal_events_go_to_the_deal_index_and_rejections_name_their_event() -> None:
    tenant = uuid.uuid4()
    leads, deals = _Index(), _Index()
    events = [
        CloudEvent("crm.deal.created", tenant, "deals/1", {"deal": {"id": "d1"}}),
        CloudEvent("crm.lead.created", tenant, "leads/1", {"lead": {"id": "l1"}}),
        CloudEvent("crm.deal.lost", tenant, "deals/2", {"deal": {"id": "d2"}, "reason": "x"}),
        CloudEvent("crm.pipeline.created", tenant, "pipelines/1", {"pipeline": {"id": "p"}}),
    ]
    deals.refuse = {"d2"}
    rejected = project_events(events, index=leads, deals=deals)
    assert [item["id"] for _, item in leads.written] == ["l1"]
    assert [item["id"] for _, item in deals.written] == ["d1", "d2"]
    assert list(rejected) == [events[2].id]
    # without a deal index deal events need nothing (as before deals were projected)
    assert project_events(events, index=_Index()) == {}
