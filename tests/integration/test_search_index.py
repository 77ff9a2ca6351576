"""The OpenSearch lead read model on a real node."""

from __future__ import annotations

import uuid

import pytest
from crm.adapters.opensearch.leads_index import (
    DocumentRejected,
    OpenSearchLeadIndex,
    client_for,
    ensure_index_template,
)
from crm.domain.leads import Lead, LeadStatus

from local.services import Endpoints

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def index(endpoints: Endpoints) -> OpenSearchLeadIndex:
    client = client_for(endpoints.opensearch_url)
    ensure_index_template(client)
    return OpenSearchLeadIndex(client, index=f"crm-leads-test-{uuid.uuid4().hex[:8]}")


def _refresh(index: OpenSearchLeadIndex) -> None:
    index._client.indices.refresh(index=index._index)


def test_counts_are_per_tenant(index: OpenSearchLeadIndex) -> None:
    tenant_a, tenant_b = uuid.uuid4(), uuid.uuid4()
    leads = [
        (tenant_a, Lead(tenant_id=tenant_a, name="x", status=status).to_dict())
        for status in (LeadStatus.NEW, LeadStatus.NEW, LeadStatus.QUALIFIED)
    ] + [(tenant_b, Lead(tenant_id=tenant_b, name="y").to_dict())]
    assert index.index_leads(leads) == [None, None, None, None]
    _refresh(index)
    assert index.count_by_status(tenant_a) == {"new": 2, "qualified": 1}
    assert index.count_by_status(tenant_b) == {"new": 1}
    assert index.count_by_status(uuid.uuid4()) == {}


def test_a_sellers_view_counts_their_own_and_unassigned_leads(index: OpenSearchLeadIndex) -> None:
    tenant, seller, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    leads = [
        (tenant, Lead(tenant_id=tenant, name="mine", owner_id=seller).to_dict()),
        (tenant, Lead(tenant_id=tenant, name="theirs", owner_id=other).to_dict()),
        (tenant, Lead(tenant_id=tenant, name="theirs too", owner_id=other).to_dict()),
        (tenant, Lead(tenant_id=tenant, name="nobody's", status=LeadStatus.QUALIFIED).to_dict()),
    ]
    assert index.index_leads(leads) == [None] * 4
    _refresh(index)
    assert index.count_by_status(tenant) == {"new": 3, "qualified": 1}
    assert index.count_by_status(tenant, seller) == {"new": 1, "qualified": 1}
    assert index.count_by_status(tenant, other) == {"new": 2, "qualified": 1}


def test_a_redelivered_or_older_event_does_not_overwrite_a_newer_document(
    index: OpenSearchLeadIndex,
) -> None:
    tenant = uuid.uuid4()
    lead = Lead(tenant_id=tenant, name="x")
    newer = {**lead.to_dict(), "status": "qualified", "version": 2}
    before = _writes(index)
    # version 2, then version 1 arriving late, then a duplicate of version 2: all "done"
    assert index.index_leads([(tenant, newer), (tenant, lead.to_dict()), (tenant, newer)]) == [
        None, None, None,
    ]  # fmt: skip
    _refresh(index)
    assert index.count_by_status(tenant) == {"qualified": 1}
    after = _writes(index)
    assert (after[0] - before[0], after[1] - before[1]) == (1, 2)  # one write, two no-ops


def _writes(index: OpenSearchLeadIndex) -> tuple[int, int]:
    if not index._client.indices.exists(index=index._index):
        return 0, 0
    stats = index._client.indices.stats(index=index._index, metric="indexing")
    indexing = stats["_all"]["primaries"]["indexing"]
    return indexing["index_total"], indexing["index_failed"]


def test_a_document_the_mapping_refuses_is_reported_per_lead(index: OpenSearchLeadIndex) -> None:
    tenant = uuid.uuid4()
    good = Lead(tenant_id=tenant, name="x").to_dict()
    bad = {**Lead(tenant_id=tenant, name="y").to_dict(), "created_at": "not a date"}
    first, second = index.index_leads([(tenant, bad), (tenant, good)])
    assert isinstance(first, DocumentRejected) and "400" in str(first)
    assert second is None
