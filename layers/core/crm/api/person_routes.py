"""The routes leads and contacts share (read, patch, delete, restore, tags, history, notes,
timeline), written once for a record kind. Each function keeps its own route declarations
(path, `responses=`, `@contract`); its body is one call here:

    records = PersonRoutes(app, RecordKind.LEAD, _uow, get=get_lead, ...)

    @app.get("/leads/<lead_id>", responses=responses(200))
    def read_lead(lead_id: str) -> Response[dict[str, Any]]:
        return records.read(lead_id)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from crm.api.concurrency import if_match
from crm.api.context import path_uuid, principal
from crm.api.pagination import SortKind, decode_keyset, page_body
from crm.api.responses import json_response
from crm.api.writes import idempotency_key, record_response, request_context
from crm.domain.pagination import PageRequest
from crm.domain.records import HistoryEntry, RecordKind
from crm.domain.timeline import TimelineItem
from crm.services.timeline import add_note, timeline

if TYPE_CHECKING:  # crm.ports imports every domain module: not at cold start
    from crm.ports import UnitOfWorkFactory

Service = Callable[..., Any]


@dataclass(frozen=True)
class PersonRoutes:
    app: APIGatewayRestResolver
    kind: RecordKind
    unit_of_work: Callable[[], UnitOfWorkFactory]  # the function's pool, made on first use
    get: Service
    update: Service
    delete: Service
    restore: Service
    tag: Service
    history: Service

    @property
    def history_scope(self) -> str:
        return f"{self.kind.value}-history:changed_at:desc"

    @property
    def timeline_scope(self) -> str:
        return f"{self.kind.value}-timeline:at:desc"

    def _id(self, record_id: str) -> Any:
        return path_uuid(record_id, self.kind.value)

    def read(self, record_id: str) -> Response[dict[str, Any]]:
        record = self.get(
            self._id(record_id), principal(self.app), unit_of_work=self.unit_of_work()
        )
        return record_response(200, record)

    def patch(self, record_id: str, changes: dict[str, Any]) -> Response[dict[str, Any]]:
        record = self.update(
            self._id(record_id),
            changes,
            request_context(self.app),
            unit_of_work=self.unit_of_work(),
            precondition=if_match(self.app),
        )
        return record_response(200, record)

    def remove(self, record_id: str) -> Response[None]:
        self.delete(
            self._id(record_id),
            request_context(self.app),
            unit_of_work=self.unit_of_work(),
            precondition=if_match(self.app),
        )
        return Response(status_code=204, body=None)

    def restored(self, record_id: str) -> Response[dict[str, Any]]:
        record, replayed = self.restore(
            self._id(record_id),
            request_context(self.app),
            unit_of_work=self.unit_of_work(),
            idempotency_key=idempotency_key(self.app),
        )
        return record_response(200, record, replayed=replayed)

    def tagged(self, record_id: str, tag: str, *, add: bool) -> Response[dict[str, Any]]:
        record = self.tag(
            self._id(record_id),
            tag,
            request_context(self.app),
            add=add,
            unit_of_work=self.unit_of_work(),
            precondition=if_match(self.app),
        )
        return record_response(200, record)

    def history_page(self, record_id: str, limit: int, cursor: str | None) -> Response[Any]:
        page = self.history(
            self._id(record_id),
            principal(self.app),
            PageRequest(limit, decode_keyset(cursor, self.history_scope, SortKind.DATETIME)),
            unit_of_work=self.unit_of_work(),
        )
        body = page_body(page, HistoryEntry.to_dict, self.history_scope, SortKind.DATETIME)
        return json_response(200, body)

    def note(self, record_id: str, text: str) -> Response[dict[str, Any]]:
        note, replayed = add_note(
            self.kind,
            self._id(record_id),
            text,
            request_context(self.app),
            unit_of_work=self.unit_of_work(),
            idempotency_key=idempotency_key(self.app),
        )
        headers = {"Location": f"/{self.kind.value}s/{record_id}/timeline"}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return json_response(201, note, **headers)

    def timeline_page(self, record_id: str, limit: int, cursor: str | None) -> Response[Any]:
        page = timeline(
            self.kind,
            self._id(record_id),
            principal(self.app),
            PageRequest(limit, decode_keyset(cursor, self.timeline_scope, SortKind.DATETIME)),
            unit_of_work=self.unit_of_work(),
        )
        body = page_body(page, TimelineItem.to_dict, self.timeline_scope, SortKind.DATETIME)
        return json_response(200, body)
