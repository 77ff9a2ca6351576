"""In-memory fakes of the event backbone's ports: the processed-events ledger, dead letters,
the failed-message publisher and the redriver. Wired into FakeUnitOfWork by fakes.py."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from crm.domain.dead_letters import DeadLetter, DeadLetterStatus, RedriveSelection
from crm.domain.messaging import FailureRecord, InboundMessage
from crm.domain.pagination import Keyset, Page, PageRequest

if TYPE_CHECKING:
    from tests.unit.fakes import FakeStore


class FakeProcessedEvents:
    def __init__(self, staged: FakeStore, tenant_id: uuid.UUID) -> None:
        self._s, self._t = staged, tenant_id

    def claim(self, consumer: str, event_id: uuid.UUID) -> bool:
        key = (self._t, consumer, event_id)
        if key in self._s.processed:
            self._s.processed[key] += 1
            return False
        self._s.processed[key] = 0
        return True

    def handled(self, consumer: str, event_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        return {i for i in event_ids if (self._t, consumer, i) in self._s.processed}

    def record(self, consumer: str, deliveries: Mapping[uuid.UUID, int]) -> set[uuid.UUID]:
        recorded = set()
        for event_id, count in deliveries.items():
            key = (self._t, consumer, event_id)
            if key in self._s.processed:
                self._s.processed[key] += count
            else:
                self._s.processed[key] = count - 1
                recorded.add(event_id)
        return recorded


class FakeDeadLetters:
    def __init__(self, staged: FakeStore, tenant_id: uuid.UUID) -> None:
        self._s, self._t = staged, tenant_id

    def _mine(self) -> list[DeadLetter]:
        return [d for d in self._s.dead_letters.values() if d.tenant_id == self._t]

    def add(self, letter: DeadLetter) -> bool:
        for existing in self._mine():
            if (existing.consumer, existing.event_id, existing.status) == (
                letter.consumer, letter.event_id, DeadLetterStatus.DEAD,
            ):  # fmt: skip
                self._s.dead_letters[existing.id] = dataclasses.replace(
                    existing, error=letter.error, attempts=max(existing.attempts, letter.attempts)
                )
                return False
        self._s.dead_letters[letter.id] = dataclasses.replace(
            letter, dead_lettered_at=datetime.now(UTC)
        )
        return True

    def get(self, letter_id: uuid.UUID) -> DeadLetter | None:
        found = self._s.dead_letters.get(letter_id)
        return found if found and found.tenant_id == self._t else None

    def _matching(self, status: DeadLetterStatus, consumer: str | None,
                  event_type: str | None) -> list[DeadLetter]:  # fmt: skip
        return [
            d
            for d in self._mine()
            if d.status is status
            and (consumer is None or d.consumer == consumer)
            and (event_type is None or d.event_type == event_type)
        ]

    def page(self, *, status: DeadLetterStatus, consumer: str | None, event_type: str | None,
             page: PageRequest) -> Page[DeadLetter]:  # fmt: skip
        ordered = sorted(
            self._matching(status, consumer, event_type),
            key=lambda d: (d.dead_lettered_at, str(d.id)),
            reverse=True,
        )
        if page.after is not None:
            after = (page.after.value, str(page.after.id))
            ordered = [d for d in ordered if (d.dead_lettered_at, str(d.id)) < after]
        return Page.from_rows(ordered[: page.limit + 1], page.limit,
                              lambda d: Keyset(d.dead_lettered_at, d.id))  # fmt: skip

    def lock_for_redrive(self, selection: RedriveSelection, limit: int) -> list[DeadLetter]:
        if selection.ids is not None:
            return [d for d in self._matching(DeadLetterStatus.DEAD, None, None)
                    if d.id in selection.ids]  # fmt: skip
        found = self._matching(DeadLetterStatus.DEAD, selection.consumer, selection.event_type)
        return sorted(found, key=lambda d: (d.dead_lettered_at, str(d.id)))[:limit]

    def count_open(self, selection: RedriveSelection) -> int:
        return len(self._matching(DeadLetterStatus.DEAD, selection.consumer, selection.event_type))

    def statuses(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, DeadLetterStatus]:
        return {d.id: d.status for d in self._mine() if d.id in ids}

    def mark_redriven(self, ids: list[uuid.UUID], by: uuid.UUID | None) -> None:
        for letter_id in ids:
            letter = self._s.dead_letters[letter_id]
            self._s.dead_letters[letter_id] = dataclasses.replace(
                letter, status=DeadLetterStatus.REDRIVEN, redriven_at=datetime.now(UTC),
                redriven_by=by,
            )  # fmt: skip

    def delete(self, letter_id: uuid.UUID) -> None:
        del self._s.dead_letters[letter_id]


class FakeFailedMessages:
    """Records what a consumer republished; `broken` makes every publish fail like a broker
    that is down."""

    def __init__(self, broken: bool = False) -> None:
        self.retried: list[tuple[InboundMessage, FailureRecord, float]] = []
        self.dead: list[tuple[InboundMessage, FailureRecord]] = []
        self.broken = broken

    def retry(self, message: InboundMessage, failure: FailureRecord, delay_seconds: float) -> None:
        if self.broken:
            raise ConnectionError("broker unreachable")
        self.retried.append((message, failure, delay_seconds))

    def dead_letter(self, message: InboundMessage, failure: FailureRecord) -> None:
        if self.broken:
            raise ConnectionError("broker unreachable")
        self.dead.append((message, failure))


class FakeRedriver:
    def __init__(self, broken: bool = False) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []
        self.broken = broken

    def redrive(self, deliveries: Sequence[tuple[str, dict[str, Any]]]) -> None:
        if self.broken:
            raise ConnectionError("broker unreachable")
        self.published.extend(deliveries)
