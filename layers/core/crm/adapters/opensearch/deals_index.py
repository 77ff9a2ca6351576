"""The deal read model in OpenSearch: one document per deal, the pipeline report aggregates it.

Like the lead documents: no personal data (no title, no lead or contact), external versioning
by the deal's version (a late older event changes nothing), a deleted deal kept as a
`deleted` tombstone. Money is stored as integer cents next to its currency, so sums are exact
and are only ever taken per currency. The integ-test OpenSearch has no painless, so what a
report needs as a computed number (days from creation to close) is computed here, at index
time, from the snapshot the event carries.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import TransportError

from crm.adapters.opensearch.leads_index import (
    UNAVAILABLE_STATUSES,
    VERSION_CONFLICT,
    DocumentRejected,
    report_filters,
    search_or_unavailable,
)

DEALS_INDEX = "crm-deals"
TEMPLATE_NAME = "crm-deals"
DEFAULT_TEMPLATE = Path(__file__).resolve().parents[5] / "infra" / "search" / "deals-template.json"

MAX_PIPELINES = 200
MAX_STAGES = 200
MAX_CURRENCIES = 50
SECONDS_PER_DAY = 86400.0


def _moment(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def deal_document(tenant_id: uuid.UUID, deal: dict[str, Any]) -> dict[str, Any]:
    created_at = _moment(deal["created_at"])
    closed_at = _moment(deal.get("closed_at"))
    days_to_close = None
    if created_at is not None and closed_at is not None:
        days_to_close = max((closed_at - created_at).total_seconds(), 0.0) / SECONDS_PER_DAY
    return {
        "tenant_id": str(tenant_id),
        "deal_id": deal["id"],
        "pipeline_id": deal["pipeline_id"],
        "stage_id": deal["stage_id"],
        "status": deal["status"],
        "value_cents": int(Decimal(deal["value"]) * 100),
        "currency": deal["currency"],
        "owner_id": deal.get("owner_id"),
        "deleted": deal.get("deleted_at") is not None,
        "created_at": deal["created_at"],
        "closed_at": deal.get("closed_at"),
        "stage_entered_at": deal["stage_entered_at"],
        "days_to_close": days_to_close,
        "updated_at": deal["updated_at"],
        "version": deal["version"],
    }


def ensure_deals_template(client: OpenSearch, path: Path = DEFAULT_TEMPLATE) -> None:
    """Idempotent (as the leads template): the template for new indices, and any field added
    since then onto the existing index."""
    template = json.loads(path.read_text())
    client.indices.put_index_template(name=TEMPLATE_NAME, body=template)
    if client.indices.exists(index=DEALS_INDEX):
        properties = template["template"]["mappings"]["properties"]
        client.indices.put_mapping(index=DEALS_INDEX, body={"properties": properties})


def _day_start(day: date) -> str:
    return datetime.combine(day, time.min).isoformat() + "Z"


class OpenSearchDealIndex:
    def __init__(self, client: OpenSearch, index: str = DEALS_INDEX) -> None:
        self._client = client
        self._index = index

    def index_deals(
        self, deals: Sequence[tuple[uuid.UUID, dict[str, Any]]]
    ) -> list[Exception | None]:
        """One bulk write; per deal None when the index holds that version or a newer one,
        else why it was rejected; an outage (429, 5xx) raises for the whole batch."""
        results: list[Exception | None] = [None] * len(deals)
        body: list[dict[str, Any]] = []
        sent: list[int] = []
        for position, (tenant_id, deal) in enumerate(deals):
            try:
                document = deal_document(tenant_id, deal)
            except (KeyError, ValueError, ArithmeticError) as error:
                # an unreadable snapshot is this deal's problem, not the batch's
                results[position] = DocumentRejected(400, repr(error))
                continue
            body.append({"index": {"_index": self._index, "_id": f"{tenant_id}:{deal['id']}",
                                   "version": deal["version"], "version_type": "external",
                                   "routing": str(tenant_id)}})  # fmt: skip
            body.append(document)
            sent.append(position)
        if not body:
            return results
        response = self._client.bulk(body=body)
        for position, item in zip(sent, response["items"], strict=True):
            outcome = item["index"]
            status = int(outcome.get("status", 500))
            if status in UNAVAILABLE_STATUSES:
                raise TransportError(status, "bulk item rejected", outcome.get("error"))
            if status >= 300 and status != VERSION_CONFLICT:
                results[position] = DocumentRejected(status, outcome.get("error"))
        return results

    def pipeline_aggregations(
        self,
        tenant_id: uuid.UUID,
        *,
        start: date,
        end: date,
        pipeline_id: uuid.UUID | None = None,
        visible_owner: uuid.UUID | None = None,
    ) -> dict[str, Any]:
        """The raw `by_pipeline` aggregation (terms/filter/date_histogram/sum/avg only) over the
        tenant's live deals: per pipeline, deals and cents by stage and currency (now); won and
        lost deals and cents by currency closed in [start, end]; the average days to close of
        those won; deals created per month in [start, end]. `visible_owner`: only deals this
        user owns or nobody owns (a seller's view)."""
        filters = report_filters(tenant_id, visible_owner)
        if pipeline_id is not None:
            filters.append({"term": {"pipeline_id": str(pipeline_id)}})
        period = {"gte": _day_start(start), "lt": _day_start(end + timedelta(days=1))}
        by_currency = {
            "terms": {"field": "currency", "size": MAX_CURRENCIES},
            "aggs": {"cents": {"sum": {"field": "value_cents"}}},
        }
        body = {
            "size": 0,
            "query": {"bool": {"filter": filters, "must_not": [{"term": {"deleted": True}}]}},
            "aggs": {
                "by_pipeline": {
                    "terms": {"field": "pipeline_id", "size": MAX_PIPELINES},
                    "aggs": {
                        "by_stage": {
                            "terms": {"field": "stage_id", "size": MAX_STAGES},
                            "aggs": {"by_currency": by_currency},
                        },
                        "closed": {
                            "filter": {"range": {"closed_at": period}},
                            "aggs": {
                                "by_status": {
                                    "terms": {"field": "status", "size": 3},
                                    "aggs": {
                                        "by_currency": by_currency,
                                        "days_to_close": {"avg": {"field": "days_to_close"}},
                                    },
                                }
                            },
                        },
                        "created": {
                            "filter": {"range": {"created_at": period}},
                            "aggs": {
                                "per_month": {
                                    "date_histogram": {
                                        "field": "created_at",
                                        "calendar_interval": "month",
                                        "format": "yyyy-MM",
                                        "min_doc_count": 1,
                                    }
                                }
                            },
                        },
                    },
                }
            },
        }
        response = search_or_unavailable(
            self._client,
            index=self._index,
            body=body,
            routing=str(tenant_id),
            params={"ignore_unavailable": "true"},
        )
        aggregations: dict[str, Any] = response.get("aggregations", {})
        return aggregations.get("by_pipeline", {"buckets": []})
