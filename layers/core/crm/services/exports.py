"""CSV exports of leads and contacts, with the filters and sort of their lists.

Up to INLINE_ROWS rows come back in the response itself; a larger export is written to S3 and
answered with a short-lived download link (API Gateway and Lambda cap a response at 6-10 MB).
Beyond MAX_ROWS the caller is asked to narrow the filters. Sellers export what they may see.
Cells that a spreadsheet would run as a formula (=, +, -, @) are prefixed with a quote.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from crm.domain.errors import ValidationFailed
from crm.domain.records import RecordFilters, RecordKind, RecordSort
from crm.ports import UnitOfWork, UnitOfWorkFactory
from crm.services.audit_logs import record_change
from crm.services.pipelines import visible_to
from crm.services.records import custom_filter
from crm.services.request_context import RequestContext

INLINE_ROWS = 10_000
MAX_ROWS = 500_000
LINK_SECONDS = 900
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

LEAD_COLUMNS = ("id", "name", "email", "phone", "company", "source", "status", "lost_reason",
                "owner_id", "tags", "category", "score")  # fmt: skip
CONTACT_COLUMNS = ("id", "name", "email", "phone", "company", "job_title", "owner_id", "tags",
                   "category", "lead_id")  # fmt: skip
TRAILING_COLUMNS = ("created_at", "updated_at")


class DownloadStore(Protocol):
    def put(self, key: str, body: bytes, content_type: str = "text/csv") -> None: ...
    def download_url(self, key: str, expires_in: int, file_name: str) -> str: ...


@dataclass(frozen=True)
class Export:
    rows: int
    file_name: str
    csv: str | None = None  # the file itself, when small enough
    url: str | None = None  # else a link to it
    expires_in: int | None = None


def export_files_prefix(tenant_id: uuid.UUID) -> str:
    """Where a tenant's large exports are stored (an erasure deletes them all)."""
    return f"exports/{tenant_id}/"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = ";".join(str(v) for v in value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _records(
    uow: UnitOfWork, kind: RecordKind, filters: RecordFilters, sort: RecordSort
) -> Iterator[dict[str, Any]]:
    repository: Any = uow.leads if kind is RecordKind.LEAD else uow.contacts
    for page in repository.find_every(filters, sort):
        for record in page:
            yield record.to_dict()


def export_records(
    kind: RecordKind,
    context: RequestContext,
    filters: RecordFilters,
    sort: RecordSort,
    *,
    unit_of_work: UnitOfWorkFactory,
    files: DownloadStore,
    custom_filters: dict[str, str] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Export:
    principal = context.principal
    now = clock()
    file_name = f"{kind.plural}-{now:%Y%m%d-%H%M%S}.csv"
    with unit_of_work(principal.tenant_id) as uow:
        keys = [d.key for d in uow.custom_fields.for_entity(kind)]
        scoped = replace(
            filters,
            visible_to=visible_to(principal),
            custom_fields=custom_filter(uow, kind, custom_filters or {}),
        )
        columns = LEAD_COLUMNS if kind is RecordKind.LEAD else CONTACT_COLUMNS
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([*columns, *(f"cf.{key}" for key in keys), *TRAILING_COLUMNS])
        rows = 0
        for record in _records(uow, kind, scoped, sort):
            rows += 1
            if rows > MAX_ROWS:
                raise ValidationFailed(
                    f"more than {MAX_ROWS} {kind.plural} match: narrow the filters",
                    [{"loc": ["query"], "msg": "too many rows", "type": "value_error"}],
                )
            custom = record["custom_fields"]
            writer.writerow(
                [_cell(record[c]) for c in columns]
                + [_cell(custom.get(key)) for key in keys]
                + [_cell(record[c]) for c in TRAILING_COLUMNS]
            )
        record_change(
            uow, principal, f"{kind.value}.exported", entity_type=kind.value, entity_id="*",
            before=None, after={"rows": rows}, meta=context.meta,
        )  # fmt: skip
        uow.commit()
    text = out.getvalue()
    if rows <= INLINE_ROWS:
        return Export(rows, file_name, csv=text)
    key = f"{export_files_prefix(principal.tenant_id)}{uuid.uuid4()}.csv"
    files.put(key, text.encode())
    return Export(
        rows,
        file_name,
        url=files.download_url(key, LINK_SECONDS, file_name),
        expires_in=LINK_SECONDS,
    )
