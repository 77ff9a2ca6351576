"""A run step by step: Step Functions history events (shaped as GetExecutionHistory returns
them, as moto's interpreter and AWS record them) mapped back onto the workflow's steps."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from crm.adapters.sfn.executions import StepFunctionsExecutions
from crm.automation.model import Workflow
from crm.domain.run_inspection import (
    ExecutionInfo,
    LedgerEntry,
    RunDetail,
    RunRecord,
    inspect_steps,
    run_status,
    run_view,
)

T0 = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
LAMBDA = {"resourceType": "lambda", "resource": "invoke"}
SCHEDULED = {**LAMBDA, "region": "us-east-1", "parameters": "{}"}
RUN_ID = uuid.UUID("5e2d8a41-7c3b-4f9e-8d1a-6b4c2e7f9a55")

WEB_ONLY = Workflow.model_validate(
    {
        "trigger": {"event": "crm.lead.created"},
        "steps": [
            {
                "id": "is_web",
                "type": "condition",
                "when": {"all": [{"field": "lead.source", "op": "eq", "value": "web"}]},
                "then": [
                    {
                        "id": "notify",
                        "type": "action",
                        "action": {"kind": "webhook", "url": "http://hooks.test/crm"},
                    }
                ],
            }
        ],
    }
)

BRANCHES_THEN_DELAY = Workflow.model_validate(
    {
        "trigger": {"event": "crm.lead.created"},
        "steps": [
            {
                "id": "is_web",
                "type": "condition",
                "when": {"all": [{"field": "lead.source", "op": "eq", "value": "web"}]},
                "then": [
                    {"id": "tag_hot", "type": "action", "action": {"kind": "add_tag", "tag": "hot"}}
                ],
                "else": [
                    {"id": "tag_cold", "type": "action", "action": {"kind": "add_tag", "tag": "c"}}
                ],
            },
            {"id": "wait", "type": "delay", "seconds": 3600},
            {
                "id": "notify",
                "type": "action",
                "action": {"kind": "webhook", "url": "http://hooks.test/crm"},
            },
        ],
    }
)


class History:
    """GetExecutionHistory events, numbered and timed one second apart."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def at(self, index: int) -> datetime:
        return T0 + timedelta(seconds=index)

    def add(self, kind: str, **details: Any) -> History:
        number = len(self.events) + 1
        event: dict[str, Any] = {
            "timestamp": self.at(number),
            "type": kind,
            "id": number,
            "previousEventId": number - 1,
        }
        event.update(details)
        self.events.append(event)
        return self

    def entered(self, kind: str, name: str) -> History:
        return self.add(f"{kind}StateEntered", stateEnteredEventDetails={"name": name})

    def exited(self, kind: str, name: str) -> History:
        return self.add(f"{kind}StateExited", stateExitedEventDetails={"name": name})

    def task(self, name: str, *failures: str, succeeds: bool = True, exits: bool = True) -> History:
        self.entered("Task", name)
        for message in failures:
            self.add("TaskScheduled", taskScheduledEventDetails=SCHEDULED)
            self.add(
                "TaskFailed",
                taskFailedEventDetails={
                    **LAMBDA,
                    "error": "WebhookDeliveryFailed",
                    "cause": json.dumps(
                        {"errorType": "WebhookDeliveryFailed", "errorMessage": message}
                    ),
                },
            )
        if succeeds:
            self.add("TaskScheduled", taskScheduledEventDetails=SCHEDULED)
            self.add("TaskSucceeded", taskSucceededEventDetails={**LAMBDA, "output": "{}"})
        if exits:
            self.exited("Task", name)
        return self

    def choice(self, name: str) -> History:
        return self.entered("Choice", name).exited("Choice", name)


def execution(status: str, *, stopped: bool = True, **more: Any) -> ExecutionInfo:
    return ExecutionInfo(
        status=run_status(status),
        started_at=T0,
        stopped_at=T0 + timedelta(minutes=1) if stopped else None,
        **more,
    )


def by_id(steps: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in steps}


