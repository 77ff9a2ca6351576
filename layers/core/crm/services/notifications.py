"""In-app notifications: produced from events (a lead, contact or task assigned to you), from
the due-soon task reminder and from dead letters (owners and admins); read by their user
(GET /notifications, mark read, read all) and filtered by each user's muted kinds.

Producing one is idempotent (a user gets one notification per kind and source: an event
delivered twice notifies once) and writes a crm.notification.created event in the same
transaction, which the realtime notifier pushes to that user's WebSocket connections only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, cast

from crm.domain.errors import NotFound, ValidationFailed
from crm.domain.events import CloudEvent
from crm.domain.notifications import NOTIFICATION_CREATED, NOTIFICATION_KINDS, Notification
from crm.domain.pagination import Keyset, Page, PageRequest
from crm.domain.tenants import Principal
from crm.observability import logger
from crm.ports import TransactionScope, UnitOfWork, UnitOfWorkFactory
from crm.ports.notifications import NotificationsUnitOfWork
from crm.ports.tasks import TasksUnitOfWork

REMINDER_WINDOW = timedelta(minutes=15)  # a task due within this is "due soon"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _n(uow: Any) -> NotificationsUnitOfWork:
    return cast(NotificationsUnitOfWork, uow)


def notify(
    uow: TransactionScope,
    user_ids: Iterable[uuid.UUID | None],
    *,
    kind: str,
    title: str,
    source_key: str,
    link: str | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
) -> list[Notification]:
    """Notify each active user who has not muted `kind`, once per (user, kind, source);
    the caller commits. Returns the notifications created now."""
    repo = _n(uow).notifications
    wanted = [u for u in dict.fromkeys(user_ids) if u is not None and repo.is_active_user(u)]
    muted = repo.muted_kinds(wanted)
    created = []
    for user_id in wanted:
        if kind in muted.get(user_id, frozenset()):
            continue
        notification = Notification(
            tenant_id=_n(uow).tenant_id, user_id=user_id, kind=kind, title=title[:300],
            source_key=source_key, link=link,
        )  # fmt: skip
        if not repo.add(notification):
            continue
        created.append(notification)
        uow.add_event(
            CloudEvent(
                type=NOTIFICATION_CREATED,
                tenant_id=notification.tenant_id,
                subject=f"notifications/{notification.id}",
                data={
                    "id": str(notification.id),
                    "user_id": str(user_id),
                    "kind": kind,
                    "link": link,
                },
                correlation_id=correlation_id,
                causation_id=causation_id,
            )
        )
    return created


# ------------------------------------------------------------------ from events


def notify_for_event(event: CloudEvent, uow: UnitOfWork) -> list[Notification]:
    """The notifications an event causes (the notification consumer's effect)."""
    data = event.data
    common: dict[str, Any] = {"source_key": str(event.id),
                              "correlation_id": event.correlation_id,
                              "causation_id": str(event.id)}  # fmt: skip
    if event.type in ("crm.lead.assigned", "crm.contact.assigned"):
        kind = "lead" if event.type == "crm.lead.assigned" else "contact"
        record = data.get(kind) or {}
        to = _uuid(data.get("to_owner_id"))
        name = str(record.get("name") or "")
        return notify(uow, [to], kind="record_assigned", title=f"A {kind} was assigned to you: "
                      f"{name}", link=f"{kind}s/{record.get('id')}", **common)  # fmt: skip
    if event.type in ("crm.task.created", "crm.task.assigned"):
        task = cast(TasksUnitOfWork, uow).tasks.get(uuid.UUID(str(data["id"])))
        if task is None or task.assignee_id is None:
            return []
        if event.type == "crm.task.created" and task.assignee_id == task.created_by:
            return []  # your own task: nothing to tell you
        return notify(uow, [task.assignee_id], kind="task_assigned",
                      title=f"A task was assigned to you: {task.title}",
                      link=f"tasks/{task.id}", **common)  # fmt: skip
    return []


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


# ------------------------------------------------------------------ reminders and dead letters


def remind_due_tasks(
    tenant_id: uuid.UUID,
    *,
    unit_of_work: UnitOfWorkFactory,
    window: timedelta = REMINDER_WINDOW,
    clock: Callable[[], datetime] = _utcnow,
    limit: int = 500,
) -> int:
    """Notify the assignees of the tenant's open tasks due within `window` (or overdue) that
    were not reminded yet, once per task and due moment (a new due_at re-arms it)."""
    now = clock()
    with unit_of_work(tenant_id) as uow:
        tasks = cast(TasksUnitOfWork, uow).tasks
        due = tasks.due_unreminded(now + window, limit)
        for task in due:
            notify(uow, [task.assignee_id], kind="task_due", title=f"Task due soon: {task.title}",
                   link=f"tasks/{task.id}",
                   source_key=f"{task.id}:{task.due_at.isoformat() if task.due_at else ''}")  # fmt: skip
        tasks.mark_reminded([task.id for task in due], now)
        uow.commit()
    return len(due)


class DueTasksDirectory(Protocol):
    def tenants_with_tasks_due_before(self, before: datetime) -> list[uuid.UUID]: ...


def remind_all_due_tasks(
    directory: DueTasksDirectory,
    *,
    unit_of_work: UnitOfWorkFactory,
    window: timedelta = REMINDER_WINDOW,
    clock: Callable[[], datetime] = _utcnow,
) -> int:
    """remind_due_tasks for every tenant that has tasks due soon (the schedule's run); a
    tenant that fails is logged and tried again on the next run."""
    reminded = 0
    for tenant_id in directory.tenants_with_tasks_due_before(clock() + window):
        try:
            reminded += remind_due_tasks(
                tenant_id, unit_of_work=unit_of_work, window=window, clock=clock
            )
        except Exception:
            logger.exception("task reminders failed", extra={"tenant_id": str(tenant_id)})
    return reminded


def notify_dead_letter(
    uow: TransactionScope, letter_id: uuid.UUID, consumer: str, event_type: str
) -> None:
    """Owners and admins hear of a dead letter (in the transaction that stores it)."""
    notify(
        uow,
        _n(uow).notifications.administrators(),
        kind="dead_letter",
        title=f"An event could not be processed by {consumer}: {event_type}",
        link=f"admin/dead-letters/{letter_id}",
        source_key=str(letter_id),
    )


# ------------------------------------------------------------------ the API


def list_notifications(
    principal: Principal,
    page: PageRequest,
    *,
    unread_only: bool,
    unit_of_work: UnitOfWorkFactory,
) -> tuple[Page[Notification], int]:
    """The caller's notifications, newest first, and how many are unread."""
    with unit_of_work(principal.tenant_id) as uow:
        repo = _n(uow).notifications
        rows = repo.page(principal.user_id, unread_only, page.limit + 1, page.after)
        unread = repo.unread_count(principal.user_id)
    return Page.from_rows(rows, page.limit, lambda n: Keyset(n.created_at, n.id)), unread


def mark_read(
    notification_id: uuid.UUID, principal: Principal, *, unit_of_work: UnitOfWorkFactory
) -> None:
    with unit_of_work(principal.tenant_id) as uow:
        if not _n(uow).notifications.mark_read(principal.user_id, notification_id, _utcnow()):
            raise NotFound(f"notification {notification_id} not found")
        uow.commit()


def mark_all_read(principal: Principal, *, unit_of_work: UnitOfWorkFactory) -> int:
    with unit_of_work(principal.tenant_id) as uow:
        count = _n(uow).notifications.mark_all_read(principal.user_id, _utcnow())
        uow.commit()
    return count


def preferences(principal: Principal, *, unit_of_work: UnitOfWorkFactory) -> dict[str, Any]:
    with unit_of_work(principal.tenant_id) as uow:
        muted = _n(uow).notifications.muted_kinds([principal.user_id]).get(principal.user_id)
    return _preferences_body(muted or frozenset())


def set_preferences(
    muted: list[str], principal: Principal, *, unit_of_work: UnitOfWorkFactory
) -> dict[str, Any]:
    unknown = sorted(set(muted) - set(NOTIFICATION_KINDS))
    if unknown:
        raise ValidationFailed(
            "unknown notification kind",
            [{"loc": ["body", "muted"], "type": "value_error",
              "msg": f"unknown {', '.join(unknown)}; kinds: {', '.join(NOTIFICATION_KINDS)}"}],
        )  # fmt: skip
    with unit_of_work(principal.tenant_id) as uow:
        _n(uow).notifications.set_muted_kinds(principal.user_id, sorted(set(muted)))
        uow.commit()
    return _preferences_body(frozenset(muted))


def _preferences_body(muted: frozenset[str]) -> dict[str, Any]:
    return {
        "kinds": [{"kind": kind, "enabled": kind not in muted} for kind in NOTIFICATION_KINDS],
        "muted": sorted(muted),
    }
