"""Every function's IAM policy grants exactly the AWS actions its code calls, and names the
resource wherever its ARN is known.

The calls are found in the code (tests/aws_calls.py: boto3 clients made by crm.bootstrap's
factories, the adapter methods the function's code reaches, each operation mapped to its IAM
action). Granted are the function's inline statements and SAM policy templates (expanded from
the SAM translator's own definitions). Generic: a function, factory or adapter added later is
covered without touching this file.

OpenSearch is reached over HTTP, signed with the role (OPENSEARCH_AUTH=sigv4): the domain's
access policy must name exactly the roles of the functions that build an OpenSearch client.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import samtranslator

from tests import aws_calls
from tests.support import ROOT
from tests.unit.test_template import _functions, _template

POLICY_TEMPLATES = json.loads(
    (
        Path(samtranslator.__file__).parent / "policy_templates_data/policy_templates.json"
    ).read_text()
)["Templates"]

# Actions that have no resource-level permissions: "*" is the only resource IAM accepts.
NO_RESOURCE_LEVEL = {"states:ListStateMachines", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
                     "cloudwatch:PutMetricData", "ec2:CreateNetworkInterface",
                     "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface",
                     # send_sms publishes to a phone number: there is no topic ARN to name
                     "sns:Publish"}  # fmt: skip


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(properties: dict[str, Any]) -> tuple[list[dict[str, Any]], set[str]]:
    """(inline statements, actions granted by SAM policy templates)."""
    inline: list[dict[str, Any]] = []
    from_templates: set[str] = set()
    for policy in _as_list(properties.get("Policies") or []):
        if not isinstance(policy, dict):
            continue  # a managed policy name or ARN: none is used
        if "Statement" in policy:
            inline.extend(_as_list(policy["Statement"]))
            continue
        for name in policy:
            assert name in POLICY_TEMPLATES, f"unknown SAM policy template {name}"
            for statement in POLICY_TEMPLATES[name]["Definition"]["Statement"]:
                from_templates |= set(_as_list(statement["Action"]))
    return inline, from_templates


def _granted(properties: dict[str, Any]) -> set[str]:
    inline, from_templates = _statements(properties)
    actions = set(from_templates)
    for statement in inline:
        if statement.get("Effect", "Allow") == "Allow":
            actions |= set(_as_list(statement["Action"]))
    return actions


TEMPLATE = _template()
PROPERTIES = _functions()
FUNCTIONS = sorted(PROPERTIES)


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_the_policy_grants_every_action_the_code_calls(logical_id: str) -> None:
    properties = PROPERTIES[logical_id]
    needed = aws_calls.actions_needed_by_function(ROOT / properties["CodeUri"])
    missing = {
        action: sorted(ops) for action, ops in needed.items() if action not in _granted(properties)
    }
    assert not missing, f"{logical_id} calls these without permission: {missing}"


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_inline_statements_grant_nothing_the_code_does_not_call(logical_id: str) -> None:
    properties = PROPERTIES[logical_id]
    needed = set(aws_calls.actions_needed_by_function(ROOT / properties["CodeUri"]))
    inline, _ = _statements(properties)
    extra = {a for s in inline for a in _as_list(s["Action"])} - needed
    assert not extra, f"{logical_id} is granted {sorted(extra)} but its code never calls them"


def test_no_statement_grants_every_resource_where_the_arn_is_known() -> None:
    resources = TEMPLATE["Resources"]
    statements: list[tuple[str, dict[str, Any]]] = []
    for name, resource in resources.items():
        properties = resource.get("Properties") or {}
        if resource["Type"] == "AWS::Serverless::Function":
            statements += [(name, s) for s in _statements(properties)[0]]
        elif resource["Type"] == "AWS::IAM::Role":
            for policy in properties.get("Policies") or []:
                statements += [(name, s) for s in _as_list(policy["PolicyDocument"]["Statement"])]
    assert statements
    for name, statement in statements:
        if "*" in _as_list(statement.get("Resource")):
            actions = set(_as_list(statement["Action"]))
            assert actions <= NO_RESOURCE_LEVEL, f"{name}: {sorted(actions)} on Resource '*'"


def test_the_search_domain_admits_exactly_the_roles_of_the_functions_that_use_it() -> None:
    factories = aws_calls.opensearch_factories()
    assert factories
    users = set()
    for logical_id, properties in PROPERTIES.items():
        _, called = aws_calls.function_closure(ROOT / properties["CodeUri"])
        if called & factories:
            users.add(f"{logical_id}Role")
    assert users  # reports and the analytics indexer at least
    domain = TEMPLATE["Resources"]["SearchDomain"]["Properties"]
    principals = set()
    for statement in domain["AccessPolicies"]["Statement"]:
        for principal in _as_list(statement["Principal"]["AWS"]):
            role, attribute = principal["Fn::GetAtt"]
            assert attribute == "Arn"
            principals.add(role)
        assert "*" not in _as_list(statement["Resource"])
    assert principals == users
    assert domain["VPCOptions"]["SubnetIds"]  # and only reachable from inside the VPC
