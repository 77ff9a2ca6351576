"""Path building of the simulation: branches, delays' wake-up times, rendered mail, described
webhooks, refusals ending the path (record actions use the runtime's action code; the quota
check goes through a stub usage counter here, the real one in the e2e test)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from crm.automation.model import Workflow
from crm.domain.events import CloudEvent
from crm.services.automation_simulation import build_path

NOW = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)
TENANT = uuid.uuid4()


class _Usage:
    def __init__(self, allowed: bool) -> None:
        self.allowed = allowed
        self.calls: list[Any] = []

    def consume(self, metric: Any, amount: int) -> tuple[bool, int, int | None, Any, Any]:
        self.calls.append((metric, amount))
        return (True, 1, 100, "free", None) if self.allowed else (False, 100, 100, "free", None)


class _Uow:
    def __init__(self, allowed: bool = True) -> None:
        self.usage = _Usage(allowed)


def _workflow(steps: list[dict[str, Any]]) -> Workflow:
    return Workflow.model_validate({"trigger": {"event": "crm.lead.created"}, "steps": steps})


def _event(data: dict[str, Any], subject: str = "") -> CloudEvent:
    return CloudEvent(type="crm.lead.created", tenant_id=TENANT, subject=subject, data=data)


MAIL = {
    "kind": "send_email",
    "to": "{{lead.email}}",
    "subject": "Hi {{lead.name}}",
    "body": "Score {{lead.score}}",
}
STEPS = [
    {"id": "first", "type": "delay", "seconds": 60},
    {
        "id": "hot",
        "type": "condition",
        "when": {"all": [{"field": "lead.score", "op": "gte", "value": 50}]},
        "then": [
            {"id": "later", "type": "delay", "seconds": 3600},
            {"id": "mail", "type": "action", "action": MAIL},
        ],
        "else": [
            {
                "id": "hook",
                "type": "action",
                "action": {"kind": "webhook", "url": "https://h.example/x"},
            }
        ],
    },
    {"id": "tag", "type": "action", "action": {"kind": "add_tag", "tag": "seen"}},
    {"id": "after", "type": "delay", "seconds": 5},
]


def _path(data: dict[str, Any], uow: Any = None, subject: str = "") -> list[dict[str, Any]]:
    return build_path(
        _workflow(STEPS), _event(data, subject), uuid.uuid4(), uow=uow or _Uow(), now=NOW
    )


def test_the_then_branch_with_cumulative_wake_up_times_and_the_rendered_mail() -> None:
    uow = _Uow()
    path = _path({"lead": {"score": 72, "email": "a@b.io", "name": "Ana"}}, uow)

    assert [step["id"] for step in path] == ["first", "hot", "later", "mail", "tag"]
    assert path[0]["outcome"] == {"seconds": 60, "wakes_at": "2026-11-29T00:01:00+00:00"}
    assert path[1]["outcome"]["branch"] == "then"
    assert path[2]["outcome"]["wakes_at"] == "2026-11-29T01:01:00+00:00"
    assert path[3]["outcome"]["would"] == {
        "kind": "send_email",
        "to": "a@b.io",
        "subject": "Hi Ana",
        "body": "Score 72",
    }
    assert len(uow.usage.calls) == 1
    # The event has no lead subject: add_tag is refused as automation_step would refuse it,
    # and the run would stop there.
    assert path[4]["outcome"]["refused"] is True
    assert "add_tag needs a lead or contact event" in path[4]["outcome"]["reason"]


def test_the_else_branch_describes_the_webhook_and_a_missing_field_is_shown_absent() -> None:
    path = _path({"lead": {}}, subject="nothing")

    assert [step["id"] for step in path] == ["first", "hot", "hook", "tag"]
    assert path[1]["outcome"]["clauses"] == [
        {"field": "lead.score", "op": "gte", "value": 50, "present": False, "actual": None,
         "result": False}
    ]  # fmt: skip
    assert path[2]["outcome"]["url"] == "https://h.example/x"
    assert path[2]["outcome"]["refused"] is False


def test_a_spent_email_quota_or_an_unrenderable_placeholder_refuses_the_mail() -> None:
    spent = _path({"lead": {"score": 90, "email": "a@b.io", "name": "Ana"}}, _Uow(allowed=False))
    missing = _path({"lead": {"score": 90, "name": "Ana"}})

    assert [step["id"] for step in spent][-1] == "mail"
    assert spent[-1]["outcome"]["refused"] is True
    assert "the free plan allows 100 emails per day" in spent[-1]["outcome"]["reason"]
    assert missing[-1]["outcome"]["refused"] is True
    assert "{{lead.email}}" in missing[-1]["outcome"]["reason"]