def test_a_condition_that_took_the_else_branch_skips_the_then_steps() -> None:
    # Given a run of "if web: notify" for a lead that is not from the web
    history = History().add("ExecutionStarted").choice("Condition_is_web")
    history.entered("Succeed", "Done").exited("Succeed", "Done").add("ExecutionSucceeded")

    steps = inspect_steps(WEB_ONLY, history.events, {}, execution("SUCCEEDED"))

    # Then the condition was false and the action in its then-branch was skipped
    assert [step["id"] for step in steps] == ["is_web", "notify"]
    condition, notify = steps
    assert condition["state"] == "succeeded" and condition["outcome"] is False
    assert condition["entered_at"] == history.at(2).isoformat()
    assert condition["exited_at"] == history.at(3).isoformat()
    assert notify["state"] == "skipped"
    assert notify["branch"] == {"condition": "is_web", "branch": "then"}
    assert notify["entered_at"] is None and notify["result"] is None and notify["error"] is None


def test_a_condition_that_took_the_then_branch_shows_the_action_and_its_ledger_result() -> None:
    history = History().add("ExecutionStarted").choice("Condition_is_web")
    history.task("Action_notify").entered("Succeed", "Done").add("ExecutionSucceeded")
    ledger = {"notify": LedgerEntry("notify", "webhook", {"kind": "webhook", "status": 204}, T0)}

    steps = by_id(inspect_steps(WEB_ONLY, history.events, ledger, execution("SUCCEEDED")))

    assert steps["is_web"]["outcome"] is True
    assert steps["notify"]["state"] == "succeeded"
    assert steps["notify"]["result"] == {"kind": "webhook", "status": 204}
    assert steps["notify"]["attempts"] == 1
    assert steps["notify"]["executed_at"] == T0.isoformat()
    assert steps["notify"]["kind"] == "webhook"


def test_else_branch_with_steps_of_its_own_then_a_waiting_delay() -> None:
    # Given a still running execution that took the else branch and now waits an hour
    history = History().add("ExecutionStarted").choice("Condition_is_web")
    history.task("Action_tag_cold").entered("Wait", "Delay_wait")

    steps = by_id(
        inspect_steps(BRANCHES_THEN_DELAY, history.events, {}, execution("RUNNING", stopped=False))
    )

    assert steps["is_web"]["outcome"] is False
    assert steps["tag_hot"]["state"] == "skipped"
    assert steps["tag_cold"]["state"] == "succeeded"
    assert steps["tag_cold"]["branch"] == {"condition": "is_web", "branch": "else"}
    delay = steps["wait"]
    assert delay["state"] == "running" and delay["exited_at"] is None
    entered = datetime.fromisoformat(delay["entered_at"])
    assert delay["wakes_at"] == (entered + timedelta(seconds=3600)).isoformat()
    assert delay["seconds"] == 3600
    # The step after the delay has not been reached yet (not skipped: no branch excludes it)
    assert steps["notify"]["state"] == "not_reached"


def test_a_delay_that_ended_succeeded_with_its_wake_up_time() -> None:
    history = History().add("ExecutionStarted").choice("Condition_is_web")
    history.task("Action_tag_hot").entered("Wait", "Delay_wait").exited("Wait", "Delay_wait")
    history.task("Action_notify").entered("Succeed", "Done").add("ExecutionSucceeded")

    steps = by_id(inspect_steps(BRANCHES_THEN_DELAY, history.events, {}, execution("SUCCEEDED")))

    assert steps["is_web"]["outcome"] is True
    assert steps["tag_cold"]["state"] == "skipped"
    assert steps["wait"]["state"] == "succeeded"
    assert steps["wait"]["wakes_at"] == (history.at(8) + timedelta(hours=1)).isoformat()
    assert steps["notify"]["state"] == "succeeded"


