"""CloudEvents 1.0 envelopes for domain events (JSON structured mode).

Extension attributes: `tenantid`, `correlationid`, `causationid`, `chaindepth` (how many
automation runs led to this event: absent (0) for an event a person or an integration caused,
the trigger's depth + 1 for an event an automation's action caused; the automation router
stops a chain deeper than the tenant allows), and `aggregatesequence`:
the event's position among the events of its aggregate (its `subject`), 1, 2, 3, ... assigned
by the outbox in the transaction that wrote the event. It is absent until the event is in the
outbox. (Not the CloudEvents "sequence" extension: that one is a lexically ordered string.)
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SOURCE = "crm"


@dataclass(frozen=True)
class CloudEvent:
    type: str
    tenant_id: uuid.UUID
    subject: str
    data: dict[str, Any]
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    correlation_id: str | None = None
    causation_id: str | None = None
    sequence: int | None = None
    chain_depth: int = 0

    @property
    def routing_key(self) -> str:
        return self.type

    def to_dict(self) -> dict[str, Any]:
        envelope: dict[str, Any] = {
            "specversion": "1.0",
            "id": str(self.id),
            "source": SOURCE,
            "type": self.type,
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "subject": self.subject,
            "datacontenttype": "application/json",
            "data": self.data,
            "tenantid": str(self.tenant_id),
        }
        if self.correlation_id:
            envelope["correlationid"] = self.correlation_id
        if self.causation_id:
            envelope["causationid"] = self.causation_id
        if self.sequence is not None:
            envelope["aggregatesequence"] = self.sequence
        if self.chain_depth:
            envelope["chaindepth"] = self.chain_depth
        return envelope

    def caused(self, event: CloudEvent) -> CloudEvent:
        """`event`, written by an action of a run this event triggered: one level deeper in
        the chain, caused by this event (unless it names its cause already)."""
        return dataclasses.replace(
            event,
            chain_depth=self.chain_depth + 1,
            causation_id=event.causation_id or str(self.id),
        )

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":"), default=str).encode()

    @classmethod
    def from_dict(cls, envelope: dict[str, Any]) -> CloudEvent:
        missing = [k for k in ("id", "type", "tenantid", "data") if k not in envelope]
        if missing or envelope.get("specversion") != "1.0":
            raise ValueError(f"not a CRM CloudEvent (missing {missing or 'specversion 1.0'})")
        return cls(
            id=uuid.UUID(envelope["id"]),
            type=envelope["type"],
            tenant_id=uuid.UUID(envelope["tenantid"]),
            subject=envelope.get("subject", ""),
            data=envelope["data"],
            time=datetime.fromisoformat(envelope["time"].replace("Z", "+00:00")),
            correlation_id=envelope.get("correlationid"),
            causation_id=envelope.get("causationid"),
            sequence=envelope.get("aggregatesequence"),
            chain_depth=_depth(envelope.get("chaindepth")),
        )

    @classmethod
    def from_json(cls, body: bytes | str) -> CloudEvent:
        return cls.from_dict(json.loads(body))


def _depth(value: Any) -> int:
    """The `chaindepth` extension as an int; a malformed one counts as 0 (CloudEvents
    transports may carry extensions as strings)."""
    try:
        depth = int(value) if value is not None else 0
    except (TypeError, ValueError):
        return 0
    return max(depth, 0)
