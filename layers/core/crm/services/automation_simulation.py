"""POST /automations/{id}/simulate: the path a run would take for one event, without a run.

Conditions go through crm.automation.evaluator (the Choice rules of the compiler, mirrored
and checked against them on moto). Record actions (add_tag, move_stage, send_email) run
through the very code automation_step runs (crm.services.automation_actions), with the
automation as the actor, inside a unit of work that is never committed: the tag rules, the
stage rules and the e-mail quota refuse exactly as they would, and the rollback discards every
row they wrote (records, history, audit, outbox, usage counters). Mail goes to a mailer that
only keeps the rendered message; webhooks are described, never called. So nothing is written,
no execution starts, no mail is sent and no HTTP request leaves.

A refused action ends the path (in a run its Task fails and the run stops there), unless its
`on_error` is `continue`: then it is marked `continued` and the path goes on.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from crm.automation.evaluator import evaluate
from crm.automation.model import (
    ActionStep,
    ConditionStep,
    DelayStep,
    DelayUntilStep,
    SendEmailAction,
    SendSmsAction,
    Step,
    SwitchStep,
    WebhookAction,
    Workflow,
)
from crm.domain.audit import RequestMeta
from crm.domain.automation_actions import ActionFailed, AutomationPrincipal
from crm.domain.errors import Conflict, Forbidden, NotFound, PlanLimitExceeded, ValidationFailed
from crm.domain.events import CloudEvent
from crm.domain.tenants import Principal
from crm.ports import UnitOfWork, UnitOfWorkFactory
from crm.services import automation_actions, person_records
from crm.services.contacts import CONTACTS
from crm.services.deals import get_deal
from crm.services.leads import LEADS
from crm.services.request_context import RequestContext

RecordKind = Literal["lead", "contact", "deal"]
_PLURAL: dict[str, str] = {"lead": "leads", "contact": "contacts", "deal": "deals"}
# The same refusals execute_step turns into a failed step.
REFUSALS = (ActionFailed, NotFound, ValidationFailed, PlanLimitExceeded, Conflict, Forbidden)


@dataclass(frozen=True)
class SimulatedEvent:
    type: str
    data: dict[str, Any]
    subject: str = ""


@dataclass(frozen=True)
class RecordRef:
    kind: RecordKind
    id: uuid.UUID


@dataclass
class _CapturingSms:
    """Keeps the rendered text message instead of sending it."""

    sent: list[dict[str, str]] = field(default_factory=list)

    def send(self, phone_number: str, message: str) -> str:
        self.sent.append({"to": phone_number, "message": message})
        return "simulated"


@dataclass
class _CapturingMailer:
    """Keeps the rendered message instead of sending it."""

    sent: list[dict[str, str]] = field(default_factory=list)

    def send(self, to: str, subject: str, text: str, html: str | None = None) -> str:
        self.sent.append({"to": to, "subject": subject, "body": text})
        return "simulated"


def simulate_automation(
    automation_id: uuid.UUID,
    principal: Principal,
    *,
    event: SimulatedEvent | None = None,
    record: RecordRef | None = None,
    unit_of_work: UnitOfWorkFactory,
    now: datetime | None = None,
) -> dict[str, Any]:
    if (event is None) == (record is None):
        raise ValueError("exactly one of event and record")
    with unit_of_work(principal.tenant_id) as uow:
        found = uow.automations.get(automation_id)
    if found is None:
        raise NotFound(f"automation {automation_id} not found")
    workflow = Workflow.model_validate(found["definition"])
    if record is not None:
        event = event_from_record(record, workflow, principal, unit_of_work=unit_of_work)
    assert event is not None
    cloud_event = CloudEvent(
        type=event.type,
        tenant_id=principal.tenant_id,
        subject=event.subject,
        # What the run would see: the event as serialised into the execution input.
        data=json.loads(json.dumps(event.data, default=str)),
    )
    with unit_of_work(principal.tenant_id) as uow:
        # Never committed: the dry-run effects of the actions roll back on exit.
        path = build_path(
            workflow,
            cloud_event,
            automation_id,
            uow=uow,
            now=now or datetime.now(UTC),
        )
    return {
        "automation_id": str(automation_id),
        "version": found["version"],
        "trigger": {"event": workflow.trigger.event},
        "matched": workflow.trigger.event == cloud_event.type,
        "event": {
            "type": cloud_event.type,
            "subject": cloud_event.subject,
            "data": cloud_event.data,
        },
        "path": path,
        "completed": not path or path[-1].get("outcome", {}).get("refused") is not True,
    }


def event_from_record(
    record: RecordRef,
    workflow: Workflow,
    principal: Principal,
    *,
    unit_of_work: UnitOfWorkFactory,
) -> SimulatedEvent:
    """The event a change of the stored record would publish: `{<kind>: record}` as data, the
    trigger's type when the trigger is about this kind of record, else crm.<kind>.created.
    Read as the caller: another seller's lead is 404, as when reading it."""
    if record.kind == "deal":
        body = get_deal(record.id, principal, unit_of_work=unit_of_work)
    else:
        spec: Any = LEADS if record.kind == "lead" else CONTACTS
        body = person_records.get(spec, record.id, principal, unit_of_work=unit_of_work)
    trigger = workflow.trigger.event
    event_type = trigger if trigger.split(".")[1] == record.kind else f"crm.{record.kind}.created"
    return SimulatedEvent(
        type=event_type,
        data={record.kind: body},
        subject=f"{_PLURAL[record.kind]}/{record.id}",
    )


