"""The automation webhook action under the subscriptions' target policy: header rules of the
model, secret headers sealed at save and shown as {"secret": true}, the 422 naming the action's
field, and the step refusing at send a name that now resolves to a private address with
nothing but "target not allowed"."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from crm.adapters.secrets.field_cipher import FieldCipher
from crm.adapters.webhooks.signed import PinnedWebhookSender
from crm.automation.model import Workflow
from crm.domain.automation_actions import ActionFailed
from crm.domain.errors import ValidationFailed
from crm.domain.webhook_responses import excerpt, map_response
from crm.domain.webhooks import TargetPolicy
from crm.services.automation_runtime import WebhookTargetNotAllowed, execute_step
from crm.services.automation_webhooks import (
    OutboundSettings,
    check_workflow,
    issue_signing_secret,
    open_headers,
    public_definition,
    sealed_definition,
)
from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.unit.fakes import FakeStore, FakeUnitOfWork, FakeWebhooks

CIPHER = FieldCipher(bytes(range(32)))
DNS = {"hooks.example": ["93.184.216.34"], "inside.example": ["10.0.0.5"]}


STRICT = TargetPolicy()


def settings(policy: TargetPolicy = STRICT) -> OutboundSettings:
    return OutboundSettings(
        cipher=CIPHER, policy=policy, resolve=lambda host, port: DNS.get(host, [])
    )


def uow_factory(store: FakeStore) -> Callable[[uuid.UUID], FakeUnitOfWork]:
    return lambda tenant_id: FakeUnitOfWork(store, tenant_id)


def workflow(*actions: dict[str, Any], nested: bool = False) -> Workflow:
    steps: list[dict[str, Any]] = [
        {"id": f"s{i}", "type": "action", "action": action} for i, action in enumerate(actions)
    ]
    if nested:
        steps = [
            {
                "id": "cond",
                "type": "condition",
                "when": {"all": [{"field": "x", "op": "exists"}]},
                "then": steps,
            }
        ]
    return Workflow.model_validate({"trigger": {"event": "crm.lead.created"}, "steps": steps})


def hook(url: str = "https://hooks.example/in", **headers: Any) -> dict[str, Any]:
    return {"kind": "webhook", "url": url, "headers": headers}


def model_errors(action: dict[str, Any]) -> dict[tuple[Any, ...], str]:
    with pytest.raises(ValidationError) as caught:
        workflow(action)
    return {tuple(e["loc"][5:]): e["msg"] for e in caught.value.errors()}


@pytest.mark.parametrize(
    "name",
    ["Host", "Content-Length", "Connection", "Transfer-Encoding", "Upgrade", "TE", "Keep-Alive",
     "Proxy-Authorization", "Content-Type", "webhook-signature", "Webhook-Id"],
)  # fmt: skip
def test_hop_by_hop_framing_and_sender_headers_are_refused(name: str) -> None:
    errors = model_errors(hook(**{name: "x"}))
    assert ("headers", name) in errors and "may not be set" in errors[("headers", name)]


@pytest.mark.parametrize(
    "name",
    ["Authorization", "Cookie", "X-Api-Key", "Proxy-Token", "X-Auth-Token", "X-Client-Secret",
     "Api-Key", "X-Session", "X-Password"],
)  # fmt: skip
def test_credential_headers_must_be_marked_secret(name: str) -> None:
    errors = model_errors(hook(**{name: "s3cr3t"}))
    assert "looks like a credential" in errors[("headers", name)]
    workflow(hook(**{name: {"value": "s3cr3t", "secret": True}}))  # accepted as a secret


def test_header_values_and_names_are_checked() -> None:
    assert (
        "control characters"
        in model_errors(hook(**{"X-A": "a\r\nX-B: b"}))[("headers", "X-A", "plain")]
    )
    assert "twice" in model_errors(hook(**{"X-A": "1", "x-a": "2"}))[("headers", "x-a")]
    both = {"secret": True, "value": "v", "sealed": "v1.x"}
    assert (
        "not both"
        in model_errors(hook(**{"Authorization": both}))[("headers", "Authorization", "secret")]
    )
    workflow(hook(**{"X-Tenant": "acme", "Accept": "application/json"}))


def test_url_shape_is_the_models_and_the_policy_the_services() -> None:
    assert "credentials" in model_errors(hook("https://u:p@hooks.example/"))[("url",)]
    assert "valid IPv4" in model_errors(hook("https://1.2.3.4.5/"))[("url",)]
    check_workflow(workflow(hook()), settings())
    with pytest.raises(ValidationFailed) as caught:
        check_workflow(
            workflow(hook(), hook("http://hooks.example/"), hook("https://inside.example/"),
                     hook("https://2852039166/"), nested=True),
            settings(),
        )  # fmt: skip
    locs = {".".join(map(str, p["loc"])): p["msg"] for p in caught.value.extra["errors"]}
    prefix = "body.workflow.steps.0.condition.then"
    assert set(locs) == {
        f"{prefix}.1.action.action.webhook.url",
        f"{prefix}.2.action.action.webhook.url",
        f"{prefix}.3.action.action.webhook.url",
    }
    assert "https" in locs[f"{prefix}.1.action.action.webhook.url"]
    assert "10.0.0.5" not in locs[f"{prefix}.2.action.action.webhook.url"]


def test_secret_headers_are_sealed_bound_and_never_shown() -> None:
    automation_id = uuid.uuid4()
    flow = workflow(hook(**{"Authorization": {"value": "Bearer s3cr3t", "secret": True},
                            "X-Plain": "visible"}))  # fmt: skip
    stored = sealed_definition(flow, automation_id, CIPHER)
    assert "s3cr3t" not in json.dumps(stored)
    sealed = stored["steps"][0]["action"]["headers"]["Authorization"]
    assert sealed["secret"] is True and sealed["sealed"].startswith("v1.")
    shown = public_definition(stored)
    assert shown["steps"][0]["action"]["headers"] == {
        "Authorization": {"secret": True},
        "X-Plain": "visible",
    }
    action = Workflow.model_validate(stored).steps[0].action  # type: ignore[union-attr]
    assert open_headers(action, automation_id, "s0", CIPHER)["Authorization"] == "Bearer s3cr3t"  # type: ignore[arg-type]
    assert action.public_dump()["headers"]["Authorization"] == {"secret": True}  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="context"):  # copied onto another automation
        open_headers(action, uuid.uuid4(), "s0", CIPHER)  # type: ignore[arg-type]
    # A request may not bring a sealed value of its own.
    with pytest.raises(ValidationFailed):
        check_workflow(Workflow.model_validate(stored), settings())


SECRETS: dict[uuid.UUID, str] = {}


def _payload(action: dict[str, Any], automation_id: uuid.UUID, store: FakeStore) -> dict[str, Any]:
    """A Task's payload for the automation; its signing secret is issued into `store`."""
    tenant_id = uuid.uuid4()
    with FakeUnitOfWork(store, tenant_id) as uow:
        SECRETS[automation_id] = issue_signing_secret(uow, automation_id, CIPHER)
        uow.commit()
    return {
        "tenant_id": str(tenant_id), "automation_id": str(automation_id), "version": 1,
        "run_id": str(uuid.uuid4()), "step_id": "s0", "event": {"id": "e1"}, "action": action,
    }  # fmt: skip


