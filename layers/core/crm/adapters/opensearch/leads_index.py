"""The lead read model in OpenSearch: one document per lead, reports aggregate over it.

Documents carry no personal data (no name, email, phone): reports need status, source and
dates only, which keeps GDPR erasure out of the index. A deleted lead stays as a document
marked `deleted` (a tombstone with its version, so a late older event cannot bring it back)
and reports leave it out.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import TransportError

from crm.domain.errors import UpstreamUnavailable

LEADS_INDEX = "crm-leads"
TEMPLATE_NAME = "crm-leads"
DEFAULT_TEMPLATE = Path(__file__).resolve().parents[5] / "infra" / "search" / "leads-template.json"


VERSION_CONFLICT = 409
UNAVAILABLE_STATUSES = {429, 502, 503, 504}


def search_or_unavailable(client: OpenSearch, **request: Any) -> dict[str, Any]:
    """A report's search: a cluster that cannot answer is a 503 problem for the caller (the
    report cannot be read right now), not a 500."""
    try:
        response: dict[str, Any] = client.search(**request)
    except OpenSearchConnectionError as error:
        raise UpstreamUnavailable("the reports index cannot be reached") from error
    except TransportError as error:
        if error.status_code in UNAVAILABLE_STATUSES:
            raise UpstreamUnavailable("the reports index is unavailable") from error
        raise
    return response


def report_filters(tenant_id: uuid.UUID, visible_owner: uuid.UUID | None) -> list[dict[str, Any]]:
    """A report's scope: the tenant's documents, and with `visible_owner` only those this user
    owns or nobody owns (a seller's view, the same rule as the lists)."""
    filters: list[dict[str, Any]] = [{"term": {"tenant_id": str(tenant_id)}}]
    if visible_owner is not None:
        filters.append(
            {
                "bool": {
                    "should": [
                        {"term": {"owner_id": str(visible_owner)}},
                        {"bool": {"must_not": [{"exists": {"field": "owner_id"}}]}},
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
    return filters


class DocumentRejected(ValueError):
    """The index refused a document for what it contains (a mapping error, say)."""

    def __init__(self, status: int, error: Any) -> None:
        super().__init__(f"OpenSearch rejected the document ({status}): {error}")


def _days_to_convert(lead: dict[str, Any]) -> float | None:
    """Days from creation to conversion, computed here: the integ-test OpenSearch has no
    painless to subtract dates in an aggregation."""
    if not lead.get("converted_at"):
        return None
    elapsed = datetime.fromisoformat(lead["converted_at"]) - datetime.fromisoformat(
        lead["created_at"]
    )
    return max(elapsed.total_seconds(), 0.0) / 86400.0


def _document(tenant_id: uuid.UUID, lead: dict[str, Any]) -> dict[str, Any]:
    return {
        "tenant_id": str(tenant_id),
        "lead_id": lead["id"],
        "status": lead["status"],
        "source": lead.get("source"),
        "owner_id": lead.get("owner_id"),
        "deleted": lead.get("deleted_at") is not None,
        "created_at": lead["created_at"],
        "updated_at": lead["updated_at"],
        "converted_at": lead.get("converted_at"),
        "days_to_convert": _days_to_convert(lead),
        "version": lead["version"],
    }


def client_for(url: str, *, auth: str = "none", region: str | None = None) -> OpenSearch:
    """A client of the node at `url`: unsigned ("none", the local node), or every request
    signed with SigV4 for service "es" ("sigv4", Amazon OpenSearch Service: the domain's access
    policy admits the functions' roles). Chosen by configuration (OPENSEARCH_AUTH)."""
    if auth == "none":
        return OpenSearch(hosts=[url], timeout=10, max_retries=2, retry_on_timeout=True)
    if auth != "sigv4":
        raise ValueError(f"unknown OpenSearch auth {auth!r}: none or sigv4")
    if not region:
        raise ValueError("SigV4 signing needs the region (AWS_REGION)")
    from opensearchpy import Urllib3AWSV4SignerAuth, Urllib3HttpConnection

    return OpenSearch(
        hosts=[url],
        http_auth=Urllib3AWSV4SignerAuth(CurrentCredentials(), region, "es"),
        connection_class=Urllib3HttpConnection,
        verify_certs=True,
        timeout=10,
        max_retries=2,
        retry_on_timeout=True,
    )


class CurrentCredentials:
    """The function role's credentials, looked up for each request rather than once: they
    rotate (the Lambda runtime refreshes the environment), and a SnapStart snapshot must not
    carry the credentials of the environment it was taken in."""

    def get_frozen_credentials(self) -> Any:
        import botocore.session

        credentials = botocore.session.get_session().get_credentials()
        if credentials is None:
            raise RuntimeError("no AWS credentials found to sign OpenSearch requests")
        return credentials.get_frozen_credentials()


def ensure_index_template(client: OpenSearch, path: Path = DEFAULT_TEMPLATE) -> None:
    template = json.loads(path.read_text())
    client.indices.put_index_template(name=TEMPLATE_NAME, body=template)
    # A template applies when an index is created: a field added to it since reaches the
    # existing index here (adding a field to a mapping is allowed, and repeating one is a
    # no-op; the mapping is strict, so a document with an unmapped field would be refused).
    if client.indices.exists(index=LEADS_INDEX):
        properties = template["template"]["mappings"]["properties"]
        client.indices.put_mapping(index=LEADS_INDEX, body={"properties": properties})


class OpenSearchLeadIndex:
    def __init__(self, client: OpenSearch, index: str = LEADS_INDEX) -> None:
        self._client = client
        self._index = index

    def index_leads(
        self, leads: Sequence[tuple[uuid.UUID, dict[str, Any]]]
    ) -> list[Exception | None]:
        """Write one document per (tenant, lead) in one bulk request; per lead, None when the
        index holds that version (or a newer one) now, else why it was rejected.

        External versioning: a redelivered or out-of-order older event cannot overwrite a
        newer document, and the same version twice is a no-op (409, counted as done); so the
        index stays right even when the consumer's ledger commit was lost after a write. An
        item the cluster could not take right now (429, 5xx) fails the whole call as an
        outage, for the batch to come back later.
        """
        if not leads:
            return []
        body: list[dict[str, Any]] = []
        for tenant_id, lead in leads:
            body.append({"index": {"_index": self._index, "_id": f"{tenant_id}:{lead['id']}",
                                   "version": lead["version"], "version_type": "external",
                                   "routing": str(tenant_id)}})  # fmt: skip
            body.append(_document(tenant_id, lead))
        response = self._client.bulk(body=body)
        results: list[Exception | None] = []
        for item in response["items"]:
            outcome = item["index"]
            status = int(outcome.get("status", 500))
            if status < 300 or status == VERSION_CONFLICT:
                results.append(None)
            elif status in UNAVAILABLE_STATUSES:
                raise TransportError(status, "bulk item rejected", outcome.get("error"))
            else:
                results.append(DocumentRejected(status, outcome.get("error")))
        return results

    def count_by_status(
        self, tenant_id: uuid.UUID, visible_owner: uuid.UUID | None = None
    ) -> dict[str, int]:
        response = search_or_unavailable(
            self._client,
            index=self._index,
            body={
                "size": 0,
                "query": {
                    "bool": {
                        "filter": report_filters(tenant_id, visible_owner),
                        "must_not": [{"term": {"deleted": True}}],
                    }
                },
                "aggs": {"by_status": {"terms": {"field": "status", "size": 20}}},
            },
            routing=str(tenant_id),
            params={"ignore_unavailable": "true"},
        )
        buckets = response.get("aggregations", {}).get("by_status", {}).get("buckets", [])
        return {bucket["key"]: bucket["doc_count"] for bucket in buckets}

    def average_days_to_convert(
        self, tenant_id: uuid.UUID, visible_owner: uuid.UUID | None = None
    ) -> float | None:
        """The mean days from creation to conversion of the tenant's live converted leads
        (those indexed since documents carry it); None when there are none."""
        response = search_or_unavailable(
            self._client,
            index=self._index,
            body={
                "size": 0,
                "query": {
                    "bool": {
                        "filter": [
                            *report_filters(tenant_id, visible_owner),
                            {"exists": {"field": "days_to_convert"}},
                        ],
                        "must_not": [{"term": {"deleted": True}}],
                    }
                },
                "aggs": {"days": {"avg": {"field": "days_to_convert"}}},
            },
            routing=str(tenant_id),
            params={"ignore_unavailable": "true"},
        )
        value = response.get("aggregations", {}).get("days", {}).get("value")
        return None if value is None else float(value)