def build_path(
    workflow: Workflow,
    event: CloudEvent,
    automation_id: uuid.UUID,
    *,
    uow: UnitOfWork,
    now: datetime,
) -> list[dict[str, Any]]:
    """The steps in the order a run would take them, each with its outcome."""
    context = RequestContext(
        principal=AutomationPrincipal.of(event.tenant_id, automation_id),
        correlation_id=str(event.id),
        meta=RequestMeta(request_id=f"automation-simulation:{automation_id}"),
    )
    walker = _Walker(event, context, uow, now)
    walker.steps(workflow.steps)
    return walker.path


class _Stop(Exception):
    """A refused action: the run would fail at this step."""


class _Walker:
    def __init__(
        self, event: CloudEvent, context: RequestContext, uow: UnitOfWork, now: datetime
    ) -> None:
        self.event = event
        self.context = context
        self.uow = uow
        self.clock = now
        self.mailer = _CapturingMailer()
        self.sms = _CapturingSms()
        self.path: list[dict[str, Any]] = []

    def steps(self, steps: tuple[Step, ...]) -> None:
        with contextlib.suppress(_Stop):  # the path ends at the refused action
            self._steps(steps)

    def _steps(self, steps: tuple[Step, ...]) -> None:
        for step in steps:
            if isinstance(step, ConditionStep):
                outcome = evaluate(step.when, self.event.data)
                branch = "then" if outcome.result else "else"
                self.path.append(
                    {
                        "id": step.id,
                        "type": step.type,
                        "outcome": {
                            "result": outcome.result,
                            "branch": branch,
                            "clauses": [clause.to_dict() for clause in outcome.clauses],
                        },
                    }
                )
                self._steps(step.then if outcome.result else step.else_)
            elif isinstance(step, SwitchStep):
                self._switch(step)
            elif isinstance(step, DelayStep):
                self.clock += timedelta(seconds=step.seconds)
                self.path.append(
                    {
                        "id": step.id,
                        "type": step.type,
                        "outcome": {"seconds": step.seconds, "wakes_at": self.clock.isoformat()},
                    }
                )
            elif isinstance(step, DelayUntilStep):
                self.path.append(
                    {"id": step.id, "type": step.type, "outcome": {"until": step.until()}}
                )
            else:
                self.path.append({"id": step.id, "type": step.type, "outcome": self._action(step)})
                outcome = self.path[-1]["outcome"]
                if outcome["refused"]:
                    if step.action.on_error == "continue":
                        outcome["continued"] = True  # the run would go on past it
                    else:
                        raise _Stop

    def _switch(self, step: SwitchStep) -> None:
        """The first case that holds (every case up to it is shown with its clauses)."""
        cases = []
        chosen: tuple[str, tuple[Step, ...]] = ("default", step.default)
        for index, case in enumerate(step.cases):
            outcome = evaluate(case.when, self.event.data)
            cases.append(
                {
                    "case": index,
                    "result": outcome.result,
                    "clauses": [clause.to_dict() for clause in outcome.clauses],
                }
            )
            if outcome.result:
                chosen = (str(index), case.steps)
                break
        self.path.append(
            {"id": step.id, "type": step.type, "outcome": {"branch": chosen[0], "cases": cases}}
        )
        self._steps(chosen[1])

    def _action(self, step: ActionStep) -> dict[str, Any]:
        action = step.action
        # on_error shows only when it is not the default.
        config = action.model_dump(
            mode="json",
            exclude_none=True,
            exclude={"on_error"} if action.on_error == "fail" else None,
        )
        if isinstance(action, WebhookAction):
            # Described only: the body is what automation_step would POST. Secret headers
            # show as {"secret": true}.
            return {
                "kind": action.kind,
                "config": action.public_dump(),
                "url": action.url,
                "refused": False,
            }
        try:
            result = self._record_action(step)
        except REFUSALS as error:
            return {
                "kind": action.kind,
                "config": config,
                "refused": True,
                "reason": f"{action.kind}: {describe(error)}",
            }
        return {"kind": action.kind, "config": config, "refused": False, "would": result}

    def _record_action(self, step: ActionStep) -> dict[str, Any]:
        action = step.action
        effects = automation_actions.ActionEffects(mailer=self.mailer, sms=self.sms)
        result = automation_actions.perform(
            self.uow, action, self.event, self.context, step_id=step.id, effects=effects
        )
        if isinstance(action, SendEmailAction):
            return {"kind": result["kind"], **self.mailer.sent[-1]}
        if isinstance(action, SendSmsAction):
            return {"kind": result["kind"], **self.sms.sent[-1]}
        return result


def describe(error: Exception) -> str:
    """The error and its per-field problems, as a failed step's error reads."""
    details = [
        f"{'.'.join(str(part) for part in item.get('loc', [])[1:])}: {item.get('msg')}"
        for item in getattr(error, "extra", {}).get("errors", [])
    ]
    return "; ".join([str(error), *details])
