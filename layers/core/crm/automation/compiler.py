"""Workflow -> Amazon States Language, as a pure function.

One state machine per automation version, of the type `execution_type` chooses: Express when
the workflow's longest path waits at most 5 minutes (a tenth of the price per run, faster to
start; an Express execution lives at most 5 minutes), Standard otherwise. Exactly-once effects
come from the step ledger, not from the execution type. The execution input is
`{"tenant_id", "automation_id", "version", "run_id", "event"}` where `event` is the CloudEvent
(with `data`) that triggered the run; condition fields are paths under `$.event.data`.

Mapping:
- condition -> `Choice` with one rule; `Default` is the else branch, and both branches continue
  with the step after the condition. Every comparison is guarded by `IsPresent` and a type test,
  so a missing or differently typed field makes the comparison false instead of failing the
  state; `ne` is the negation of `eq` and therefore true for a missing field.
- delay -> `Wait` with `Seconds`.
- action -> `Task` on `arn:aws:states:::lambda:invoke` calling the automation step function with
  the action inlined, its result stored at `$.steps.<id>`. Errors are retried, then caught by a
  `Pass` state `Failed_<id>`: with `on_error: fail` (the default) it records which step failed
  and hands over to the single `Fail` state, whose cause is that record as JSON; with
  `on_error: continue` it stores `{continued, step_id, error}` as the step's result and goes on
  with the next step.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Final, Literal

from crm.automation.model import (
    RECORD_PREFIX,
    ActionStep,
    AllOf,
    AnyOf,
    Changed,
    Comparison,
    ConditionStep,
    DelayStep,
    DelayUntilStep,
    Emptiness,
    Exists,
    GroupMember,
    Membership,
    Step,
    SwitchStep,
    WhenAll,
    WhenAny,
    Workflow,
    reads_record,
)

LAMBDA_INVOKE_RESOURCE: Final = "arn:aws:states:::lambda:invoke"
RETRYABLE_ERRORS: Final = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "States.TaskFailed",
)
DONE_STATE: Final = "Done"
FAILED_STATE: Final = "StepFailed"
FAILED_ERROR: Final = "StepFailed"
EVENT_DATA_PATH: Final = "$.event.data"
# Where a Load task puts the current record (`record.<field>` conditions read it there).
CURRENT_PATH: Final = "$.current"
EXITED_STATE: Final = "Exited"

# Step Functions names: 1..80 characters; this subset also keeps CloudWatch logging happy.
MAX_NAME_LENGTH: Final = 80
_NAME_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,80}")
# Bounds the `-v<version>` suffix so that every version of an automation gets a name of the
# same form.
MAX_VERSION: Final = 2**31 - 1

_ORDER_SUFFIX: Final = {
    "eq": "Equals",
    "gt": "GreaterThan",
    "gte": "GreaterThanEquals",
    "lt": "LessThan",
    "lte": "LessThanEquals",
}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retry of a failed action before it is caught; the defaults are what production runs."""

    interval_seconds: int = 2
    max_attempts: int = 3
    backoff_rate: float = 2.0

    def __post_init__(self) -> None:
        if self.interval_seconds < 1 or self.max_attempts < 0 or self.backoff_rate < 1.0:
            raise ValueError(f"invalid retry policy: {self}")


DEFAULT_RETRY = RetryPolicy()


def compile_workflow(
    workflow: Workflow, *, step_function_arn: str, retry: RetryPolicy = DEFAULT_RETRY
) -> dict[str, Any]:
    """The ASL definition of `workflow`; same input, same output (byte for byte once dumped)."""
    if not step_function_arn:
        raise ValueError("step_function_arn is required")
    compiler = _Compiler(step_function_arn, retry, workflow)
    start = compiler.steps(workflow.steps, then=DONE_STATE)
    compiler.states[DONE_STATE] = {"Type": "Succeed"}
    if workflow.exit_when is not None:
        compiler.states[EXITED_STATE] = {"Type": "Succeed"}
    compiler.states[FAILED_STATE] = {
        "Type": "Fail",
        "Error": FAILED_ERROR,
        "CausePath": "States.JsonToString($.failure)",
    }
    return {
        "Comment": f"CRM automation triggered by {workflow.trigger.event}",
        "StartAt": start,
        "States": compiler.states,
    }


ExecutionType = Literal["EXPRESS", "STANDARD"]
# An Express execution runs at most 5 minutes, the actions' time included: a workflow that
# waits exactly 5 minutes could never act within it, so Express needs strictly less.
EXPRESS_MAX_WAIT_SECONDS: Final = 5 * 60


def longest_wait(steps: tuple[Step, ...]) -> int:
    """The most seconds any path through `steps` waits in delays."""
    total = 0
    for step in steps:
        if isinstance(step, DelayStep):
            total += step.seconds
        elif isinstance(step, ConditionStep):
            total += max(longest_wait(step.then), longest_wait(step.else_))
    return total