def test_a_failed_action_shows_its_error_and_the_steps_after_it_are_not_reached() -> None:
    # Given an action whose receiver answered 500 on every attempt, caught into Failed_<id>
    history = History().add("ExecutionStarted").choice("Condition_is_web")
    history.task("Action_tag_hot")
    history.entered("Wait", "Delay_wait").exited("Wait", "Delay_wait")
    history.task("Action_notify", "answered HTTP 500", "answered HTTP 502", succeeds=False)
    history.entered("Pass", "Failed_notify").exited("Pass", "Failed_notify")
    history.entered("Fail", "StepFailed").add(
        "ExecutionFailed", executionFailedEventDetails={"error": "StepFailed", "cause": "{}"}
    )

    steps = by_id(
        inspect_steps(
            BRANCHES_THEN_DELAY,
            history.events,
            {},
            execution("FAILED", error="StepFailed", cause="{}"),
        )
    )

    notify = steps["notify"]
    assert notify["state"] == "failed"
    assert notify["attempts"] == 2
    assert notify["error"]["error"] == "WebhookDeliveryFailed"
    assert notify["error"]["message"] == "answered HTTP 502"  # the last attempt's
    assert notify["result"] is None
    assert steps["wait"]["state"] == "succeeded"


def test_a_failed_step_before_the_end_leaves_later_steps_not_reached() -> None:
    history = History().add("ExecutionStarted").choice("Condition_is_web")
    history.task("Action_tag_hot", "boom", succeeds=False)
    history.entered("Pass", "Failed_tag_hot").exited("Pass", "Failed_tag_hot")
    history.entered("Fail", "StepFailed").add("ExecutionFailed")

    steps = by_id(inspect_steps(BRANCHES_THEN_DELAY, history.events, {}, execution("FAILED")))

    assert steps["tag_hot"]["state"] == "failed"
    assert steps["tag_hot"]["error"]["message"] == "boom"
    assert steps["wait"]["state"] == "not_reached"
    assert steps["notify"]["state"] == "not_reached"
    assert steps["tag_cold"]["state"] == "skipped"


def test_a_running_action_being_retried_shows_the_failed_attempt_so_far() -> None:
    history = History().add("ExecutionStarted").choice("Condition_is_web")
    history.task("Action_notify", "answered HTTP 500", succeeds=False, exits=False)
    history.add("TaskScheduled", taskScheduledEventDetails=SCHEDULED)

    steps = by_id(inspect_steps(WEB_ONLY, history.events, {}, execution("RUNNING", stopped=False)))

    assert steps["notify"]["state"] == "running"
    assert steps["notify"]["attempts"] == 2
    assert steps["notify"]["error"]["message"] == "answered HTTP 500"


def test_an_execution_aborted_inside_a_step_fails_that_step_with_the_execution_error() -> None:
    history = History().add("ExecutionStarted").choice("Condition_is_web")
    history.task("Action_notify", succeeds=False, exits=False).add("ExecutionAborted")

    steps = by_id(
        inspect_steps(WEB_ONLY, history.events, {}, execution("ABORTED", error="Aborted"))
    )

    assert steps["notify"]["state"] == "failed"
    assert steps["notify"]["error"]["error"] == "Aborted"


def test_a_condition_whose_branches_are_both_empty_has_no_known_outcome() -> None:
    workflow = Workflow.model_validate(
        {
            "trigger": {"event": "crm.lead.created"},
            "steps": [
                {
                    "id": "check",
                    "type": "condition",
                    "when": {"any": [{"field": "x", "op": "exists"}]},
                },
                {"id": "later", "type": "delay", "seconds": 5},
            ],
        }
    )
    history = History().add("ExecutionStarted").choice("Condition_check")
    history.entered("Wait", "Delay_later")

    steps = by_id(inspect_steps(workflow, history.events, {}, execution("RUNNING", stopped=False)))

    assert steps["check"]["state"] == "succeeded"
    assert steps["check"]["outcome"] is None
    assert steps["later"]["state"] == "running"


def test_history_events_are_read_in_id_order_whatever_order_they_arrive_in() -> None:
    history = History().add("ExecutionStarted").choice("Condition_is_web")
    history.task("Action_notify").entered("Succeed", "Done")

    steps = by_id(
        inspect_steps(WEB_ONLY, list(reversed(history.events)), {}, execution("SUCCEEDED"))
    )

    assert steps["is_web"]["outcome"] is True
    assert steps["notify"]["state"] == "succeeded"


