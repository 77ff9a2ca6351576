"""Compiled definitions run for real on moto's Step Functions interpreter.

Lambda invocations made by the `lambda:invoke` Task states are routed to `RecordingStepFunction`
by replacing `LambdaSimpleBackend.invoke`, moto's own seam for `lambda: {use_docker: False}`.
That backend does not look the function up, so no Lambda function has to be created first.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from crm.automation import RetryPolicy, Workflow, compile_workflow, execution_name
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.config import DefaultConfig

pytestmark = pytest.mark.integration

REGION = "us-east-1"
STEP_FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:automation_step"
ROLE_ARN = "arn:aws:iam::123456789012:role/automation-runner"
GOLDEN_DIR = Path(__file__).resolve().parents[2] / "statemachines" / "golden"
# Short and flat so that a failing action costs seconds, not the production 2 + 4 + 8.
FAST_RETRY = RetryPolicy(interval_seconds=1, max_attempts=2, backoff_rate=1.0)


@dataclass
class RecordingStepFunction:
    """Stands in for the automation step Lambda: records payloads, fails chosen steps."""

    failing_steps: set[str] = field(default_factory=set)
    payloads: list[dict[str, Any]] = field(default_factory=list)

    @property
    def invoked_steps(self) -> list[str]:
        return [payload["step_id"] for payload in self.payloads]

    def invoke(self, body: bytes | str, response_headers: dict[str, str]) -> bytes:
        payload = json.loads(body)
        self.payloads.append(payload)
        if payload["step_id"] in self.failing_steps:
            response_headers["x-amz-function-error"] = "Unhandled"
            error = {"errorType": "ActionFailed", "errorMessage": f"{payload['step_id']} broke"}
            return json.dumps(error).encode()
        return json.dumps({"status": "done", "step_id": payload["step_id"]}).encode()


@dataclass
class StepFunctions:
    client: Any
    lambda_: RecordingStepFunction

    def create(self, workflow: Workflow, name: str, retry: RetryPolicy = FAST_RETRY) -> str:
        definition = compile_workflow(workflow, step_function_arn=STEP_FUNCTION_ARN, retry=retry)
        created = self.client.create_state_machine(
            name=name, definition=json.dumps(definition), roleArn=ROLE_ARN, type="STANDARD"
        )
        arn: str = created["stateMachineArn"]
        return arn

    def start(self, state_machine_arn: str, name: str, data: dict[str, Any]) -> str:
        started = self.client.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(run_input(name, data))
        )
        arn: str = started["executionArn"]
        return arn

    def wait(self, execution_arn: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            execution: dict[str, Any] = self.client.describe_execution(executionArn=execution_arn)
            if execution["status"] != "RUNNING":
                return execution
            time.sleep(0.05)
        raise AssertionError(f"{execution_arn} still running after {timeout} s")

    def run(self, state_machine_arn: str, name: str, data: dict[str, Any]) -> dict[str, Any]:
        return self.wait(self.start(state_machine_arn, name, data))

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.client.get_execution_history(
            executionArn=execution_arn
        )["events"]
        return events


def run_input(run_id: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "tenant_id": "tenant_1",
        "automation_id": "automation_1",
        "version": 1,
        "run_id": run_id,
        "event": {
            "specversion": "1.0",
            "id": f"evt-{run_id}",
            "source": "crm/leads",
            "type": "crm.lead.created",
            "data": data,
        },
    }


@pytest.fixture
def step_functions(monkeypatch: pytest.MonkeyPatch) -> Iterator[StepFunctions]:
    # An endpoint left over from the local cloud would send boto3 past the in-process mock.
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_STEPFUNCTIONS", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_LAMBDA", raising=False)
    recorder = RecordingStepFunction()

    def invoke(
        self: LambdaSimpleBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, str],
    ) -> bytes:
        assert function_name == STEP_FUNCTION_ARN
        return recorder.invoke(body, response_headers)

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
    config: DefaultConfig = {
        "stepfunctions": {"execute_state_machine": True},
        "lambda": {"use_docker": False},
    }
    with mock_aws(config=config):
        yield StepFunctions(boto3.client("stepfunctions", region_name=REGION), recorder)


def golden_workflow(case: str) -> Workflow:
    return Workflow.model_validate_json((GOLDEN_DIR / f"{case}.workflow.json").read_text())


@pytest.mark.parametrize(
    ("source", "expected_steps"),
    [
        ("web", ["tag_hot", "notify"]),
        ("referral", ["tag_cold", "notify"]),
        (None, ["tag_cold", "notify"]),
    ],
)
def test_the_condition_routes_to_then_or_else_and_both_continue(
    step_functions: StepFunctions, source: str | None, expected_steps: list[str]
) -> None:
    # Given the golden condition workflow
    machine = step_functions.create(golden_workflow("condition_then_else"), "condition")
    lead = {} if source is None else {"source": source}

    # When a lead with that source arrives
    execution = step_functions.run(machine, "run-1", {"lead": lead})

    # Then the matching branch ran, then the step after the condition
    assert execution["status"] == "SUCCEEDED"
    assert step_functions.lambda_.invoked_steps == expected_steps
    output = json.loads(execution["output"])
    assert set(output["steps"]) == set(expected_steps)
    assert output["steps"]["notify"] == {"result": {"status": "done", "step_id": "notify"}}


def test_an_action_receives_the_run_context_the_event_and_its_action(
    step_functions: StepFunctions,
) -> None:
    machine = step_functions.create(golden_workflow("webhook_only"), "payload")

    execution = step_functions.run(machine, "run-1", {"deal": {"id": "d1"}})

    assert execution["status"] == "SUCCEEDED"
    [payload] = step_functions.lambda_.payloads
    expected_input = run_input("run-1", {"deal": {"id": "d1"}})
    assert payload == {
        "tenant_id": "tenant_1",
        "automation_id": "automation_1",
        "version": 1,
        "run_id": "run-1",
        "event": expected_input["event"],
        "step_id": "notify",
        "action": {
            "kind": "webhook",
            "url": "https://hooks.example.com/crm/deal-won",
            "headers": {"X-Source": "crm", "X-Scope": "deals"},
        },
    }


@pytest.mark.parametrize(
    ("lead", "qualifies"),
    [
        ({"vip": True}, True),
        ({"vip": "true"}, False),
        ({"score": 50, "email": "a@example.com"}, True),
        ({"score": 50, "email": "a@example.com", "employees": 20}, True),
        ({"score": 50, "email": "a@example.com", "employees": 0}, False),
        ({"score": 50, "email": "a@example.com", "source": "import"}, False),
        ({"score": 100.5, "email": "a@example.com"}, False),
        ({"score": "70", "email": "a@example.com"}, False),
        ({"score": 70}, False),
        ({"owner_id": None}, True),
        ({"owner_id": "u1"}, False),
        ({"country": "PT"}, True),
        ({"country": "BR"}, False),
        ({"age_days": 7}, True),
        ({"age_days": 8}, False),
        ({"rank": 4}, True),
        ({"rank": 3}, False),
        ({}, False),
    ],
)
def test_nested_groups_type_guards_and_missing_fields(
    step_functions: StepFunctions, lead: dict[str, Any], qualifies: bool
) -> None:
    # `contains` is left out: moto matches StringMatches with fnmatch, which does not honour
    # the `\*` and `\\` escapes that Step Functions defines, so only AWS can judge it.
    machine = step_functions.create(golden_workflow("nested_groups"), "nested")

    execution = step_functions.run(machine, "run-1", {"lead": lead})

    assert execution["status"] == "SUCCEEDED"
    assert step_functions.lambda_.invoked_steps == (["tag_qualified"] if qualifies else [])


def test_contains_matches_a_substring(step_functions: StepFunctions) -> None:
    workflow = Workflow.model_validate(
        {
            "trigger": {"event": "crm.lead.created"},
            "steps": [
                {
                    "id": "is_acme",
                    "type": "condition",
                    "when": {"all": [{"field": "company", "op": "contains", "value": "Acme"}]},
                    "then": [
                        {"id": "tag", "type": "action", "action": {"kind": "add_tag", "tag": "a"}}
                    ],
                }
            ],
        }
    )
    machine = step_functions.create(workflow, "contains")

    step_functions.run(machine, "run-1", {"company": "The Acme Corp"})
    step_functions.run(machine, "run-2", {"company": "Initech"})

    assert step_functions.lambda_.invoked_steps == ["tag"]


def test_a_failing_action_is_retried_then_caught_and_fails_the_run(
    step_functions: StepFunctions,
) -> None:
    # Given an action that always fails, with two retries
    step_functions.lambda_.failing_steps.add("tag_it")
    machine = step_functions.create(golden_workflow("all_action_kinds"), "failing")

    # When the automation runs
    execution = step_functions.run(machine, "run-1", {"deal": {"id": "d1"}})

    # Then it was tried 1 + 2 times, nothing after it ran, and the run failed naming the step
    assert step_functions.lambda_.invoked_steps == ["notify", "tag_it", "tag_it", "tag_it"]
    assert execution["status"] == "FAILED"
    assert execution["error"] == "StepFailed"
    cause = json.loads(execution["cause"])
    assert cause["step_id"] == "tag_it"
    assert cause["error"]["Error"] == "ActionFailed"
    assert json.loads(cause["error"]["Cause"])["errorMessage"] == "tag_it broke"


def test_the_default_retry_policy_is_accepted_by_the_interpreter(
    step_functions: StepFunctions,
) -> None:
    machine = step_functions.create(golden_workflow("all_action_kinds"), "defaults", RetryPolicy())

    execution = step_functions.run(machine, "run-1", {"deal": {"id": "d1"}})

    assert execution["status"] == "SUCCEEDED"
    assert step_functions.lambda_.invoked_steps == ["notify", "tag_it", "mail", "move"]


def test_a_delay_really_waits(step_functions: StepFunctions) -> None:
    workflow = Workflow.model_validate(
        {
            "trigger": {"event": "crm.contact.created"},
            "steps": [
                {"id": "wait_1s", "type": "delay", "seconds": 1},
                {"id": "tag", "type": "action", "action": {"kind": "add_tag", "tag": "later"}},
            ],
        }
    )
    machine = step_functions.create(workflow, "delay")

    started = time.monotonic()
    execution_arn = step_functions.start(machine, "run-1", {})
    assert step_functions.lambda_.payloads == []
    execution = step_functions.wait(execution_arn)

    assert execution["status"] == "SUCCEEDED"
    assert time.monotonic() - started >= 1.0
    times = {
        event["type"]: event["timestamp"]
        for event in step_functions.history(execution_arn)
        if event["type"] in ("WaitStateEntered", "WaitStateExited")
    }
    assert (times["WaitStateExited"] - times["WaitStateEntered"]).total_seconds() >= 1.0
    assert step_functions.lambda_.invoked_steps == ["tag"]


def test_a_redelivered_event_does_not_run_the_action_twice(step_functions: StepFunctions) -> None:
    # Given an automation with a 1 s delay before its action
    workflow = Workflow.model_validate(
        {
            "trigger": {"event": "crm.lead.created"},
            "steps": [
                {"id": "wait_1s", "type": "delay", "seconds": 1},
                {"id": "tag", "type": "action", "action": {"kind": "add_tag", "tag": "once"}},
            ],
        }
    )
    machine = step_functions.create(workflow, "once")
    name = execution_name("automation_1-v1", "evt-42")
    run_input_json = json.dumps(run_input(name, {"lead": {"id": "l1"}}))

    # When the same event starts the run twice while it is running, and once more after it ended
    first = step_functions.client.start_execution(
        stateMachineArn=machine, name=name, input=run_input_json
    )
    again = step_functions.client.start_execution(
        stateMachineArn=machine, name=name, input=run_input_json
    )
    execution = step_functions.wait(first["executionArn"])
    with pytest.raises(ClientError) as late:
        step_functions.client.start_execution(
            stateMachineArn=machine, name=name, input=run_input_json
        )

    # Then there was one execution and one invocation
    assert again["executionArn"] == first["executionArn"]
    assert late.value.response["Error"]["Code"] == "ExecutionAlreadyExists"
    assert execution["status"] == "SUCCEEDED"
    assert step_functions.lambda_.invoked_steps == ["tag"]
    executions = step_functions.client.list_executions(stateMachineArn=machine)["executions"]
    assert len(executions) == 1