def execution_type(workflow: Workflow) -> ExecutionType:
    """EXPRESS when the longest path waits less than 5 minutes (room is left for the actions
    within Express's 5-minute limit), STANDARD otherwise."""
    return "EXPRESS" if longest_wait(workflow.steps) < EXPRESS_MAX_WAIT_SECONDS else "STANDARD"


def state_name(step: Step) -> str:
    prefix = {
        "condition": "Condition",
        "switch": "Switch",
        "delay": "Delay",
        "delay_until": "DelayUntil",
        "action": "Action",
    }[step.type]
    return f"{prefix}_{step.id}"


def failed_state_name(step: Step) -> str:
    return f"Failed_{step.id}"


def entry_state_name(step: Step, workflow: Workflow) -> str:
    """The first state of a step: a condition that reads the current record starts with the
    task loading it; with an exit condition, an action starts with the exit check."""
    if isinstance(step, ConditionStep) and reads_record(step.when):
        return f"Load_{step.id}"
    if isinstance(step, SwitchStep) and any(reads_record(case.when) for case in step.cases):
        return f"Load_{step.id}"
    if isinstance(step, DelayUntilStep):
        return f"When_{step.id}"
    if isinstance(step, ActionStep) and workflow.exit_when is not None:
        return f"ExitLoad_{step.id}" if reads_record(workflow.exit_when) else f"ExitCheck_{step.id}"
    return state_name(step)


