from __future__ import annotations

import uuid

import pytest
from crm.domain.errors import InvalidCredentials
from crm.domain.events import CloudEvent
from crm.domain.leads import Lead
from crm.services.authorization import Caller, allow_policy, api_wildcard_arn, bearer_token


def test_cloud_event_round_trips_through_json() -> None:
    lead = Lead(tenant_id=uuid.uuid4(), name="Ana")
    event = lead.created_event(correlation_id="corr-1")
    again = CloudEvent.from_json(event.to_json())
    assert again == event
    envelope = event.to_dict()
    assert envelope["specversion"] == "1.0" and envelope["type"] == "crm.lead.created"
    assert envelope["tenantid"] == str(lead.tenant_id) and envelope["correlationid"] == "corr-1"


@pytest.mark.parametrize("body", [b"{}", b'{"specversion": "0.3", "id": "x"}', b"[1]"])
def test_anything_but_a_crm_cloud_event_is_refused(body: bytes) -> None:
    with pytest.raises((ValueError, KeyError, TypeError)):
        CloudEvent.from_json(body)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic abc"}, {"authorization": "Bearer "}, {"Authorization": "x"}],
)
def test_bearer_token_requires_the_bearer_scheme(headers: dict[str, str]) -> None:
    with pytest.raises(InvalidCredentials):
        bearer_token(headers)


def test_bearer_token_header_name_is_case_insensitive() -> None:
    assert bearer_token({"authorization": "Bearer abc.def"}) == "abc.def"


def test_policy_covers_every_route_of_the_stage_and_carries_the_principal() -> None:
    arn = "arn:aws:execute-api:us-east-1:123456789012:api123/dev/GET/leads/42"
    assert api_wildcard_arn(arn) == "arn:aws:execute-api:us-east-1:123456789012:api123/dev/*"
    caller = Caller(tenant_id=uuid.uuid4(), user_id=uuid.uuid4(), role="admin")
    policy = allow_policy(caller, arn)
    assert policy["policyDocument"]["Statement"][0]["Resource"] == [api_wildcard_arn(arn)]
    assert policy["principalId"] == str(caller.user_id)
    assert policy["context"] == {
        "tenant_id": str(caller.tenant_id),
        "user_id": str(caller.user_id),
        "role": "admin",
        "auth_type": "user",
    }
