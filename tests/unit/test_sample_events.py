"""The sample events (shared with `sam local invoke -e` and `python -m local invoke`) stay
true to the template and to what the code parses."""

from __future__ import annotations

import json

import pytest
from crm.adapters.rabbitmq.lambda_events import inbound_messages
from crm.automation.compiler import compile_workflow
from crm.automation.model import Workflow
from crm.domain.credentials import looks_like_api_key
from crm.services.authorization import (
    api_wildcard_arn,
    bearer_token,
    credential_from_event,
    is_websocket_connect,
)

from tests.support import EVENTS, load_event
from tests.unit.test_template import _declared_routes, _functions

API_SAMPLES = sorted(p.relative_to(EVENTS).as_posix() for p in EVENTS.glob("api_*/*.json"))


@pytest.mark.parametrize("sample", API_SAMPLES)
def test_api_samples_name_a_declared_route(sample: str) -> None:
    event = load_event(sample)
    declared = set().union(*(_declared_routes(props) for props in _functions().values()))
    assert (event["httpMethod"], event["resource"]) in declared


@pytest.mark.parametrize(
    "sample", ["analytics_indexer/lead_created", "automation_router/lead_created"]
)
def test_mq_samples_carry_cloud_events(sample: str) -> None:
    events = [message.event for message in inbound_messages(load_event(sample))]
    assert [event.type for event in events if event] == ["crm.lead.created"]


def test_authorizer_sample_is_a_request_authorizer_event() -> None:
    event = load_event("authorizer/request")
    assert bearer_token(event["headers"]) == "<access token>"
    assert credential_from_event(event) == "<access token>"
    assert api_wildcard_arn(event["methodArn"]).endswith("/dev/*")


def test_api_key_authorizer_sample_carries_an_api_key() -> None:
    event = load_event("authorizer/api_key_request")
    assert looks_like_api_key(credential_from_event(event))


def test_websocket_authorizer_sample_is_a_connect_event_with_a_query_token() -> None:
    event = load_event("authorizer/websocket_connect")
    assert is_websocket_connect(event)
    assert credential_from_event(event) == "<access token>"
    assert api_wildcard_arn(event["methodArn"]).endswith("/dev/*")


def test_step_sample_has_the_payload_the_compiled_task_sends() -> None:
    body = json.loads(load_event("api_automations/create_automation")["body"])
    workflow = Workflow.model_validate(body["workflow"])
    asl = compile_workflow(workflow, step_function_arn="arn:aws:lambda:us-east-1:1:function:step")
    task = next(state for state in asl["States"].values() if state["Type"] == "Task")
    sent_keys = {key.removesuffix(".$") for key in task["Parameters"]["Payload"]}
    assert sent_keys == set(load_event("automation_step/webhook_action"))
