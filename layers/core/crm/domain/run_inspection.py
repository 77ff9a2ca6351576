"""An automation run, step by step: the workflow version's steps mapped onto its Step Functions
execution history (GetExecutionHistory events) and the action ledger (action_executions).

The compiler names states after step ids (`Condition_<id>`, `Delay_<id>`, `Action_<id>`, and
`Failed_<id>` for the Pass state an action's Catch leads to), so each step is found in the
history by its state name. Per step:

- state: `not_reached` (not entered yet, or the run ended before it), `running` (entered, not
  left, the execution still running: a delay waiting, an action being tried or retried),
  `succeeded`, `failed` (an action whose Catch led to its Failed_ state, or a step the
  execution stopped in), `skipped` (in the branch a condition did not take).
- a condition's outcome is read from the state entered right after the Choice: the first
  state of its `then` branch means true, of its `else` branch false. When both branches start
  at the same state (both empty) the history cannot tell, and the outcome is null.
- a delay's wake-up time is its entry time plus its seconds.
- an action's result is its ledger row (e.g. `{"kind": "webhook", "status": 204}`); its error
  is the last failed attempt's (the ledger row of a failed attempt rolls back with it). Its
  `on_error` is shown, and `continued` is true when it failed and the run went on past it
  (`on_error: continue`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from crm.automation.compiler import (
    DONE_STATE,
    entry_state_name,
    failed_state_name,
    state_name,
)
from crm.automation.model import (
    ActionStep,
    ConditionStep,
    DelayStep,
    Step,
    SwitchStep,
    Workflow,
)
from crm.domain.pagination import Keyset

RunStatus = Literal[
    "running",
    "succeeded",
    "failed",
    "timed_out",
    "aborted",
    "pending_redrive",
    "skipped",
    "cancelled",
    "exited",
]
# skipped: the router recorded the run without starting it (its trigger event came through a
# chain of automations deeper than allowed, or past the plan's runs); it has no execution.
RUN_STATUSES: Final[tuple[RunStatus, ...]] = (
    "running",
    "succeeded",
    "failed",
    "timed_out",
    "aborted",
    "pending_redrive",
    "skipped",
    "cancelled",
    "exited",
)
# Outcomes the product records itself (Step Functions would say SUCCEEDED or ABORTED): a run
# skipped before it started, cancelled by a person or by archiving, ended by the exit condition.
RECORDED_OUTCOMES: Final = frozenset({"skipped", "cancelled", "exited"})
StepState = Literal["not_reached", "running", "succeeded", "failed", "skipped"]


def run_status(execution_status: str) -> RunStatus:
    """Step Functions' execution status (RUNNING, SUCCEEDED, ...) as a run status."""
    status = execution_status.lower()
    for known in RUN_STATUSES:
        if known == status:
            return known
    raise ValueError(f"unknown execution status {execution_status!r}")


@dataclass(frozen=True)
class ExecutionInfo:
    """What DescribeExecution says about one execution."""

    status: RunStatus
    started_at: datetime
    stopped_at: datetime | None = None
    error: str | None = None
    cause: str | None = None

    @property
    def finished(self) -> bool:
        return self.status != "running"


@dataclass(frozen=True)
class LedgerEntry:
    """An action's row in action_executions: what the effect answered, and when."""

    step_id: str
    kind: str
    result: dict[str, Any]
    executed_at: datetime


@dataclass
class _StateTrace:
    entered_at: datetime | None = None
    exited_at: datetime | None = None
    attempts: int = 0
    last_failure: dict[str, Any] | None = None
    succeeded: bool = False


@dataclass
class _History:
    states: dict[str, _StateTrace] = field(default_factory=dict)
    entered_after_choice: dict[str, str] = field(default_factory=dict)

    def trace(self, name: str) -> _StateTrace:
        return self.states.setdefault(name, _StateTrace())


def _read_history(events: Iterable[Mapping[str, Any]]) -> _History:
    history = _History()
    current: str | None = None  # the state whose Task events follow (no Parallel/Map here)
    last_exited_choice: str | None = None
    for event in sorted(events, key=lambda e: int(e["id"])):
        kind: str = event["type"]
        at: datetime = event["timestamp"]
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            if last_exited_choice is not None:
                history.entered_after_choice[last_exited_choice] = name
            last_exited_choice = None
            trace = history.trace(name)
            if trace.entered_at is None:
                trace.entered_at = at
            current = name
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            history.trace(name).exited_at = at
            last_exited_choice = name if kind == "ChoiceStateExited" else None
        elif current is not None and kind == "TaskScheduled":
            history.trace(current).attempts += 1
        elif current is not None and kind in ("TaskFailed", "TaskTimedOut"):
            details = event.get("taskFailedEventDetails") or event.get(
                "taskTimedOutEventDetails", {}
            )
            history.trace(current).last_failure = _failure(details, at)
        elif current is not None and kind == "TaskSucceeded":
            history.trace(current).succeeded = True
    return history


