"""Query parameters the lead and contact lists share: the sort and filters of a list (and of
its CSV export), time ranges, comma lists, `cf.<key>` custom field filters, and how a sort
field maps to a cursor's kind."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from crm.api.pagination import SortKind
from crm.api.responses import json_response
from crm.api.strict import StrictAwareDatetime
from crm.domain.errors import ValidationFailed
from crm.domain.records import (
    RecordFilters,
    RecordKind,
    RecordSort,
    RecordSortField,
    normalize_tag,
)
from crm.services.exports import Export

Moment = Annotated[StrictAwareDatetime | None, Query(description="RFC 3339 with an offset")]
SearchText = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=100,
        description="words found anywhere in name, email, company, phone; accents and case"
        " ignored, partial words match",
    ),
]
CUSTOM_FILTER_PREFIX = "cf."
MAX_CUSTOM_FILTERS = 10

SORT_KINDS = {
    RecordSortField.CREATED_AT: SortKind.DATETIME,
    RecordSortField.UPDATED_AT: SortKind.DATETIME,
    RecordSortField.NAME: SortKind.TEXT,
    RecordSortField.SCORE: SortKind.DECIMAL,
}


def _query_error(name: str, msg: str) -> ValidationFailed:
    return ValidationFailed(msg, [{"loc": ["query", name], "msg": msg, "type": "value_error"}])


def check_range(after: datetime | None, before: datetime | None, name: str) -> None:
    if after is not None and before is not None and after >= before:
        raise _query_error(f"{name}_before", f"must be after {name}_after")


def comma_list(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def tag_list(value: str | None) -> tuple[str, ...]:
    try:
        return tuple(normalize_tag(tag) for tag in comma_list(value))
    except ValueError as error:
        raise _query_error("tag", str(error)) from error


def record_query(
    kind: RecordKind,
    sort: RecordSortField,
    order: str,
    q: str | None,
    owner_id: uuid.UUID | None,
    unassigned: bool,
    tag: str | None,
    category: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
    updated_after: datetime | None,
    updated_before: datetime | None,
    deleted: bool,
    *,
    statuses: tuple[str, ...] = (),
    source: str | None = None,
) -> tuple[RecordSort, RecordFilters]:
    """The sort and filters of a lead or contact list (`statuses` and `source`: leads only)."""
    if kind is RecordKind.CONTACT and sort is RecordSortField.SCORE:
        raise ValidationFailed(
            "contacts have no score",
            [{"loc": ["query", "sort"], "msg": "created_at, updated_at or name", "type": "enum"}],
        )
    check_range(created_after, created_before, "created")
    check_range(updated_after, updated_before, "updated")
    filters = RecordFilters(
        statuses=statuses,
        owner_id=owner_id,
        unassigned=unassigned,
        tags=tag_list(tag),
        category=category,
        source=source,
        created_after=created_after,
        created_before=created_before,
        updated_after=updated_after,
        updated_before=updated_before,
        q=q,
        deleted=deleted,
    )
    return RecordSort(kind, sort, descending=order == "desc"), filters


def custom_field_filters(app: APIGatewayRestResolver) -> dict[str, str]:
    """`cf.<key>=<value>` query parameters (typed later, by the tenant's definitions)."""
    params = app.current_event.query_string_parameters or {}
    filters = {
        name.removeprefix(CUSTOM_FILTER_PREFIX): value
        for name, value in params.items()
        if name.startswith(CUSTOM_FILTER_PREFIX)
    }
    if len(filters) > MAX_CUSTOM_FILTERS:
        raise _query_error("cf", f"at most {MAX_CUSTOM_FILTERS} custom field filters")
    return filters


def export_response(export: Export) -> Response[Any]:
    """A small export is the CSV itself; a large one a link to it in S3."""
    if export.csv is not None:
        return Response(
            status_code=200,
            content_type="text/csv; charset=utf-8",
            body=export.csv,
            headers={
                "Content-Disposition": f'attachment; filename="{export.file_name}"',
                "X-Export-Rows": str(export.rows),
            },
        )
    return json_response(
        200,
        {
            "rows": export.rows,
            "file_name": export.file_name,
            "url": export.url,
            "expires_in": export.expires_in,
        },
    )