class _Compiler:
    def __init__(self, step_function_arn: str, retry: RetryPolicy, workflow: Workflow) -> None:
        self.step_function_arn = step_function_arn
        self.retry = retry
        self.workflow = workflow
        self.states: dict[str, dict[str, Any]] = {}

    def entry(self, step: Step) -> str:
        return entry_state_name(step, self.workflow)

    def steps(self, steps: tuple[Step, ...], *, then: str) -> str:
        """Adds the states of `steps`, the last one continuing at `then`; returns the first."""
        for index, step in enumerate(steps):
            following = self.entry(steps[index + 1]) if index + 1 < len(steps) else then
            if isinstance(step, ConditionStep):
                self.condition(step, following)
            elif isinstance(step, SwitchStep):
                self.switch(step, following)
            elif isinstance(step, DelayUntilStep):
                self.states[f"When_{step.id}"] = self.runtime_task(
                    {"operation": "wake_time", "step_id": step.id, "until": step.until()},
                    result_path=f"$.wake.{step.id}",
                    then=state_name(step),
                    failed=failed_state_name(step),
                    result_selector={"at.$": "$.Payload.at"},
                )
                self.failed(step)
                self.states[state_name(step)] = {
                    "Type": "Wait",
                    "TimestampPath": f"$.wake.{step.id}.at",
                    "Next": following,
                }
            elif isinstance(step, DelayStep):
                self.states[state_name(step)] = {
                    "Type": "Wait",
                    "Seconds": step.seconds,
                    "Next": following,
                }
            else:
                if self.workflow.exit_when is not None:
                    self.exit_check(step)
                self.action(step, following)
        return self.entry(steps[0]) if steps else then

    def condition(self, step: ConditionStep, following: str) -> None:
        name = state_name(step)
        if reads_record(step.when):
            self.load_record(f"Load_{step.id}", step, then=name)
        # Reserve the slot first so states read in document order.
        self.states[name] = {}
        rule = _rule(step.when)
        rule["Next"] = self.steps(step.then, then=following)
        default = self.steps(step.else_, then=following)
        self.states[name] = {"Type": "Choice", "Choices": [rule], "Default": default}

    def switch(self, step: SwitchStep, following: str) -> None:
        name = state_name(step)
        if any(reads_record(case.when) for case in step.cases):
            self.load_record(f"Load_{step.id}", step, then=name)
        self.states[name] = {}
        rules = []
        for case in step.cases:
            rule = _rule(case.when)
            rule["Next"] = self.steps(case.steps, then=following)
            rules.append(rule)
        default = self.steps(step.default, then=following)
        self.states[name] = {"Type": "Choice", "Choices": rules, "Default": default}

    def exit_check(self, step: ActionStep) -> None:
        """Before an action: when the record matches the exit condition, the run records
        itself as exited and ends."""
        assert self.workflow.exit_when is not None
        check = f"ExitCheck_{step.id}"
        if reads_record(self.workflow.exit_when):
            self.load_record(f"ExitLoad_{step.id}", step, then=check)
        rule = _rule(self.workflow.exit_when)
        rule["Next"] = f"Exit_{step.id}"
        self.states[check] = {"Type": "Choice", "Choices": [rule], "Default": state_name(step)}
        self.states[f"Exit_{step.id}"] = self.runtime_task(
            {"operation": "exit", "step_id": step.id},
            result_path="$.exit",
            then=EXITED_STATE,
            failed=failed_state_name(step),
        )
        self.failed(step)

    def load_record(self, name: str, step: Step, *, then: str) -> None:
        """A Task reading the record the run is about, as it is now, into $.current.record
        (null when it no longer exists)."""
        self.states[name] = self.runtime_task(
            {"operation": "load_record", "step_id": step.id},
            result_path=CURRENT_PATH,
            then=then,
            failed=failed_state_name(step),
        )
        self.failed(step)

    def runtime_task(
        self,
        payload: dict[str, Any],
        *,
        result_path: str,
        then: str,
        failed: str,
        result_selector: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """A Task of the run itself (not an action): same function, an `operation` payload."""
        return {
            "Type": "Task",
            "Resource": LAMBDA_INVOKE_RESOURCE,
            "Parameters": {
                "FunctionName": self.step_function_arn,
                "Payload": {
                    "tenant_id.$": "$.tenant_id",
                    "automation_id.$": "$.automation_id",
                    "version.$": "$.version",
                    "run_id.$": "$.run_id",
                    "event.$": "$.event",
                    **payload,
                },
            },
            "ResultSelector": result_selector or {"record.$": "$.Payload.record"},
            "ResultPath": result_path,
            "Retry": self.retry_rules(),
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": failed}],
            "Next": then,
        }

    def retry_rules(self) -> list[dict[str, Any]]:
        return [
            {
                "ErrorEquals": list(RETRYABLE_ERRORS),
                "IntervalSeconds": self.retry.interval_seconds,
                "MaxAttempts": self.retry.max_attempts,
                "BackoffRate": self.retry.backoff_rate,
            }
        ]

    def failed(self, step: Step) -> None:
        # A Fail state has no ResultPath and cannot know which Task sent it there: this Pass
        # state writes the step id next to the caught error for the Fail state's cause.
        self.states[failed_state_name(step)] = {
            "Type": "Pass",
            "Parameters": {"step_id": step.id, "error.$": "$.error"},
            "ResultPath": "$.failure",
            "Next": FAILED_STATE,
        }

    def action(self, step: ActionStep, following: str) -> None:
        failed = failed_state_name(step)
        self.states[state_name(step)] = {
            "Type": "Task",
            "Resource": LAMBDA_INVOKE_RESOURCE,
            "Parameters": {
                "FunctionName": self.step_function_arn,
                "Payload": {
                    "tenant_id.$": "$.tenant_id",
                    "automation_id.$": "$.automation_id",
                    "version.$": "$.version",
                    "run_id.$": "$.run_id",
                    "event.$": "$.event",
                    "step_id": step.id,
                    # on_error is the state machine's business (its Catch), not the step's.
                    "action": step.action.model_dump(
                        mode="json", exclude_none=True, exclude={"on_error"}
                    ),
                },
            },
            "ResultSelector": {"result.$": "$.Payload"},
            "ResultPath": f"$.steps.{step.id}",
            "Retry": [
                {
                    "ErrorEquals": list(RETRYABLE_ERRORS),
                    "IntervalSeconds": self.retry.interval_seconds,
                    "MaxAttempts": self.retry.max_attempts,
                    "BackoffRate": self.retry.backoff_rate,
                }
            ],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": failed}],
            "Next": following,
        }
        if step.action.on_error == "continue":
            # The error becomes the step's result and the run goes on with the next step.
            self.states[failed] = {
                "Type": "Pass",
                "Parameters": {"continued": True, "step_id": step.id, "error.$": "$.error"},
                "ResultPath": f"$.steps.{step.id}",
                "Next": following,
            }
            return
        # A Fail state has no ResultPath and cannot know which Task sent it there: this Pass
        # state writes the step id next to the caught error for the Fail state's cause.
        self.states[failed] = {
            "Type": "Pass",
            "Parameters": {"step_id": step.id, "error.$": "$.error"},
            "ResultPath": "$.failure",
            "Next": FAILED_STATE,
        }


def _rule(member: GroupMember | WhenAll | WhenAny) -> dict[str, Any]:
    if isinstance(member, WhenAll | AllOf):
        return {"And": [_rule(item) for item in member.all]}
    if isinstance(member, WhenAny | AnyOf):
        return {"Or": [_rule(item) for item in member.any]}
    if isinstance(member, Exists):
        return {"Variable": _variable(member.field), "IsPresent": True}
    if isinstance(member, Membership):
        return _membership(member)
    if isinstance(member, Emptiness):
        return _emptiness(member)
    if isinstance(member, Changed):
        return _changed(member)
    return _comparison(member)


def _variable(field: str) -> str:
    head, _, rest = field.partition(".")
    if head == RECORD_PREFIX:
        return f"{CURRENT_PATH}.record.{rest}" if rest else f"{CURRENT_PATH}.record"
    return f"{EVENT_DATA_PATH}.{field}"


def _typed_test(variable: str, value: Any, op: str) -> list[dict[str, Any]]:
    """IsPresent, the value's type test and the comparison itself (all must hold)."""
    tests: list[dict[str, Any]] = [{"Variable": variable, "IsPresent": True}]
    if value is None:
        tests.append({"Variable": variable, "IsNull": True})
    elif isinstance(value, bool):
        tests.append({"Variable": variable, "IsBoolean": True})
        tests.append({"Variable": variable, "BooleanEquals": value})
    elif isinstance(value, int | float):
        tests.append({"Variable": variable, "IsNumeric": True})
        tests.append({"Variable": variable, f"Numeric{_ORDER_SUFFIX[op]}": value})
    else:
        tests.append({"Variable": variable, "IsString": True})
        if op == "contains":
            tests.append({"Variable": variable, "StringMatches": f"*{_escape_matches(value)}*"})
        elif op == "starts_with":
            tests.append({"Variable": variable, "StringMatches": f"{_escape_matches(value)}*"})
        else:
            tests.append({"Variable": variable, f"String{_ORDER_SUFFIX[op]}": value})
    return tests


def _membership(condition: Membership) -> dict[str, Any]:
    variable = _variable(condition.field)
    rule: dict[str, Any] = {
        "Or": [{"And": _typed_test(variable, value, "eq")} for value in condition.value]
    }
    return {"Not": rule} if condition.op == "not_in" else rule


def _emptiness(condition: Emptiness) -> dict[str, Any]:
    """Empty: missing, null or the empty string."""
    variable = _variable(condition.field)
    rule: dict[str, Any] = {
        "Or": [
            {"Not": {"Variable": variable, "IsPresent": True}},
            {"And": _typed_test(variable, None, "eq")},
            {"And": _typed_test(variable, "", "eq")},
        ]
    }
    return {"Not": rule} if condition.op == "not_empty" else rule


def _changed(condition: Changed) -> dict[str, Any]:
    """The triggering event's `changes` name the field."""
    return {"Variable": f"{EVENT_DATA_PATH}.changes.{condition.field}", "IsPresent": True}


def _comparison(comparison: Comparison) -> dict[str, Any]:
    op = "eq" if comparison.op == "ne" else comparison.op
    rule: dict[str, Any] = {"And": _typed_test(_variable(comparison.field), comparison.value, op)}
    return {"Not": rule} if comparison.op == "ne" else rule


def _escape_matches(value: str) -> str:
    """Literal text for `StringMatches`, where `*` is the only wildcard and `\\` escapes."""
    return value.replace("\\", "\\\\").replace("*", "\\*")


def execution_name(automation_version_id: str, event_id: str) -> str:
    """The execution name of the run of one automation version for one event.

    Step Functions refuses a second execution with the same name on a state machine, so an
    event delivered twice cannot start two runs. Readable `<version id>-<event id>` when that is
    a valid name, otherwise a digest of both.
    """
    if not automation_version_id or not event_id:
        raise ValueError("automation_version_id and event_id are required")
    plain = f"{automation_version_id}-{event_id}"
    if _NAME_RE.fullmatch(plain):
        return plain
    return "run-" + _digest(automation_version_id, event_id)


def state_machine_name(
    tenant_id: str, automation_id: str, version: int, *, prefix: str = "crm"
) -> str:
    """The state machine name of one automation version: `<prefix>-<stem>-v<version>`.

    `prefix` keeps stages that share an account apart. The stem is `<tenant_id>-<automation_id>`
    when that leaves room for any version in 80 characters of the allowed set, otherwise a
    digest of both; it depends on the ids only, so all versions of an automation share it.
    """
    if not tenant_id or not automation_id:
        raise ValueError("tenant_id and automation_id are required")
    if isinstance(version, bool) or not 1 <= version <= MAX_VERSION:
        raise ValueError(f"version must be an integer in 1..{MAX_VERSION}, got {version!r}")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,24}", prefix):
        raise ValueError(f"invalid prefix {prefix!r}")
    stem = f"{tenant_id}-{automation_id}"
    longest = f"{prefix}-{stem}-v{MAX_VERSION}"
    if not _NAME_RE.fullmatch(longest):
        stem = _digest(tenant_id, automation_id)[:32]
    return f"{prefix}-{stem}-v{version}"


def _digest(*parts: str) -> str:
    # JSON keeps the parts apart: ("a-b", "c") and ("a", "b-c") hash differently.
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()
