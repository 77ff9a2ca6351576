"""The OpenSearch deal read model on a real node: the analytics projection of crm.deal.* events
(versioned like the lead documents) and the pipeline report's aggregations."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from crm.adapters.opensearch.deals_index import (
    OpenSearchDealIndex,
    ensure_deals_template,
)
from crm.adapters.opensearch.leads_index import (
    DocumentRejected,
    OpenSearchLeadIndex,
    client_for,
    ensure_index_template,
)
from crm.domain.deals import Deal
from crm.domain.errors import UpstreamUnavailable
from crm.domain.events import CloudEvent
from crm.domain.pipelines import Pipeline, Stage, StageKind
from crm.services.analytics import project_events
from crm.services.pipeline_reports import shape_pipelines

from local.services import Endpoints

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def deals(endpoints: Endpoints) -> Iterator[OpenSearchDealIndex]:
    client = client_for(endpoints.opensearch_url)
    ensure_deals_template(client)
    name = f"crm-deals-test-{uuid.uuid4().hex[:8]}"
    yield OpenSearchDealIndex(client, index=name)
    client.indices.delete(index=name, params={"ignore_unavailable": "true"})


@pytest.fixture(scope="module")
def leads(endpoints: Endpoints) -> Iterator[OpenSearchLeadIndex]:
    client = client_for(endpoints.opensearch_url)
    ensure_index_template(client)
    name = f"crm-leads-test-{uuid.uuid4().hex[:8]}"
    yield OpenSearchLeadIndex(client, index=name)
    client.indices.delete(index=name, params={"ignore_unavailable": "true"})


def _refresh(index: OpenSearchDealIndex) -> None:
    index._client.indices.refresh(index=index._index)


def _documents(index: OpenSearchDealIndex, tenant: uuid.UUID) -> list[dict[str, Any]]:
    _refresh(index)
    hits = index._client.search(
        index=index._index,
        body={"query": {"term": {"tenant_id": str(tenant)}}, "size": 100},
        routing=str(tenant),
    )["hits"]["hits"]
    return [hit["_source"] for hit in hits]


def _pipeline(tenant: uuid.UUID) -> Pipeline:
    return Pipeline(
        tenant_id=tenant,
        name="Sales",
        stages=[
            Stage("New", 10, StageKind.OPEN, 0),
            Stage("Proposal", 50, StageKind.OPEN, 1),
            Stage("Won", 100, StageKind.WON, 2),
            Stage("Lost", 0, StageKind.LOST, 3),
        ],
    )


def _deal(pipeline: Pipeline, stage: int, value: str, currency: str, **fields: Any) -> Deal:
    target = pipeline.stages[stage]
    return Deal(
        tenant_id=pipeline.tenant_id,
        title="a title that must not reach the index",
        pipeline_id=pipeline.id,
        stage_id=target.id,
        status=target.kind,
        stage_probability=target.probability,
        value=Decimal(value),
        currency=currency,
        **fields,
    )


def _event(event_type: str, deal: Deal) -> CloudEvent:
    return CloudEvent(
        type=event_type,
        tenant_id=deal.tenant_id,
        subject=f"deals/{deal.id}",
        data={"deal": deal.to_dict()},
    )


def test_deal_events_project_one_document_per_deal_without_personal_data(
    deals: OpenSearchDealIndex, leads: OpenSearchLeadIndex
) -> None:
    tenant = uuid.uuid4()
    pipeline = _pipeline(tenant)
    owner = uuid.uuid4()
    deal = _deal(pipeline, 0, "1200.50", "EUR", owner_id=owner)
    won = _deal(pipeline, 0, "10.00", "USD")
    won_v2 = replace(won, stage_id=pipeline.stages[2].id, status=StageKind.WON, version=2,
                     closed_at=won.created_at + timedelta(days=365.5))  # fmt: skip
    # a move emits updated + stage_changed + won with the same snapshot: one write
    events = [_event("crm.deal.created", deal), _event("crm.deal.created", won)] + [
        _event(kind, won_v2) for kind in ("crm.deal.updated", "crm.deal.won", "crm.deal.won")
    ]
    assert project_events(events, index=leads, deals=deals) == {}
    documents = {doc["deal_id"]: doc for doc in _documents(deals, tenant)}
    assert set(documents) == {str(deal.id), str(won.id)}
    first = documents[str(deal.id)]
    assert first["value_cents"] == 120050 and first["currency"] == "EUR"
    assert first["owner_id"] == str(owner) and first["status"] == "open"
    assert first["pipeline_id"] == str(pipeline.id) and first["closed_at"] is None
    assert "title" not in first and all("title" not in str(v) for v in first.values())
    second = documents[str(won.id)]
    assert second["status"] == "won" and second["version"] == 2
    assert second["days_to_close"] == 365.5


def test_an_older_event_after_a_newer_one_changes_nothing(deals: OpenSearchDealIndex) -> None:
    tenant = uuid.uuid4()
    pipeline = _pipeline(tenant)
    deal = _deal(pipeline, 0, "5.00", "EUR")
    newer = replace(deal, stage_id=pipeline.stages[3].id, status=StageKind.LOST, version=3,
                    closed_at=datetime.now(UTC))  # fmt: skip
    deleted = replace(newer, version=4, deleted_at=datetime.now(UTC))
    assert deals.index_deals([(tenant, newer.to_dict()), (tenant, deal.to_dict())]) == [None] * 2
    (document,) = _documents(deals, tenant)
    assert (document["status"], document["version"]) == ("lost", 3)
    # a delete is a tombstone: the restore's older-or-equal version cannot resurrect it
    assert deals.index_deals([(tenant, deleted.to_dict()), (tenant, newer.to_dict())]) == [
        None, None,
    ]  # fmt: skip
    (document,) = _documents(deals, tenant)
    assert document["deleted"] is True and document["version"] == 4


def test_a_document_the_mapping_refuses_is_reported_per_deal(deals: OpenSearchDealIndex) -> None:
    tenant = uuid.uuid4()
    pipeline = _pipeline(tenant)
    good = _deal(pipeline, 0, "1.00", "EUR").to_dict()
    bad = {**_deal(pipeline, 0, "1.00", "EUR").to_dict(), "created_at": "2026-99-99"}
    bad_stage = {**_deal(pipeline, 0, "1.00", "EUR").to_dict(), "stage_entered_at": "never"}
    # the first is refused before the request (unreadable), the second by the mapping
    refused, mapped, ok = deals.index_deals([(tenant, bad), (tenant, bad_stage), (tenant, good)])
    assert isinstance(refused, DocumentRejected)
    first, second = mapped, ok
    assert isinstance(first, DocumentRejected) and "400" in str(first)
    assert second is None


def test_pipeline_aggregations_per_stage_currency_and_period(deals: OpenSearchDealIndex) -> None:
    tenant, other_tenant = uuid.uuid4(), uuid.uuid4()
    pipeline, other = _pipeline(tenant), _pipeline(other_tenant)
    seller = uuid.uuid4()
    nov = datetime(2026, 11, 10, tzinfo=UTC)
    oct_ = datetime(2026, 10, 3, tzinfo=UTC)
    rows = [
        _deal(pipeline, 0, "100.00", "EUR", created_at=oct_, owner_id=seller),
        _deal(pipeline, 0, "50.25", "USD", created_at=nov),
        _deal(pipeline, 1, "10.00", "EUR", created_at=nov, owner_id=uuid.uuid4()),
        # won in November after 10 and 20 days, in two currencies
        _deal(pipeline, 2, "1000.00", "EUR", created_at=datetime(2026, 11, 1, tzinfo=UTC),
              closed_at=datetime(2026, 11, 11, tzinfo=UTC), owner_id=seller),
        _deal(pipeline, 2, "7.00", "USD", created_at=datetime(2026, 10, 25, tzinfo=UTC),
              closed_at=datetime(2026, 11, 14, tzinfo=UTC)),
        # lost in November; and one won before the period
        _deal(pipeline, 3, "3.00", "EUR", created_at=nov,
              closed_at=datetime(2026, 11, 12, tzinfo=UTC)),
        _deal(pipeline, 2, "999.00", "EUR", created_at=datetime(2025, 1, 1, tzinfo=UTC),
              closed_at=datetime(2025, 2, 1, tzinfo=UTC)),
        _deal(pipeline, 0, "1.00", "EUR", created_at=nov, deleted_at=nov),
    ]  # fmt: skip
    noise = [_deal(other, 2, "5.00", "EUR", created_at=nov, closed_at=nov)]
    results = deals.index_deals(
        [(tenant, d.to_dict()) for d in rows] + [(other_tenant, d.to_dict()) for d in noise]
    )
    assert results == [None] * (len(rows) + len(noise))
    _refresh(deals)

    start, end = date(2026, 10, 1), date(2026, 11, 30)
    (report,) = shape_pipelines(
        deals.pipeline_aggregations(tenant, start=start, end=end), [pipeline]
    )
    assert report["deals"] == 7  # the deleted one is left out
    new, proposal, won_stage, lost_stage = report["stages"]
    assert new["deals"] == 2 and new["values"] == [
        {"currency": "EUR", "deals": 1, "value": "100.00"},
        {"currency": "USD", "deals": 1, "value": "50.25"},
    ]
    assert proposal["values"] == [{"currency": "EUR", "deals": 1, "value": "10.00"}]
    assert won_stage["deals"] == 3 and lost_stage["deals"] == 1
    assert report["won"] == {
        "deals": 2,
        "values": [
            {"currency": "EUR", "deals": 1, "value": "1000.00"},
            {"currency": "USD", "deals": 1, "value": "7.00"},
        ],
    }
    assert report["lost"] == {
        "deals": 1,
        "values": [{"currency": "EUR", "deals": 1, "value": "3.00"}],
    }
    assert report["conversion_rate"] == round(2 / 3, 4)
    assert report["average_days_to_close"] == 15.0
    assert report["created_per_month"] == [
        {"month": "2026-10", "deals": 2},
        {"month": "2026-11", "deals": 4},
    ]

    # the seller's view: deals they own or nobody owns
    (mine,) = shape_pipelines(
        deals.pipeline_aggregations(tenant, start=start, end=end, visible_owner=seller),
        [pipeline],
    )
    assert mine["deals"] == 6
    assert mine["stages"][1]["deals"] == 0  # someone else's deal
    # one pipeline asked: another pipeline's id finds nothing of this one
    (elsewhere,) = shape_pipelines(
        deals.pipeline_aggregations(tenant, start=start, end=end, pipeline_id=other.id),
        [pipeline],
    )
    assert elsewhere["deals"] == 0 and elsewhere["conversion_rate"] is None
    # the other tenant sees only its own deal; an unknown tenant nothing
    (theirs,) = shape_pipelines(
        deals.pipeline_aggregations(other_tenant, start=start, end=end), [other]
    )
    assert theirs["deals"] == 1 and theirs["won"]["deals"] == 1
    assert deals.pipeline_aggregations(uuid.uuid4(), start=start, end=end)["buckets"] == []


def test_an_unreachable_cluster_is_upstream_unavailable_for_the_reports() -> None:
    # a closed local port: the report answers 503 problem+json, not 500
    client = client_for("http://127.0.0.1:9")
    tenant = uuid.uuid4()
    with pytest.raises(UpstreamUnavailable):
        OpenSearchDealIndex(client).pipeline_aggregations(
            tenant, start=date(2026, 1, 1), end=date(2026, 1, 31)
        )
    with pytest.raises(UpstreamUnavailable):
        OpenSearchLeadIndex(client).count_by_status(tenant)
    with pytest.raises(UpstreamUnavailable):
        OpenSearchLeadIndex(client).average_days_to_convert(tenant)
