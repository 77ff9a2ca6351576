"""'Tempo médio de lead' on a real OpenSearch node: lead documents carry when a lead converted
and the days it took (versioned with the lead), and the leads report averages them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from crm.adapters.opensearch.leads_index import (
    OpenSearchLeadIndex,
    client_for,
    ensure_index_template,
)
from crm.domain.leads import Lead, LeadStatus
from crm.domain.tenants import Principal
from crm.services.analytics import leads_report

from local.services import Endpoints

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def index(endpoints: Endpoints) -> Iterator[OpenSearchLeadIndex]:
    client = client_for(endpoints.opensearch_url)
    ensure_index_template(client)
    name = f"crm-leads-test-{uuid.uuid4().hex[:8]}"
    yield OpenSearchLeadIndex(client, index=name)
    client.indices.delete(index=name, params={"ignore_unavailable": "true"})


def _converted(tenant: uuid.UUID, days: float, **fields: object) -> Lead:
    created = datetime(2026, 11, 1, tzinfo=UTC)
    lead = Lead(tenant_id=tenant, name="x", created_at=created)
    changes: dict[str, object] = {"version": 2, **fields}
    return replace(
        lead, status=LeadStatus.CONVERTED, converted_at=created + timedelta(days=days), **changes
    )


def test_the_average_days_to_convert_of_live_converted_leads(index: OpenSearchLeadIndex) -> None:
    tenant, other = uuid.uuid4(), uuid.uuid4()
    two, four = _converted(tenant, 2), _converted(tenant, 4.5)
    gone = _converted(tenant, 100, deleted_at=datetime.now(UTC), version=3)
    fresh = Lead(tenant_id=tenant, name="y")
    stale = replace(four, status=LeadStatus.NEW, converted_at=None, version=1)
    documents = [(tenant, lead.to_dict()) for lead in (two, four, gone, fresh, stale)]
    documents.append((other, _converted(other, 10).to_dict()))
    assert index.index_leads(documents) == [None] * 6  # the stale version 1 is a no-op
    index._client.indices.refresh(index=index._index)

    assert index.average_days_to_convert(tenant) == pytest.approx(3.25)
    assert index.average_days_to_convert(other) == pytest.approx(10.0)
    assert index.average_days_to_convert(uuid.uuid4()) is None
    report = leads_report(Principal(tenant_id=tenant, user_id=uuid.uuid4(), role="owner"),
                          index=index)  # fmt: skip
    assert report == {
        "total": 3,
        "by_status": {"converted": 2, "new": 1},
        "average_days_to_convert": 3.25,
    }
