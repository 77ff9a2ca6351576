"""The lead read model in OpenSearch: one document per lead, reports aggregate over it.

Documents carry no personal data (no name, email, phone): reports need status, source and
dates only, which keeps GDPR erasure out of the index.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConflictError

LEADS_INDEX = "crm-leads"
TEMPLATE_NAME = "crm-leads"
DEFAULT_TEMPLATE = Path(__file__).resolve().parents[5] / "infra" / "search" / "leads-template.json"


def client_for(url: str) -> OpenSearch:
    return OpenSearch(hosts=[url], timeout=10, max_retries=2, retry_on_timeout=True)


def ensure_index_template(client: OpenSearch, path: Path = DEFAULT_TEMPLATE) -> None:
    client.indices.put_index_template(name=TEMPLATE_NAME, body=json.loads(path.read_text()))


class OpenSearchLeadIndex:
    def __init__(self, client: OpenSearch, index: str = LEADS_INDEX) -> None:
        self._client = client
        self._index = index

    def index_lead(self, tenant_id: uuid.UUID, lead: dict[str, Any]) -> None:
        document = {
            "tenant_id": str(tenant_id),
            "lead_id": lead["id"],
            "status": lead["status"],
            "source": lead.get("source"),
            "owner_id": lead.get("owner_id"),
            "created_at": lead["created_at"],
            "updated_at": lead["updated_at"],
            "version": lead["version"],
        }
        try:
            # External versioning: a redelivered or out-of-order older event cannot overwrite
            # a newer document, and the same version twice is a no-op (409, ignored); so the
            # index stays right even when the consumer's ledger commit was lost after a write.
            self._client.index(
                index=self._index,
                id=f"{tenant_id}:{lead['id']}",
                body=document,
                version=lead["version"],
                version_type="external",
                routing=str(tenant_id),
            )
        except ConflictError:
            return

    def count_by_status(self, tenant_id: uuid.UUID) -> dict[str, int]:
        response = self._client.search(
            index=self._index,
            body={
                "size": 0,
                "query": {"bool": {"filter": [{"term": {"tenant_id": str(tenant_id)}}]}},
                "aggs": {"by_status": {"terms": {"field": "status", "size": 20}}},
            },
            routing=str(tenant_id),
            params={"ignore_unavailable": "true"},
        )
        buckets = response.get("aggregations", {}).get("by_status", {}).get("buckets", [])
        return {bucket["key"]: bucket["doc_count"] for bucket in buckets}