def test_the_step_sends_secret_headers_decrypted() -> None:
    automation_id = uuid.uuid4()
    flow = workflow(hook(**{"X-Api-Key": {"value": "k-123", "secret": True}}))
    stored = sealed_definition(flow, automation_id, CIPHER)
    webhooks, store = FakeWebhooks(), FakeStore()
    payload = _payload(stored["steps"][0]["action"], automation_id, store)
    execute_step(payload, unit_of_work=uow_factory(store), webhooks=webhooks, cipher=CIPHER)
    [headers] = webhooks.headers
    assert headers["X-Api-Key"] == "k-123"
    assert headers["webhook-id"] == f"{payload['run_id']}:s0"


@pytest.fixture()
def receiver() -> Iterator[tuple[int, list[str]]]:
    received: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port, received
    server.shutdown()
    server.server_close()


def test_a_name_rebound_to_a_private_address_after_save_is_refused_at_send(
    receiver: tuple[int, list[str]],
) -> None:
    port, received = receiver
    dns = {"rebind.example": ["93.184.216.34"]}
    policy = TargetPolicy(allow_http=True)  # 127.0.0.1 is private here: refused
    url = f"http://rebind.example:{port}/in"
    check_workflow(
        workflow(hook(url)),
        OutboundSettings(CIPHER, policy, lambda host, _port: dns.get(host, [])),
    )
    dns["rebind.example"] = ["127.0.0.1"]  # re-pointed after the save
    sender = PinnedWebhookSender(policy, 2, resolve=lambda host, _port: dns.get(host, []))
    store = FakeStore()
    with pytest.raises(WebhookTargetNotAllowed) as caught:
        execute_step(
            _payload(hook(url), uuid.uuid4(), store),
            unit_of_work=uow_factory(store),
            webhooks=sender,
            cipher=CIPHER,
        )
    assert str(caught.value) == "target not allowed"
    assert received == []
    # The same sender with the relaxation of a local cloud reaches it: the refusal was policy.
    relaxed = PinnedWebhookSender(
        TargetPolicy(allow_http=True, allow_private=True), 2, resolve=lambda h, _p: dns[h]
    )
    execute_step(
        _payload(hook(url), uuid.uuid4(), store),
        unit_of_work=uow_factory(store),
        webhooks=relaxed,
        cipher=CIPHER,
    )
    assert received == ["/in"]


# ------------------------------------------------------------------ signed, answer recorded


