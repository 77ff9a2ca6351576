"""Pure parts of the local cloud: route matching, authorizer policies, proxy and aws:rmq
events, schedule expressions. No network."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pika
import pytest

from local.gateway import (
    ApiGateway,
    AuthorizerCache,
    AuthorizerConfigurationError,
    GatewayRequest,
    MalformedProxyResponse,
    RouteTable,
    build_proxy_event,
    method_arn,
    parse_authorizer_output,
    policy_allows,
    proxy_response,
)
from local.mq import Delivery, broker_arn, build_rmq_event
from local.registry import FunctionRegistry, UnknownFunctionError
from local.scheduler import (
    CronExpression,
    RateExpression,
    ScheduleExpressionError,
    compressible,
    parse_schedule_expression,
)
from local.template import Api, ApiRoute, Authorizer, Function


def route(method: str, path: str, function_id: str = "Fn") -> ApiRoute:
    return ApiRoute(function_id, "Event", "Api", path, method, None)


TABLE = RouteTable(
    [
        route("GET", "/leads"),
        route("POST", "/leads"),
        route("GET", "/leads/{id}"),
        route("GET", "/leads/export"),
        route("GET", "/leads/{id}/notes/{note_id}"),
        route("ANY", "/files/{proxy+}"),
        route("GET", "/files/{proxy+}", "FilesGet"),
        route("GET", "/"),
    ]
)


@pytest.mark.parametrize(
    ("method", "path", "resource", "parameters"),
    [
        ("GET", "/leads", "/leads", {}),
        ("GET", "/leads/", "/leads", {}),
        ("POST", "/leads", "/leads", {}),
        ("GET", "/leads/42", "/leads/{id}", {"id": "42"}),
        ("GET", "/leads/export", "/leads/export", {}),
        ("GET", "/leads/a%20b", "/leads/{id}", {"id": "a b"}),
        ("GET", "/leads/7/notes/9", "/leads/{id}/notes/{note_id}", {"id": "7", "note_id": "9"}),
        ("DELETE", "/files/a/b/c.txt", "/files/{proxy+}", {"proxy": "a/b/c.txt"}),
        ("GET", "/", "/", {}),
    ],
)
def test_route_matching(method: str, path: str, resource: str, parameters: dict[str, str]) -> None:
    match = TABLE.match(method, path)
    assert match is not None
    assert match.route.path == resource
    assert match.path_parameters == parameters


def test_exact_method_beats_any() -> None:
    match = TABLE.match("GET", "/files/x")
    assert match is not None and match.route.function_id == "FilesGet"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nope"), ("DELETE", "/leads"), ("GET", "/files"), ("POST", "/leads/export")],
)
def test_no_route(method: str, path: str) -> None:
    assert TABLE.match(method, path) is None


def test_duplicate_routes_are_refused() -> None:
    with pytest.raises(ValueError, match="two routes"):
        RouteTable([route("GET", "/x"), route("GET", "/x")])


# ------------------------------------------------------------------ authorizer policies

ARN = method_arn("local", "GET", "/leads/42")


def allow(
    *resources: str, effect: str = "Allow", action: str = "execute-api:Invoke"
) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": effect, "Action": action, "Resource": list(resources)}],
    }


def test_method_arn() -> None:
    assert ARN == "arn:aws:execute-api:us-east-1:123456789012:local/local/GET/leads/42"
    assert method_arn("dev", "post", "/") == (
        "arn:aws:execute-api:us-east-1:123456789012:local/dev/POST/"
    )


@pytest.mark.parametrize(
    ("policy", "allowed"),
    [
        (allow(ARN), True),
        (allow("arn:aws:execute-api:us-east-1:123456789012:local/*"), True),
        (allow("arn:aws:execute-api:*:*:local/local/GET/leads/*"), True),
        (allow("arn:aws:execute-api:us-east-1:123456789012:local/local/GET/leads/4?"), True),
        (allow("arn:aws:execute-api:us-east-1:123456789012:local/local/GET/leads/4"), False),
        (allow("arn:aws:execute-api:us-east-1:123456789012:local/local/POST/*"), False),
        (allow("*", action="execute-api:*"), True),
        (allow("*", action="*"), True),
        (allow("*", action="s3:GetObject"), False),
        (allow("*", effect="Deny"), False),
        (
            {"Statement": [allow("*")["Statement"][0], allow(ARN, effect="Deny")["Statement"][0]]},
            False,
        ),
        ({"Statement": {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"}}, True),
        ({"Statement": []}, False),
    ],
)
def test_policy_allows(policy: dict[str, Any], allowed: bool) -> None:
    assert policy_allows(policy, ARN) is allowed


def test_authorizer_context_is_stringified_and_must_be_flat() -> None:
    output = parse_authorizer_output(
        {"principalId": "u", "policyDocument": allow("*"), "context": {"a": True, "n": 3, "s": "x"}}
    )
    assert output.context == {"a": "true", "n": "3", "s": "x"}
    with pytest.raises(AuthorizerConfigurationError):
        parse_authorizer_output({"principalId": "u", "policyDocument": {}, "context": {"o": {}}})
    with pytest.raises(AuthorizerConfigurationError):
        parse_authorizer_output({"policyDocument": {}})


def test_authorizer_cache_expires_after_reauthorize_every() -> None:
    now = [100.0]
    cache = AuthorizerCache(clock=lambda: now[0])
    authorizer = Authorizer("A", "Fn", "REQUEST", ("Authorization",), (), 300)
    output = parse_authorizer_output({"principalId": "u", "policyDocument": allow("*")})
    cache.put(authorizer, ("Bearer x",), output)
    assert cache.get(authorizer, ("Bearer x",)) is output
    assert cache.get(authorizer, ("Bearer y",)) is None
    now[0] += 301
    assert cache.get(authorizer, ("Bearer x",)) is None
    uncached = Authorizer("B", "Fn", "REQUEST", ("Authorization",), (), 0)
    cache.put(uncached, ("Bearer x",), output)
    assert cache.get(uncached, ("Bearer x",)) is None


# ------------------------------------------------------------------ proxy events and responses


def test_proxy_event_shape() -> None:
    request = GatewayRequest(
        method="POST",
        path="/leads/42",
        raw_query="a=1&a=2&b=",
        header_items=[("Content-Type", "application/json"), ("X-Multi", "1"), ("X-Multi", "2")],
        body=b'{"k": "v"}',
        source_ip="127.0.0.1",
        host="127.0.0.1:8765",
    )
    match = RouteTable([route("POST", "/leads/{id}")]).match("POST", "/leads/42")
    assert match is not None
    event = build_proxy_event(request, match, "local", {"principalId": "u"})
    assert event["resource"] == "/leads/{id}"
    assert event["path"] == "/leads/42"
    assert event["httpMethod"] == "POST"
    assert event["headers"] == {"Content-Type": "application/json", "X-Multi": "2"}
    assert event["multiValueHeaders"]["X-Multi"] == ["1", "2"]
    assert event["queryStringParameters"] == {"a": "2", "b": ""}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": [""]}
    assert event["pathParameters"] == {"id": "42"}
    assert event["stageVariables"] is None
    assert event["body"] == '{"k": "v"}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["resourcePath"] == "/leads/{id}"
    assert context["stage"] == "local"
    assert context["path"] == "/local/leads/42"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["authorizer"] == {"principalId": "u"}
    assert context["requestId"] == request.request_id


def test_binary_request_body_is_base64() -> None:
    request = GatewayRequest("POST", "/x", "", [], b"\xff\x00", "127.0.0.1", "h")
    match = RouteTable([route("POST", "/x")]).match("POST", "/x")
    assert match is not None
    event = build_proxy_event(request, match, "local")
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\x00"
    assert event["queryStringParameters"] is None and event["pathParameters"] is None


def test_proxy_response() -> None:
    response = proxy_response(
        {
            "statusCode": 201,
            "headers": {"Content-Type": "application/json"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": "{}",
        }
    )
    assert response.status == 201
    assert ("Set-Cookie", "a=1") in response.headers and ("Set-Cookie", "b=2") in response.headers
    assert response.body == b"{}"
    binary = proxy_response({"statusCode": 200, "body": "AAH+/w==", "isBase64Encoded": True})
    assert binary.body == b"\x00\x01\xfe\xff"
    with pytest.raises(MalformedProxyResponse):
        proxy_response({"body": "no status"})
    with pytest.raises(MalformedProxyResponse):
        proxy_response("not a dict")


# ------------------------------------------------------------------ aws:rmq events


def test_rmq_event_matches_lambdas_shape() -> None:
    properties = pika.BasicProperties(
        content_type="application/cloudevents+json",
        headers={"tenantid": "t-1", "attempt": 2, "flag": True},
        delivery_mode=2,
        message_id="m-1",
        correlation_id="c-1",
        timestamp=2021,
        type="crm.lead.created",
        app_id="crm",
    )
    deliveries = [Delivery(1, False, properties, b'{"a": 1}'), Delivery(2, True, properties, b"x")]
    arn = broker_arn({"Fn::GetAtt": ["Broker", "Arn"]})
    event = build_rmq_event("q.analytics", "/", deliveries, arn)
    assert event["eventSource"] == "aws:rmq"
    assert event["eventSourceArn"] == arn
    assert arn.startswith("arn:aws:mq:us-east-1:123456789012:broker:Broker:")
    (key,) = event["rmqMessagesByQueue"]
    assert key == "q.analytics::/"
    first, second = event["rmqMessagesByQueue"][key]
    assert base64.b64decode(first["data"]) == b'{"a": 1}'
    assert first["redelivered"] is False and second["redelivered"] is True
    props = first["basicProperties"]
    assert props["contentType"] == "application/cloudevents+json"
    assert props["contentEncoding"] is None
    assert props["headers"] == {"tenantid": {"bytes": list(b"t-1")}, "attempt": 2, "flag": True}
    assert props["deliveryMode"] == 2
    assert props["messageId"] == "m-1"
    assert props["correlationId"] == "c-1"
    assert props["timestamp"] == "Jan 1, 1970, 12:33:41 AM"
    assert props["type"] == "crm.lead.created"
    assert props["appId"] == "crm"
    assert props["bodySize"] == 8
    assert set(props) == {
        "contentType", "contentEncoding", "headers", "deliveryMode", "priority", "correlationId",
        "replyTo", "expiration", "messageId", "timestamp", "type", "userId", "appId",
        "clusterId", "bodySize",
    }  # fmt: skip


# ------------------------------------------------------------------ registry names


def test_registry_maps_names_and_arns_to_logical_ids() -> None:
    step = Function("StepFn", Path("/nowhere"), "app.handler", 3, 128, {})
    registry = FunctionRegistry({"StepFn": step})
    assert registry.logical_id("StepFn") == "StepFn"
    assert registry.logical_id("StepFn:$LATEST") == "StepFn"
    assert registry.logical_id("arn:aws:lambda:us-east-1:123456789012:function:StepFn") == "StepFn"
    assert (
        registry.logical_id("arn:aws:lambda:us-east-1:123456789012:function:StepFn:1") == "StepFn"
    )
    for unknown in ("Nope", "arn:aws:states:us-east-1:123456789012:stateMachine:StepFn"):
        with pytest.raises(UnknownFunctionError):
            registry.logical_id(unknown)


# ------------------------------------------------------------------ schedule expressions


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
    ],
)
def test_rate_expressions(expression: str, seconds: int) -> None:
    assert parse_schedule_expression(expression) == RateExpression(timedelta(seconds=seconds))


@pytest.mark.parametrize("expression", ["rate(1 minutes)", "rate(2 minute)", "rate(0 minutes)"])
def test_bad_rate_expressions(expression: str) -> None:
    with pytest.raises(ScheduleExpressionError):
        parse_schedule_expression(expression)


def test_cron_next_fire() -> None:
    weekdays_at_nine = parse_schedule_expression("cron(0 9 ? * MON-FRI *)")
    assert isinstance(weekdays_at_nine, CronExpression)
    friday_evening = datetime(2026, 11, 27, 18, 0)  # a Friday
    assert weekdays_at_nine.next_after(friday_evening) == datetime(2026, 11, 30, 9, 0)
    every_15 = parse_schedule_expression("cron(0/15 * * * ? *)")
    assert isinstance(every_15, CronExpression)
    assert every_15.next_after(datetime(2026, 1, 1, 10, 7, 30)) == datetime(2026, 1, 1, 10, 15)
    first_of_month = parse_schedule_expression("cron(30 2 1 JAN,JUL ? 2027)")
    assert isinstance(first_of_month, CronExpression)
    assert first_of_month.next_after(datetime(2026, 3, 1)) == datetime(2027, 1, 1, 2, 30)


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 9 L * ? *)",
        "cron(0 9 ? * 6#3 *)",
        "cron(0 9 * * * *)",
        "cron(0 9 * *)",
        "cron(61 9 * * ? *)",
        "every minute",
    ],
)
def test_unsupported_or_invalid_expressions(expression: str) -> None:
    with pytest.raises(ScheduleExpressionError):
        parse_schedule_expression(expression)


def test_at_expression() -> None:
    at = parse_schedule_expression("at(2030-01-02T03:04:05)")
    assert at.next_after(datetime(2029, 1, 1, tzinfo=UTC)) == datetime(
        2030, 1, 2, 3, 4, 5, tzinfo=UTC
    )


# ------------------------------------------------------------------ the gateway pipeline, no HTTP


class FakeFunctions:
    """Stands in for the registry: a TOKEN authorizer and an API handler."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def invoke(self, function_id: str, event: dict[str, Any]) -> Any:
        self.calls.append((function_id, event))
        if function_id == "Auth":
            if event["authorizationToken"] != "good":
                raise Exception("Unauthorized")  # what API Gateway matches on
            arn_prefix = event["methodArn"].split("/", 1)[0]
            return {"principalId": "p", "policyDocument": allow(f"{arn_prefix}/*/GET/*")}
        return {"statusCode": 200, "body": event["requestContext"]["authorizer"]["principalId"]}