def test_a_run_never_started_has_every_step_not_reached() -> None:
    steps = inspect_steps(BRANCHES_THEN_DELAY, [], {}, None)

    assert {step["state"] for step in steps} == {"not_reached"}
    assert [step["id"] for step in steps] == ["is_web", "tag_hot", "tag_cold", "wait", "notify"]


def test_run_view_takes_status_and_times_from_the_execution_and_keeps_the_event() -> None:
    run = RunRecord(
        id=RUN_ID,
        automation_id=uuid.uuid4(),
        version=1,
        event_id=uuid.uuid4(),
        event_type="crm.lead.created",
        subject="leads/1",
        status="running",
        created_at=T0,
        finished_at=None,
        execution_arn="arn:aws:states:us-east-1:1:execution:m:r",
    )
    detail = RunDetail(run, "Tell my endpoint", WEB_ONLY.model_dump(mode="json"), None, {})
    failed = execution("FAILED", error="StepFailed", cause='{"step_id":"notify"}')

    body = run_view(detail, failed, [])

    assert body["status"] == "failed"
    assert body["finished_at"] == (T0 + timedelta(minutes=1)).isoformat()
    assert body["error"] == {"error": "StepFailed", "cause": '{"step_id":"notify"}'}
    assert body["event"] == {
        "id": str(run.event_id),
        "type": "crm.lead.created",
        "subject": "leads/1",
        "envelope": None,
    }
    assert body["automation_name"] == "Tell my endpoint"
    assert [step["id"] for step in body["steps"]] == ["is_web", "notify"]


def test_run_status_maps_every_step_functions_status_and_refuses_others() -> None:
    assert run_status("SUCCEEDED") == "succeeded"
    assert run_status("TIMED_OUT") == "timed_out"
    assert run_status("PENDING_REDRIVE") == "pending_redrive"
    with pytest.raises(ValueError, match="unknown execution status"):
        run_status("PAUSED")


def test_the_adapter_reads_every_page_of_the_history() -> None:
    # botocore's own paginator and stubber: the adapter follows nextToken to the end
    client = boto3.client(
        "stepfunctions",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        endpoint_url="https://states.us-east-1.amazonaws.com",
    )
    arn = "arn:aws:states:us-east-1:123456789012:execution:m:r"
    first = History().add("ExecutionStarted").choice("Condition_is_web").events
    second = [{**event, "id": event["id"] + 3} for event in History().task("Action_notify").events]
    expected = {"executionArn": arn, "reverseOrder": False, "includeExecutionData": False}
    with Stubber(client) as stub:
        stub.add_response(
            "get_execution_history",
            {"events": first, "nextToken": "page-2"},
            {**expected, "maxResults": 1000},
        )
        stub.add_response(
            "get_execution_history",
            {"events": second},
            {**expected, "maxResults": 1000, "nextToken": "page-2"},
        )
        events = StepFunctionsExecutions(client).history(arn)
        stub.assert_no_pending_responses()

    assert [event["id"] for event in events] == list(range(1, 3 + len(second) + 1))


def test_the_adapter_answers_none_and_no_history_for_an_unknown_execution() -> None:
    client = boto3.client(
        "stepfunctions",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        endpoint_url="https://states.us-east-1.amazonaws.com",
    )
    arn = "arn:aws:states:us-east-1:123456789012:execution:m:gone"
    with Stubber(client) as stub:
        stub.add_client_error("describe_execution", "ExecutionDoesNotExist")
        stub.add_client_error("get_execution_history", "ExecutionDoesNotExist")
        stub.add_client_error("describe_execution", "ThrottlingException")
        adapter = StepFunctionsExecutions(client)
        assert adapter.describe(arn) is None
        assert adapter.history(arn) == []
        with pytest.raises(Exception, match="ThrottlingException"):
            adapter.describe(arn)