@pytest.fixture()
def json_receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Answers 200 with a JSON body a little longer than the kept excerpt."""
    received: list[dict[str, Any]] = []
    answer = json.dumps({"id": "r-1", "items": [{"n": 7}], "pad": "x" * 2000}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", 0)))
            received.append({"headers": dict(self.headers), "raw": raw})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/in", received
    server.shutdown()
    server.server_close()


def test_the_step_signs_with_the_automations_secret_and_records_the_answer(
    json_receiver: tuple[str, list[dict[str, Any]]],
) -> None:
    url, received = json_receiver
    action = hook(url) | {
        "response_mapping": {"remote_id": "/id", "first": "/items/0/n", "gone": "/nope"}
    }
    store, automation_id = FakeStore(), uuid.uuid4()
    payload = _payload(action, automation_id, store)
    sender = PinnedWebhookSender(TargetPolicy(allow_http=True, allow_private=True), 5)

    result = execute_step(payload, unit_of_work=uow_factory(store), webhooks=sender, cipher=CIPHER)

    [request] = received
    verified = Webhook(SECRETS[automation_id]).verify(request["raw"], request["headers"])
    assert verified["run_id"] == payload["run_id"] and verified["step_id"] == "s0"
    assert request["headers"]["webhook-id"] == f"{payload['run_id']}:s0"
    with pytest.raises(WebhookVerificationError):  # another automation's secret
        Webhook(SECRETS[_payload_secret(store)]).verify(request["raw"], request["headers"])
    response = result["response"]
    assert response["status"] == 200 and response["body_truncated"] is True
    assert len(response["body_excerpt"].encode()) == 1024
    assert response["body_excerpt"].startswith('{"id": "r-1"')
    assert result["data"] == {"remote_id": "r-1", "first": 7, "gone": None}
    assert result["mapping_problems"] == ["gone: nothing at '/nope'"]
    # The ledger row holds the same result: a replay answers it without sending again.
    again = execute_step(payload, unit_of_work=uow_factory(store), webhooks=sender, cipher=CIPHER)
    assert again["deduplicated"] is True and again["data"] == result["data"]
    assert len(received) == 1


def _payload_secret(store: FakeStore) -> uuid.UUID:
    other = uuid.uuid4()
    _payload(hook(), other, store)
    return other


def test_a_step_without_a_signing_secret_fails_naming_the_rotation() -> None:
    payload = _payload(hook(), uuid.uuid4(), FakeStore())
    with pytest.raises(ActionFailed, match="webhook-secret/rotate"):
        execute_step(
            payload, unit_of_work=uow_factory(FakeStore()), webhooks=FakeWebhooks(), cipher=CIPHER
        )


def test_excerpts_are_bounded_and_safe_text() -> None:
    kept = excerpt(b"\xff\x00ok" + "é".encode() * 1000)
    assert kept["body_truncated"] is True
    assert "\x00" not in kept["body_excerpt"] and kept["body_excerpt"].startswith("\ufffd\ufffdok")
    assert len(kept["body_excerpt"]) <= 1024
    assert excerpt(b"short") == {"body_excerpt": "short", "body_truncated": False}


def test_response_mapping_pointers() -> None:
    body = json.dumps({"a/b": {"~k": [10, 20]}, "list": [1, 2]}).encode()
    mapping = {"escaped": "/a~1b/~0k/1", "whole": "", "bad_index": "/list/01", "oob": "/list/5"}
    data, problems = map_response(body, True, mapping)
    assert data["escaped"] == 20 and data["whole"]["list"] == [1, 2]
    assert data["bad_index"] is None and data["oob"] is None and len(problems) == 2
    assert map_response(b"<html>", True, {"x": "/x"}) == ({"x": None}, [
        "the answer is not JSON: nothing mapped"
    ])  # fmt: skip
    assert map_response(b"{}", False, {"x": "/x"})[1][0].startswith("the answer is larger")
    assert (
        "JSON pointer"
        in model_errors(hook() | {"response_mapping": {"x": "no-slash"}})[("response_mapping", "x")]
    )


def test_an_update_may_keep_a_stored_secret_header_by_leaving_out_its_value() -> None:
    automation_id = uuid.uuid4()
    secret_header = {"Authorization": {"value": "Bearer one", "secret": True}}
    stored = sealed_definition(workflow(hook(**secret_header)), automation_id, CIPHER)
    # What GET shows, sent back unchanged: the header keeps its sealed value.
    shown = Workflow.model_validate(public_definition(stored))
    with pytest.raises(ValidationFailed) as caught:  # nothing to keep on a create
        check_workflow(shown, settings())
    assert caught.value.extra["errors"][0]["msg"] == "a secret header needs its 'value'"
    check_workflow(shown, settings(), previous=stored)
    updated = sealed_definition(shown, automation_id, CIPHER, previous=stored)
    assert updated == stored
    action = Workflow.model_validate(updated).steps[0].action
    assert open_headers(action, automation_id, "s0", CIPHER) == {"Authorization": "Bearer one"}  # type: ignore[arg-type]
    # Another step (or header name) has nothing to keep: its sealed value is bound elsewhere.
    moved = workflow(hook(), hook(**{"Authorization": {"secret": True}}))
    with pytest.raises(ValidationFailed):
        check_workflow(moved, settings(), previous=stored)