def token_gateway(functions: FakeFunctions, cache: AuthorizerCache) -> ApiGateway:
    authorizer = Authorizer("Tok", "Auth", "TOKEN", ("X-Token",), (), 60)
    api = Api("Api", "v1", "Tok", {"Tok": authorizer})
    routes = [
        ApiRoute("Fn", "Get", "Api", "/items/{id}", "GET", "Tok"),
        ApiRoute("Fn", "Post", "Api", "/items", "POST", "Tok"),
    ]
    return ApiGateway(routes, {"Api": api}, {"Api": "v1"}, functions.invoke, cache=cache)


def request(method: str, path: str, token: str | None) -> GatewayRequest:
    headers = [("x-token", token)] if token else []
    return GatewayRequest(method, path, "", headers, b"", "127.0.0.1", "localhost")


def test_token_authorizer_pipeline_and_cache_expiry() -> None:
    now = [0.0]
    functions = FakeFunctions()
    gateway = token_gateway(functions, AuthorizerCache(clock=lambda: now[0]))
    assert gateway.handle(request("GET", "/items/1", None)).status == 401
    assert functions.calls == []
    assert gateway.handle(request("GET", "/items/1", "bad")).status == 401
    ok = gateway.handle(request("GET", "/items/1", "good"))
    assert (ok.status, ok.body) == (200, b"p")
    assert gateway.handle(request("POST", "/items", "good")).status == 403  # cached policy
    token_event = functions.calls[0][1]
    assert token_event == {
        "type": "TOKEN",
        "authorizationToken": "bad",
        "methodArn": method_arn("v1", "GET", "/items/1"),
    }
    assert [fid for fid, _ in functions.calls] == ["Auth", "Auth", "Fn"]
    now[0] += 61
    assert gateway.handle(request("GET", "/items/2", "good")).status == 200
    assert [fid for fid, _ in functions.calls] == ["Auth", "Auth", "Fn", "Auth", "Fn"]


@pytest.mark.parametrize(
    ("expression", "compressed"),
    [
        ("rate(1 minute)", True),
        ("rate(1 hour)", True),
        ("rate(2 hours)", False),
        ("rate(30 days)", False),
        ("cron(*/10 * * * ? *)", True),
        ("cron(0 3 * * ? *)", False),
    ],
)
def test_the_interval_override_compresses_only_frequent_schedules(
    expression: str, compressed: bool
) -> None:
    # A monthly key rotation fired every 2 s would rotate the keys under the tests' feet.
    assert compressible(parse_schedule_expression(expression)) is compressed
