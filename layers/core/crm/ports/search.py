"""Ports of the search indexes reports read."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any, Protocol


class LeadSearchIndex(Protocol):
    def index_leads(
        self, leads: Sequence[tuple[uuid.UUID, dict[str, Any]]]
    ) -> list[Exception | None]:
        """One bulk write; per lead, None when indexed (or already at that version or newer),
        else why it was rejected. Raises when the index is unavailable."""
        ...

    # visible_owner: only leads this user owns or nobody owns (a seller's view)
    def count_by_status(
        self, tenant_id: uuid.UUID, visible_owner: uuid.UUID | None = None
    ) -> dict[str, int]: ...
    def average_days_to_convert(
        self, tenant_id: uuid.UUID, visible_owner: uuid.UUID | None = None
    ) -> float | None: ...


class DealSearchIndex(Protocol):
    def index_deals(
        self, deals: Sequence[tuple[uuid.UUID, dict[str, Any]]]
    ) -> list[Exception | None]:
        """As LeadSearchIndex.index_leads, for deal snapshots."""
        ...

    def pipeline_aggregations(
        self,
        tenant_id: uuid.UUID,
        *,
        start: date,
        end: date,
        pipeline_id: uuid.UUID | None = None,
        visible_owner: uuid.UUID | None = None,
    ) -> dict[str, Any]:
        """The `by_pipeline` terms aggregation (see crm.adapters.opensearch.deals_index)."""
        ...