def _failure(details: Mapping[str, Any], at: datetime) -> dict[str, Any]:
    """`{error, message, at}`; a Lambda error's cause is `{errorType, errorMessage}` JSON."""
    cause = details.get("cause")
    message = cause
    if isinstance(cause, str):
        try:
            parsed = json.loads(cause)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("errorMessage"), str):
            message = parsed["errorMessage"]
    return {"error": details.get("error"), "message": message, "at": at.isoformat()}


def inspect_steps(
    workflow: Workflow,
    history_events: Sequence[Mapping[str, Any]],
    ledger: Mapping[str, LedgerEntry],
    execution: ExecutionInfo | None,
) -> list[dict[str, Any]]:
    """Every step of `workflow`, depth first in document order, with what happened to it.
    `execution` None: the execution was never started (or is unknown to Step Functions)."""
    history = _read_history(history_events)
    inspector = _Inspector(history, ledger, execution, workflow)
    inspector.walk(workflow.steps, then=DONE_STATE, branch=None, skipped=False)
    return inspector.steps


class _Inspector:
    def __init__(
        self,
        history: _History,
        ledger: Mapping[str, LedgerEntry],
        execution: ExecutionInfo | None,
        workflow: Workflow,
    ) -> None:
        self.workflow = workflow
        self.history = history
        self.ledger = ledger
        self.execution = execution
        self.steps: list[dict[str, Any]] = []

    @property
    def running(self) -> bool:
        return self.execution is not None and not self.execution.finished

    def entry(self, step: Step) -> str:
        return entry_state_name(step, self.workflow)

    def walk(
        self,
        steps: tuple[Step, ...],
        *,
        then: str,
        branch: dict[str, str] | None,
        skipped: bool,
    ) -> None:
        for index, step in enumerate(steps):
            following = self.entry(steps[index + 1]) if index + 1 < len(steps) else then
            self.steps.append(self.view(step, branch, skipped, following))
            if isinstance(step, ConditionStep):
                outcome = self.steps[-1]["outcome"]
                then_skipped = skipped or outcome is False
                else_skipped = skipped or outcome is True
                self.walk(
                    step.then,
                    then=following,
                    branch={"condition": step.id, "branch": "then"},
                    skipped=then_skipped,
                )
                self.walk(
                    step.else_,
                    then=following,
                    branch={"condition": step.id, "branch": "else"},
                    skipped=else_skipped,
                )
            elif isinstance(step, SwitchStep):
                taken = self.steps[-1]["outcome"]
                branches = [(str(index), case.steps) for index, case in enumerate(step.cases)]
                for name, branch_steps in [*branches, ("default", step.default)]:
                    self.walk(
                        branch_steps,
                        then=following,
                        branch={"condition": step.id, "branch": name},
                        skipped=skipped or (taken is not None and taken != name),
                    )

    def view(
        self, step: Step, branch: dict[str, str] | None, skipped: bool, following: str
    ) -> dict[str, Any]:
        trace = self.history.states.get(state_name(step), _StateTrace())
        state = self.state_of(step, trace, skipped)
        view: dict[str, Any] = {
            "id": step.id,
            "type": step.type,
            "state": state,
            "branch": branch,
            "entered_at": _iso(trace.entered_at),
            "exited_at": _iso(trace.exited_at),
        }
        if isinstance(step, ConditionStep):
            view["outcome"] = self.outcome(step, trace, following)
        elif isinstance(step, SwitchStep):
            view["outcome"] = self.switch_outcome(step, trace, following)
        elif isinstance(step, DelayStep):
            wakes_at = (
                trace.entered_at + timedelta(seconds=step.seconds) if trace.entered_at else None
            )
            view["seconds"] = step.seconds
            view["wakes_at"] = _iso(wakes_at)
        elif isinstance(step, ActionStep):
            view.update(self.action_details(step, trace, state))
        return view

    def state_of(self, step: Step, trace: _StateTrace, skipped: bool) -> StepState:
        if trace.entered_at is None:
            if isinstance(step, ActionStep) and step.id in self.ledger:
                # No history (an Express execution, or one past its retention): the ledger
                # row says the action took effect.
                return "succeeded"
            return "skipped" if skipped else "not_reached"
        if isinstance(step, ActionStep) and failed_state_name(step) in self.history.states:
            return "failed"
        if trace.exited_at is not None:
            return "succeeded"
        return "running" if self.running else "failed"

    def outcome(self, step: ConditionStep, trace: _StateTrace, following: str) -> bool | None:
        """Which branch the Choice took, from the state entered right after it."""
        if trace.exited_at is None:
            return None
        then_start = self.entry(step.then[0]) if step.then else following
        else_start = self.entry(step.else_[0]) if step.else_ else following
        entered = self.history.entered_after_choice.get(state_name(step))
        if then_start == else_start or entered is None:
            return None
        if entered == then_start:
            return True
        if entered == else_start:
            return False
        return None

    def switch_outcome(self, step: SwitchStep, trace: _StateTrace, following: str) -> str | None:
        """The branch the switch took: a case's index ("0", "1", ...) or "default"; null when
        it has not left the Choice or the branch cannot be told (several start alike)."""
        if trace.exited_at is None:
            return None
        starts = [
            (str(index), self.entry(case.steps[0]) if case.steps else following)
            for index, case in enumerate(step.cases)
        ]
        starts.append(("default", self.entry(step.default[0]) if step.default else following))
        entered = self.history.entered_after_choice.get(state_name(step))
        matching = [name for name, start in starts if start == entered]
        return matching[0] if len(matching) == 1 else None

    def action_details(
        self, step: ActionStep, trace: _StateTrace, state: StepState
    ) -> dict[str, Any]:
        entry = self.ledger.get(step.id)
        error = trace.last_failure if state in ("failed", "running") else None
        if state == "failed" and error is None and self.execution is not None:
            # Stopped inside the step (aborted, timed out) without a failed attempt.
            error = {
                "error": self.execution.error or self.execution.status,
                "message": self.execution.cause,
                "at": _iso(self.execution.stopped_at),
            }
        on_error = step.action.on_error
        return {
            "kind": step.action.kind,
            "on_error": on_error,
            # failed with on_error continue: the error was recorded and the run went on.
            "continued": state == "failed" and on_error == "continue",
            "attempts": trace.attempts,
            "result": entry.result if entry is not None else None,
            "executed_at": _iso(entry.executed_at) if entry is not None else None,
            "error": error,
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def run_summary(
    run_id: uuid.UUID,
    automation_id: uuid.UUID,
    version: int,
    event: Mapping[str, Any],
    status: RunStatus,
    started_at: datetime,
    finished_at: datetime | None,
) -> dict[str, Any]:
    """A run as the runs list shows it."""
    return {
        "id": str(run_id),
        "automation_id": str(automation_id),
        "version": version,
        "event": dict(event),
        "status": status,
        "started_at": started_at.isoformat(),
        "finished_at": _iso(finished_at),
    }


@dataclass(frozen=True)
class RunFilters:
    """The runs list's filters; `statuses` empty: any status. The range is [after, before)."""

    statuses: tuple[RunStatus, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None


@dataclass(frozen=True)
class RunRecord:
    """A row of automation_runs with what the list and the detail need around it."""

    id: uuid.UUID
    automation_id: uuid.UUID
    version: int
    event_id: uuid.UUID
    event_type: str | None
    subject: str | None
    status: RunStatus
    created_at: datetime
    finished_at: datetime | None
    execution_arn: str | None
    reason: str | None = None
    attempt: int = 1

    @property
    def keyset(self) -> Keyset:
        return Keyset(self.created_at, self.id)

    def with_outcome(self, execution: ExecutionInfo | None) -> RunRecord:
        """This run as the execution says it is now (unchanged when it is unknown)."""
        if execution is None or self.status in RECORDED_OUTCOMES:
            return self
        return replace(self, status=execution.status, finished_at=execution.stopped_at)

    def summary(self) -> dict[str, Any]:
        body = run_summary(
            self.id,
            self.automation_id,
            self.version,
            {"id": str(self.event_id), "type": self.event_type, "subject": self.subject},
            self.status,
            self.created_at,
            self.finished_at,
        )
        body["reason"] = self.reason
        body["attempt"] = self.attempt
        return body


@dataclass(frozen=True)
class RunDetail:
    """One run with its workflow version, the triggering event's envelope (None once the
    outbox row is pruned) and its action ledger by step id."""

    run: RunRecord
    automation_name: str
    definition: dict[str, Any]
    envelope: dict[str, Any] | None
    ledger: dict[str, LedgerEntry]


def run_view(
    detail: RunDetail, execution: ExecutionInfo | None, history: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """GET /automation-runs/{id}: the run, its event and its steps."""
    run = detail.run.with_outcome(execution)
    body = run.summary()
    body["automation_name"] = detail.automation_name
    body["event"]["envelope"] = detail.envelope
    if execution is not None:
        body["started_at"] = execution.started_at.isoformat()
    body["error"] = (
        {"error": execution.error, "cause": execution.cause}
        if execution is not None and execution.status != "succeeded" and execution.error
        else None
    )
    workflow = Workflow.model_validate(detail.definition)
    body["steps"] = inspect_steps(workflow, history, detail.ledger, execution)
    return body
