"""The local cloud runtime on a toy template (tests/fixtures/local_cloud): the API gateway over
real HTTP, Lambda authorizers and their cache, MQ batches from the real test RabbitMQ,
schedules, Step Functions on embedded moto reaching a handler, and the functions' execution
environments (worker processes): own environment variables and layers, Timeout, concurrency
limits and throttling."""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import json
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pika
import pytest
import requests

from local.aws import SecretStore, create_template_secrets
from local.cloud import LocalCloud
from local.environment import function_arn, role_arn
from local.mq import MqEventSources
from local.services import Endpoints
from local.template import MqSource, read_template
from local.workers import LambdaRuntime
from tests.support import ROOT

pytestmark = pytest.mark.integration

TEMPLATE = ROOT / "tests" / "fixtures" / "local_cloud" / "template.yaml"
QUEUE = "local-cloud-test.q"
SEEDED = '{"seeded": true}'


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout} s")


def declare_fresh_queue(amqp_url: str, queue: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.queue_declare(queue, durable=False, auto_delete=False)
        channel.queue_purge(queue)
    finally:
        connection.close()


def publish(amqp_url: str, queue: str, bodies: list[bytes], **properties: Any) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        for body in bodies:
            channel.basic_publish("", queue, body, pika.BasicProperties(**properties))
    finally:
        connection.close()


MAX_ENVIRONMENTS = 4


@pytest.fixture(scope="module")
def cloud(endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    declare_fresh_queue(endpoints.amqp_url, QUEUE)
    records = tmp_path_factory.mktemp("toy-records")
    local_cloud = LocalCloud(
        TEMPLATE,
        endpoints=endpoints,
        app_database_url="postgresql://toy:toy@127.0.0.1:1/toy",
        profile_dir=tmp_path_factory.mktemp("profile"),
        secret_seeders={"SeededSecret": lambda: SEEDED},
        schedule_interval=0.5,
        mq_failure_backoff=lambda failures: 0.2,
        extra_environment={"TOY_RECORDS": str(records)},  # where toy_recorder writes
        max_environments=MAX_ENVIRONMENTS,
    )
    with local_cloud:
        yield local_cloud


@pytest.fixture()
def recorder(cloud: LocalCloud) -> Any:
    import toy_recorder  # the toy layer, on sys.path once the cloud runs (TOY_RECORDS set)

    toy_recorder.clear()
    return toy_recorder


GOOD = "Bearer good"


def get(cloud: LocalCloud, path: str, token: str | None = GOOD) -> requests.Response:
    headers = {"Authorization": token} if token else {}
    return requests.get(cloud.url + path, headers=headers, timeout=10)


# ------------------------------------------------------------------ the REST gateway


def test_proxy_event_reaches_the_handler(cloud: LocalCloud) -> None:
    response = requests.get(
        cloud.url + "/echo/42?x=1&x=2&y=3",
        headers={"Authorization": "Bearer good", "X-Trace": "t-1"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-amzn-RequestId"]
    assert response.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    body = response.json()
    event = body["event"]
    assert event["resource"] == "/echo/{id}"
    assert event["path"] == "/echo/42"
    assert event["httpMethod"] == "GET"
    assert event["headers"]["X-Trace"] == "t-1"
    assert event["multiValueHeaders"]["X-Trace"] == ["t-1"]
    assert event["queryStringParameters"] == {"x": "2", "y": "3"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": ["3"]}
    assert event["pathParameters"] == {"id": "42"}
    assert event["body"] is None and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["resourcePath"] == "/echo/{id}"
    assert context["httpMethod"] == "GET"
    assert context["stage"] == "local"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["requestId"] == response.headers["x-amzn-RequestId"]
    authorizer = context["authorizer"]
    assert authorizer["principalId"] == "user-good"
    assert {k: authorizer[k] for k in ("tenant_id", "admin", "level")} == {
        "tenant_id": "t-1",
        "admin": "true",
        "level": "3",
    }
    assert body["context"]["function_name"] == "EchoFunction"
    assert body["context"]["invoked_function_arn"] == function_arn("EchoFunction")
    assert body["context"]["memory_limit_in_mb"] == 256
    assert 0 < body["context"]["remaining_ms"] <= 10_000
    assert body["env"] == {
        "STAGE": "local",
        "GREETING": "hello-local",
        "STEP_FUNCTION_ARN": function_arn("StepFunction"),
        "POWERTOOLS_SERVICE_NAME": "toy-echo",
    }


def test_static_segment_wins_and_greedy_proxy(cloud: LocalCloud) -> None:
    assert get(cloud, "/echo/static").json()["event"]["resource"] == "/echo/static"
    response = requests.delete(
        cloud.url + "/files/a/b/c.txt", headers={"Authorization": "Bearer good"}, timeout=10
    )
    event = response.json()["event"]
    assert (event["resource"], event["pathParameters"]) == (
        "/files/{proxy+}",
        {"proxy": "a/b/c.txt"},
    )


def test_bodies_text_and_binary(cloud: LocalCloud) -> None:
    posted = requests.post(
        cloud.url + "/echo",
        json={"name": "Ada"},
        headers={"Authorization": "Bearer good"},
        timeout=10,
    )
    assert posted.status_code == 201
    assert json.loads(posted.json()["event"]["body"]) == {"name": "Ada"}
    binary = requests.post(
        cloud.url + "/echo", data=b"\xff\xfe", headers={"Authorization": "Bearer good"}, timeout=10
    )
    event = binary.json()["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xfe"
    logo = get(cloud, "/files/logo.bin")
    assert logo.content == b"\x00\x01\xfe\xff"


def test_public_route_skips_the_authorizer(cloud: LocalCloud, recorder: Any) -> None:
    response = get(cloud, "/public", token=None)
    assert response.status_code == 200
    assert "authorizer" not in response.json()["event"]["requestContext"]
    assert recorder.records("authorizer") == []


@pytest.mark.parametrize(
    ("method", "path", "token", "status", "message"),
    [
        ("GET", "/echo/1", None, 401, "Unauthorized"),
        ("GET", "/echo/1", "Bearer bad", 401, "Unauthorized"),
        ("GET", "/echo/1", "Bearer deny", 403, "User is not authorized to access this resource"),
        ("POST", "/echo", "Bearer get-only", 403, "User is not authorized to access this resource"),
        ("GET", "/echo/1", "Bearer broken", 500, None),
        ("GET", "/nowhere", "Bearer good", 403, "Missing Authentication Token"),
        ("PUT", "/echo", "Bearer good", 403, "Missing Authentication Token"),
        ("GET", "/echo/boom", "Bearer good", 502, "Internal server error"),
    ],
)
def test_api_gateway_errors(
    cloud: LocalCloud, method: str, path: str, token: str | None, status: int, message: str | None
) -> None:
    headers = {"Authorization": token} if token else {}
    response = requests.request(method, cloud.url + path, headers=headers, timeout=10)
    assert response.status_code == status
    assert response.json() == {"message": message}


def test_missing_identity_does_not_call_the_authorizer(cloud: LocalCloud, recorder: Any) -> None:
    assert get(cloud, "/echo/1", token=None).status_code == 401
    assert recorder.records("authorizer") == []


def test_authorizer_result_is_cached_per_identity(cloud: LocalCloud, recorder: Any) -> None:
    token = f"Bearer good-{uuid.uuid4()}"
    for index in range(5):
        assert get(cloud, f"/echo/{index}", token=token).status_code == 200
    (call,) = recorder.records("authorizer")
    assert call["type"] == "REQUEST"
    assert call["methodArn"].endswith(":local/local/GET/echo/0")
    assert call["headers"]["Authorization"] == token
    assert call["resource"] == "/echo/{id}"
    assert call["pathParameters"] == {"id": "0"}
    assert call["requestContext"]["stage"] == "local"


def test_cached_policy_is_evaluated_against_each_method_arn(
    cloud: LocalCloud, recorder: Any
) -> None:
    token = "Bearer get-only"
    assert get(cloud, "/echo/1", token=token).status_code == 200
    denied = requests.post(
        cloud.url + "/echo", json={}, headers={"Authorization": token}, timeout=10
    )
    assert denied.status_code == 403
    assert len(recorder.records("authorizer")) <= 1  # the POST used the cached policy


def test_health_and_cors_preflight(cloud: LocalCloud) -> None:
    assert requests.get(cloud.url + "/_local/health", timeout=5).json()["status"] == "ok"
    preflight = requests.options(
        cloud.url + "/echo",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        timeout=5,
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"]


# ------------------------------------------------------------------ MQ event source


def rmq_messages(recorder: Any) -> list[dict[str, Any]]:
    return [
        m for event in recorder.records("mq") for m in event["rmqMessagesByQueue"][f"{QUEUE}::/"]
    ]


def test_mq_batches_from_rabbitmq(cloud: LocalCloud, endpoints: Endpoints, recorder: Any) -> None:
    bodies = [json.dumps({"n": n}).encode() for n in range(7)]
    publish(
        endpoints.amqp_url,
        QUEUE,
        bodies,
        content_type="application/json",
        headers={"tenantid": "t-1", "attempt": 1},
        message_id="m-1",
        timestamp=1_700_000_000,
        delivery_mode=2,
    )
    wait_until(lambda: len(rmq_messages(recorder)) >= 7)
    events = recorder.records("mq")
    assert all(len(e["rmqMessagesByQueue"][f"{QUEUE}::/"]) <= 5 for e in events)
    assert len(events) >= 2
    first = events[0]
    assert first["eventSource"] == "aws:rmq"
    assert first["eventSourceArn"].startswith("arn:aws:mq:us-east-1:123456789012:broker:Broker:")
    messages = rmq_messages(recorder)
    assert [base64.b64decode(m["data"]) for m in messages] == bodies
    props = messages[0]["basicProperties"]
    assert props["contentType"] == "application/json"
    assert props["headers"] == {"tenantid": {"bytes": list(b"t-1")}, "attempt": 1}
    assert props["messageId"] == "m-1"
    assert props["deliveryMode"] == 2
    assert props["timestamp"] == "Nov 14, 2023, 10:13:20 PM"
    assert props["bodySize"] == len(bodies[0])
    assert messages[0]["redelivered"] is False
    wait_until(lambda: queue_depth(endpoints.amqp_url, QUEUE) == 0)


def queue_depth(amqp_url: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        declared = connection.channel().queue_declare(queue, passive=True)
        return int(declared.method.message_count)
    finally:
        connection.close()


def test_failed_batch_is_redelivered(
    cloud: LocalCloud, endpoints: Endpoints, recorder: Any
) -> None:
    publish(endpoints.amqp_url, QUEUE, [b"fail-once"])
    wait_until(lambda: len(rmq_messages(recorder)) >= 2)
    first, second = rmq_messages(recorder)[:2]
    assert base64.b64decode(first["data"]) == base64.b64decode(second["data"]) == b"fail-once"
    assert (first["redelivered"], second["redelivered"]) == (False, True)
    time.sleep(0.5)
    assert len(rmq_messages(recorder)) == 2  # acked after the successful retry


class CuttableProxy:
    """A TCP proxy to the broker whose connections the test can cut, like a broker restart."""

    def __init__(self, target_port: int) -> None:
        self._target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._target_port))
            with self._lock:
                self._sockets += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._listener.close()
        self.cut()


def test_poller_reconnects_after_losing_the_broker(endpoints: Endpoints) -> None:
    queue = f"local-cloud-reconnect-{uuid.uuid4().hex[:8]}.q"
    declare_fresh_queue(endpoints.amqp_url, queue)
    parameters = pika.URLParameters(endpoints.amqp_url)
    proxy = CuttableProxy(parameters.port)
    proxied_url = endpoints.amqp_url.replace(f":{parameters.port}/", f":{proxy.port}/")
    received: list[bytes] = []

    def consume(function_id: str, event: dict[str, Any]) -> None:
        for messages in event["rmqMessagesByQueue"].values():
            received.extend(base64.b64decode(m["data"]) for m in messages)

    source = MqSource("Consumer", "Toy", (queue,), 10, 0.05, True, None)
    sources = MqEventSources(proxied_url, [source], consume)
    sources.start()
    try:
        publish(endpoints.amqp_url, queue, [b"before"])
        wait_until(lambda: b"before" in received)
        proxy.cut()
        publish(endpoints.amqp_url, queue, [b"after"])
        wait_until(lambda: b"after" in received, timeout=20)
    finally:
        sources.stop()
        proxy.close()
        connection = pika.BlockingConnection(parameters)
        connection.channel().queue_delete(queue)
        connection.close()


# ------------------------------------------------------------------ schedules


def test_schedule_fires_with_its_input(cloud: LocalCloud, recorder: Any) -> None:
    # The fixture fires every schedule each 0.5 s instead of its rate(1 minute).
    wait_until(lambda: len(recorder.records("schedule")) >= 2, timeout=5)
    assert all(event == {"job": "tick"} for event in recorder.records("schedule"))


# ------------------------------------------------------------------ embedded AWS


def aws(cloud: LocalCloud, service: str) -> Any:
    """A client configured as the handlers' are: by the environment the cloud set."""
    assert cloud.environment["AWS_ENDPOINT_URL"] == cloud.moto.url
    return boto3.client(service)


def run_state_machine(
    cloud: LocalCloud, definition: dict[str, Any], payload: Any
) -> dict[str, Any]:
    sfn = aws(cloud, "stepfunctions")
    machine = sfn.create_state_machine(
        name=f"toy-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(definition),
        roleArn=role_arn("ToyStateMachineRole"),
    )
    execution = sfn.start_execution(
        stateMachineArn=machine["stateMachineArn"], name="run-1", input=json.dumps(payload)
    )

    def finished() -> dict[str, Any] | None:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        return None if described["status"] == "RUNNING" else dict(described)

    result: dict[str, Any] = wait_until(finished, timeout=30)
    return result


def test_state_machine_task_reaches_the_handler(cloud: LocalCloud, recorder: Any) -> None:
    step_arn = function_arn("StepFunction")
    definition = {
        "StartAt": "Direct",
        "States": {
            "Direct": {"Type": "Task", "Resource": step_arn, "Next": "Integration"},
            "Integration": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": step_arn, "Payload": {"n.$": "$.doubled"}},
                "OutputPath": "$.Payload",
                "End": True,
            },
        },
    }
    result = run_state_machine(cloud, definition, {"n": 21})
    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"]) == {"doubled": 84}
    assert recorder.records("step") == [{"n": 21}, {"n": 42}]


def test_handler_errors_reach_retry_and_catch(cloud: LocalCloud, recorder: Any) -> None:
    definition = {
        "StartAt": "Fail",
        "States": {
            "Fail": {
                "Type": "Task",
                "Resource": function_arn("StepFunction"),
                "Retry": [
                    {"ErrorEquals": ["ToyStepError"], "MaxAttempts": 1, "IntervalSeconds": 1}
                ],
                "Catch": [{"ErrorEquals": ["ToyStepError"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    result = run_state_machine(cloud, definition, {"fail": True})
    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"])["Error"] == "ToyStepError"
    assert len(recorder.records("step")) == 2  # the first try and one retry


def test_lambda_invoke_api(cloud: LocalCloud) -> None:
    lam = aws(cloud, "lambda")
    ok = lam.invoke(FunctionName="StepFunction", Payload=json.dumps({"n": 2}))
    assert json.loads(ok["Payload"].read()) == {"doubled": 4}
    failed = lam.invoke(FunctionName=function_arn("StepFunction"), Payload=b'{"fail": true}')
    assert failed["FunctionError"] == "Unhandled"
    error = json.loads(failed["Payload"].read())
    assert (error["errorType"], error["errorMessage"]) == ("ToyStepError", "asked to fail")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="NoSuchFunction", Payload=b"{}")


def test_secrets_are_created_and_kept_across_restarts(cloud: LocalCloud, tmp_path: Path) -> None:
    secrets = aws(cloud, "secretsmanager")
    toy_arn = cloud.environment["TOY_SECRET_ARN"]
    toy = json.loads(secrets.get_secret_value(SecretId=toy_arn)["SecretString"])
    assert toy["username"] == "toy"
    assert len(toy["password"]) == 20 and toy["password"].isalnum()
    seeded = secrets.get_secret_value(SecretId=cloud.environment["SEEDED_SECRET_ARN"])
    assert seeded["SecretString"] == SEEDED

    store = SecretStore(tmp_path / "secrets.json")
    for seed in ("first", "second"):  # as two starts of the local cloud on one profile
        seeders = {"SeededSecret": lambda value=seed: value}
        create_template_secrets(cloud.moto, cloud.template, store, seeders)
        assert secrets.get_secret_value(SecretId="SeededSecret")["SecretString"] == "first"
    assert store.path.stat().st_mode & 0o077 == 0


def test_mail_from_the_verified_sender_is_accepted(cloud: LocalCloud) -> None:
    aws(cloud, "sesv2").send_email(
        FromEmailAddress="no-reply@crm.local",
        Destination={"ToAddresses": ["someone@example.com"]},
        Content={"Simple": {"Subject": {"Data": "hi"}, "Body": {"Text": {"Data": "hello"}}}},
    )


# ------------------------------------------------------------------ execution environments


def slow(cloud: LocalCloud, seconds: float, path: str = "/slow") -> requests.Response:
    return requests.get(f"{cloud.url}{path}?seconds={seconds}", timeout=30)


def test_each_function_sees_its_own_environment_and_layers(cloud: LocalCloud) -> None:
    echo = get(cloud, "/echo/1").json()["env"]
    own = slow(cloud, 0).json()
    throttled = slow(cloud, 0, "/throttled").json()
    assert echo["POWERTOOLS_SERVICE_NAME"] == "toy-echo"
    assert own["service"] == "toy-slow" and own["function_name"] == "SlowFunction"
    assert throttled["service"] == "toy-throttled"
    # SlowFunction lists ExtraLayer after the Globals' ToyLayer; ThrottledFunction does not
    assert own["extra_layer"] == "from the extra layer"
    assert throttled["extra_layer"] is None
    assert own["pid"] != os.getpid() != throttled["pid"]


def test_a_function_past_its_timeout_answers_504_and_its_environment_is_replaced(
    cloud: LocalCloud, recorder: Any
) -> None:
    started = time.monotonic()
    response = slow(cloud, 3)  # SlowFunction's Timeout is 1 s
    elapsed = time.monotonic() - started
    assert response.status_code == 504, response.text
    assert response.json() == {"message": "Endpoint request timed out"}
    assert 1.0 <= elapsed < 2.5
    (timed_out,) = recorder.records("slow-start")
    with pytest.raises(ProcessLookupError):  # that environment is gone
        os.kill(timed_out["pid"], 0)
    after = slow(cloud, 0)
    assert after.status_code == 200 and after.json()["pid"] != timed_out["pid"]


def test_concurrent_requests_share_the_functions_environments(cloud: LocalCloud) -> None:
    requests_, seconds = 20, 0.5
    with concurrent.futures.ThreadPoolExecutor(requests_) as pool:
        list(pool.map(lambda _: slow(cloud, 0), range(MAX_ENVIRONMENTS)))  # cold starts
        started = time.monotonic()
        responses = list(pool.map(lambda _: slow(cloud, seconds), range(requests_)))
        elapsed = time.monotonic() - started
    assert [r.status_code for r in responses] == [200] * requests_
    rounds = math.ceil(requests_ / MAX_ENVIRONMENTS)
    assert rounds * seconds <= elapsed < (rounds + 2) * seconds, elapsed
    assert len({r.json()["pid"] for r in responses}) == MAX_ENVIRONMENTS
    assert cloud.registry.environments("SlowFunction") == MAX_ENVIRONMENTS


def test_over_its_reserved_concurrency_a_function_is_throttled_with_429(
    cloud: LocalCloud, recorder: Any
) -> None:
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        busy = pool.submit(slow, cloud, 1.5, "/throttled")  # its only environment (reserved 1)
        wait_until(lambda: recorder.records("slow-start"))
        burst = list(pool.map(lambda _: slow(cloud, 0, "/throttled"), range(3)))
        assert busy.result().status_code == 200
    assert [r.status_code for r in burst] == [429] * 3
    assert burst[0].json() == {"message": "Too Many Requests"}
    assert slow(cloud, 0, "/throttled").status_code == 200  # free again


def test_idle_environments_are_stopped(tmp_path: Path) -> None:
    template = read_template(TEMPLATE)
    runtime = LambdaRuntime(template.functions, template.layers, idle_seconds=0.5)
    runtime.configure({fid: {"TOY_RECORDS": str(tmp_path)} for fid in template.functions})
    runtime.start()
    try:
        result = runtime.invoke("SlowFunction", {"queryStringParameters": {"seconds": "0"}})
        pid = json.loads(result["body"])["pid"]
        assert runtime.environments("SlowFunction") == 1
        wait_until(lambda: runtime.environments("SlowFunction") == 0, timeout=10)

        def gone() -> bool:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            return False

        wait_until(gone, timeout=10)
    finally:
        runtime.stop()
