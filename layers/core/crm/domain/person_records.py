"""What the lead and contact aggregates share: how they name themselves in events (subject
`<kind>s/<id>`, data `{<kind>: snapshot}`), which fields their audit rows keep, and the events
of an owner or tag change. A Lead or Contact is a dataclass that mixes PersonRecordBase in and
names its KIND and AUDITED fields."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from crm.domain.events import CloudEvent
from crm.domain.records import RecordKind, RecordSortField

# What the history and events of a change leave out: they move with every change.
BOOKKEEPING_FIELDS = frozenset({"version", "updated_at"})


def id_text(value: uuid.UUID | None) -> str | None:
    return str(value) if value else None


def iso_text(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class PersonRecordBase:
    """Methods of a lead or contact, from its snapshot (to_dict) and the class's names."""

    KIND: ClassVar[RecordKind]
    # Audit rows carry no personal data (GDPR erasure cannot reach the append-only audit log).
    AUDITED: ClassVar[tuple[str, ...]]

    id: uuid.UUID
    tenant_id: uuid.UUID

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def sort_value(self, sort: RecordSortField) -> Any:
        return getattr(self, sort.value)

    def audited(self) -> dict[str, Any]:
        body = self.to_dict()
        return {name: body[name] for name in self.AUDITED}

    def event(self, event_type: str, correlation_id: str | None, **extra: Any) -> CloudEvent:
        return CloudEvent(
            type=event_type,
            tenant_id=self.tenant_id,
            subject=f"{self.KIND.plural}/{self.id}",
            data={self.KIND.value: self.to_dict(), **extra},
            correlation_id=correlation_id,
        )


def owner_and_tag_events(
    record: PersonRecordBase, changes: dict[str, dict[str, Any]], correlation_id: str | None
) -> list[CloudEvent]:
    """crm.<kind>.assigned and crm.<kind>.tagged, for the fields a change touched."""
    prefix = f"crm.{record.KIND.value}"
    events = []
    if "owner_id" in changes:
        events.append(
            record.event(
                f"{prefix}.assigned",
                correlation_id,
                from_owner_id=changes["owner_id"]["old"],
                to_owner_id=changes["owner_id"]["new"],
            )
        )
    if "tags" in changes:
        old, new = changes["tags"]["old"] or [], changes["tags"]["new"] or []
        events.append(
            record.event(
                f"{prefix}.tagged",
                correlation_id,
                added=[tag for tag in new if tag not in old],
                removed=[tag for tag in old if tag not in new],
            )
        )
    return events
