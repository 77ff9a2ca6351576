"""The OpenSearch lead read model on a real node."""

from __future__ import annotations

import uuid

import pytest
from crm.adapters.opensearch.leads_index import (
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
    for status in (LeadStatus.NEW, LeadStatus.NEW, LeadStatus.QUALIFIED):
        index.index_lead(tenant_a, Lead(tenant_id=tenant_a, name="x", status=status).to_dict())
    index.index_lead(tenant_b, Lead(tenant_id=tenant_b, name="y").to_dict())
    _refresh(index)
    assert index.count_by_status(tenant_a) == {"new": 2, "qualified": 1}
    assert index.count_by_status(tenant_b) == {"new": 1}
    assert index.count_by_status(uuid.uuid4()) == {}


def test_a_redelivered_or_older_event_does_not_overwrite_a_newer_document(
    index: OpenSearchLeadIndex,
) -> None:
    tenant = uuid.uuid4()
    lead = Lead(tenant_id=tenant, name="x")
    newer = {**lead.to_dict(), "status": "qualified", "version": 2}
    index.index_lead(tenant, newer)
    index.index_lead(tenant, lead.to_dict())  # version 1 arrives late
    index.index_lead(tenant, newer)  # duplicate delivery
    _refresh(index)
    assert index.count_by_status(tenant) == {"qualified": 1}
