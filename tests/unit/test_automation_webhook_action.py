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
from crm.domain.errors import ValidationFailed
from crm.domain.webhooks import TargetPolicy
from crm.services.automation_runtime import WebhookTargetNotAllowed, execute_step
from crm.services.automation_webhooks import (
    OutboundSettings,
    check_workflow,
    open_headers,
    public_definition,
    sealed_definition,
)
from pydantic import ValidationError

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
    assert model_errors(hook(**{"Authorization": {"secret": True}}))
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


def _payload(action: dict[str, Any], automation_id: uuid.UUID) -> dict[str, Any]:
    return {
        "tenant_id": str(uuid.uuid4()), "automation_id": str(automation_id), "version": 1,
        "run_id": str(uuid.uuid4()), "step_id": "s0", "event": {"id": "e1"}, "action": action,
    }  # fmt: skip


def test_the_step_sends_secret_headers_decrypted() -> None:
    automation_id = uuid.uuid4()
    flow = workflow(hook(**{"X-Api-Key": {"value": "k-123", "secret": True}}))
    stored = sealed_definition(flow, automation_id, CIPHER)
    webhooks = FakeWebhooks()
    payload = _payload(stored["steps"][0]["action"], automation_id)
    execute_step(payload, unit_of_work=uow_factory(FakeStore()), webhooks=webhooks, cipher=CIPHER)
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
            _payload(hook(url), uuid.uuid4()), unit_of_work=uow_factory(store), webhooks=sender
        )
    assert str(caught.value) == "target not allowed"
    assert received == []
    # The same sender with the relaxation of a local cloud reaches it: the refusal was policy.
    relaxed = PinnedWebhookSender(
        TargetPolicy(allow_http=True, allow_private=True), 2, resolve=lambda h, _p: dns[h]
    )
    execute_step(
        _payload(hook(url), uuid.uuid4()), unit_of_work=uow_factory(store), webhooks=relaxed
    )
    assert received == ["/in"]
