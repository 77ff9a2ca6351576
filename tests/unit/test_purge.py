"""The purge's loop: batches until a short one, leads before contacts, and one tenant's
failure does not stop the others (its records wait for the next run)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from crm.services.purge import BATCH, purge_expired_records

NOW = datetime(2026, 11, 1, tzinfo=UTC)


class Directory:
    def __init__(self, tenants: list[uuid.UUID]) -> None:
        self.tenants = tenants
        self.asked: list[datetime] = []

    def tenants_with_deletions_before(self, before: datetime) -> list[uuid.UUID]:
        self.asked.append(before)
        return self.tenants


class Expired:
    """Records of one kind of one tenant, deleted before the cutoff, purged in batches."""

    def __init__(self, count: int, log: list[str], name: str) -> None:
        self.count, self.log, self.name = count, log, name

    def purge_deleted(self, before: datetime, limit: int) -> int:
        purged = min(limit, self.count)
        self.count -= purged
        self.log.append(f"{self.name}:{purged}")
        return purged


def test_each_tenant_is_purged_in_batches_and_a_failing_one_is_skipped() -> None:
    broken, big, small = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    log: list[str] = []
    stores = {
        big: SimpleNamespace(
            leads=Expired(BATCH + 3, log, "big-leads"), contacts=Expired(1, log, "big-contacts")
        ),
        small: SimpleNamespace(
            leads=Expired(0, log, "small-leads"), contacts=Expired(2, log, "small-contacts")
        ),
    }

    class Uow:
        def __init__(self, tenant_id: uuid.UUID) -> None:
            if tenant_id == broken:
                raise ConnectionError("this tenant's transaction fails")
            self.store = stores[tenant_id]

        def __enter__(self) -> Any:
            return SimpleNamespace(
                leads=self.store.leads, contacts=self.store.contacts, commit=lambda: None
            )

        def __exit__(self, *exc: object) -> None:
            return None

    directory = Directory([broken, big, small])
    outcome = purge_expired_records(directory, unit_of_work=Uow, now=NOW)
    assert outcome.as_dict() == {
        "tenants": 3,
        "leads": BATCH + 3,
        "contacts": 3,
        "failed_tenants": 1,
    }
    assert directory.asked == [NOW - timedelta(days=30)]
    assert log == [
        f"big-leads:{BATCH}",
        "big-leads:3",
        "big-contacts:1",
        "small-leads:0",
        "small-contacts:2",
    ]


def test_stalled_imports_are_started_again() -> None:
    from crm.services.imports import STALE_AFTER, resume_stalled_imports

    stalled = [(uuid.uuid4(), uuid.uuid4()), (uuid.uuid4(), uuid.uuid4())]
    asked: list[datetime] = []

    class Directory:
        def stalled_imports(self, before: datetime) -> list[tuple[uuid.UUID, uuid.UUID]]:
            asked.append(before)
            return stalled

    class Jobs:
        def __init__(self) -> None:
            self.started: list[dict[str, Any]] = []

        def start(self, payload: dict[str, Any]) -> None:
            self.started.append(payload)

    jobs = Jobs()
    assert resume_stalled_imports(Directory(), jobs, now=NOW) == 2
    assert asked == [NOW - STALE_AFTER]
    assert jobs.started == [{"tenant_id": str(t), "import_id": str(i)} for t, i in stalled]
