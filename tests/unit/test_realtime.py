"""Real-time updates without network: the compact message (no personal data), who may receive
an event (role, ownership, API key scopes), the notifier's fan-out (gone connections deleted,
other errors propagate), the ws handler's replies, and RFC 6455 framing of the local gateway."""

from __future__ import annotations

import json
import socket
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from crm.domain.events import CloudEvent
from crm.domain.permissions import BUILTIN_GRANTS
from crm.domain.realtime import (
    ConnectionGone,
    ConnectionRow,
    Listener,
    compact_message,
    event_owners,
    may_receive,
)
from crm.domain.roles import CustomRole
from crm.domain.tenants import Role, RoleGrant
from crm.services import realtime
from websockets.frames import Frame, Opcode

from local.gateway import GatewayRequest, GatewayResponse
from local.template import read_template
from local.websocket import (
    WebSocketApi,
    _Message,
    accept_key,
    read_websocket_spec,
)

ROOT = Path(__file__).resolve().parents[2]
TENANT = uuid.uuid4()
ANA, BOB = uuid.uuid4(), uuid.uuid4()


def lead_event(owner: uuid.UUID | None, event_type: str = "crm.lead.created") -> CloudEvent:
    lead_id = uuid.uuid4()
    data = {
        "lead": {
            "id": str(lead_id),
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "phone": "+351 912",
            "company": "Analytical Engines",
            "status": "new",
            "owner_id": str(owner) if owner else None,
            "tags": ["vip"],
            "custom_fields": {"vat_id": "PT123"},
            "version": 1,
            "created_by": str(ANA),
        }
    }
    return CloudEvent(type=event_type, tenant_id=TENANT, subject=f"leads/{lead_id}", data=data)


def listener(role: Role, user: uuid.UUID = ANA, scopes: frozenset[str] | None = None) -> Listener:
    key = uuid.uuid4() if scopes is not None else None
    return Listener(f"c-{role}-{user}", user, BUILTIN_GRANTS[role], key, scopes)


# ------------------------------------------------------------------ the message


def test_a_message_keeps_ids_statuses_and_versions_and_drops_personal_data() -> None:
    event = lead_event(ANA)
    message = compact_message(event)
    assert message == {
        "type": "crm.lead.created",
        "subject": event.subject,
        "id": str(event.id),
        "time": event.time.isoformat().replace("+00:00", "Z"),
        "data": {
            "lead": {
                "id": event.data["lead"]["id"],
                "status": "new",
                "owner_id": str(ANA),
                "version": 1,
            }
        },
    }
    text = json.dumps(message)
    for personal in ("Ada", "ada@example.com", "+351", "Analytical", "vip", "PT123"):
        assert personal not in text


def test_a_stage_change_keeps_its_stage_ids_and_drops_amounts() -> None:
    data = {
        "deal": {"id": "d1", "title": "Big one", "amount": "1000.00", "stage_id": "s2"},
        "from_stage_id": "s1",
        "to_stage_id": "s2",
        "lost_reason": "price",
        "changes": {"status": {"old": "open", "new": "lost"}, "owner_id": {"old": "a", "new": "b"}},
    }
    event = CloudEvent(
        type="crm.deal.stage_changed", tenant_id=TENANT, subject="deals/d1", data=data
    )
    assert compact_message(event)["data"] == {
        "deal": {"id": "d1", "stage_id": "s2"},
        "from_stage_id": "s1",
        "to_stage_id": "s2",
    }


# ------------------------------------------------------------------ who hears what


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.MANAGER, Role.VIEWER])
def test_roles_that_read_every_lead_hear_of_every_lead(role: Role) -> None:
    assert may_receive(listener(role), lead_event(BOB))


def test_a_seller_hears_of_own_and_unassigned_leads_only() -> None:
    seller = listener(Role.SELLER, ANA)
    assert may_receive(seller, lead_event(ANA))
    assert may_receive(seller, lead_event(None))
    assert not may_receive(seller, lead_event(BOB))


def test_an_assignment_reaches_the_previous_and_the_new_owner_not_a_third_seller() -> None:
    carol = uuid.uuid4()
    event = CloudEvent(
        type="crm.lead.assigned",
        tenant_id=TENANT,
        subject="leads/x",
        data={"lead_id": "x", "from_owner_id": str(ANA), "to_owner_id": str(BOB)},
    )
    assert event_owners(event.data) == {ANA, BOB}
    assert may_receive(listener(Role.SELLER, ANA), event)
    assert may_receive(listener(Role.SELLER, BOB), event)
    assert not may_receive(listener(Role.SELLER, carol), event)


def test_owner_changes_inside_changes_or_malformed_owners_do_not_count_as_owners() -> None:
    data = {"lead": {"id": "1", "owner_id": "not-a-uuid"},
            "changes": {"owner_id": {"old": str(ANA), "new": str(BOB)}}}  # fmt: skip
    event = CloudEvent(type="crm.lead.updated", tenant_id=TENANT, subject="leads/1", data=data)
    assert event_owners(data) is None
    assert not may_receive(listener(Role.SELLER, ANA), event)


def test_a_record_event_naming_no_owner_does_not_reach_a_seller() -> None:
    event = CloudEvent(type="crm.lead.imported", tenant_id=TENANT, subject="imports/1", data={})
    assert not may_receive(listener(Role.SELLER), event)
    assert may_receive(listener(Role.MANAGER), event)


def test_deals_and_contacts_follow_the_same_ownership_rule() -> None:
    for kind in ("deal", "contact"):
        mine = CloudEvent(
            type=f"crm.{kind}.updated",
            tenant_id=TENANT,
            subject=f"{kind}s/1",
            data={kind: {"id": "1", "owner_id": str(ANA)}},
        )
        theirs = CloudEvent(
            type=f"crm.{kind}.updated",
            tenant_id=TENANT,
            subject=f"{kind}s/2",
            data={kind: {"id": "2", "owner_id": str(BOB)}},
        )
        assert may_receive(listener(Role.SELLER, ANA), mine)
        assert not may_receive(listener(Role.SELLER, ANA), theirs)


def test_events_of_no_crm_resource_reach_only_roles_that_administer_the_tenant() -> None:
    event = CloudEvent(type="crm.webhook.created", tenant_id=TENANT, subject="webhooks/1", data={})
    assert may_receive(listener(Role.OWNER), event)
    assert may_receive(listener(Role.ADMIN), event)
    assert not may_receive(listener(Role.MANAGER), event)
    assert not may_receive(listener(Role.SELLER), event)


def test_an_api_key_hears_only_what_its_scopes_allow() -> None:
    assert may_receive(listener(Role.OWNER, scopes=frozenset({"leads:read"})), lead_event(BOB))
    assert not may_receive(listener(Role.OWNER, scopes=frozenset({"deals:read"})), lead_event(BOB))


def test_a_role_without_read_permission_hears_nothing_of_that_resource() -> None:
    no_leads = Listener("c", ANA, RoleGrant(frozenset({"deals:read"})))
    assert not may_receive(no_leads, lead_event(None))


# ------------------------------------------------------------------ the notifier


class FakeConnections:
    def __init__(self, rows: list[ConnectionRow]) -> None:
        self.rows = rows
        self.removed: list[str] = []
        self.reads = 0

    def listeners(self) -> list[ConnectionRow]:
        self.reads += 1
        return [r for r in self.rows if r.connection_id not in self.removed]

    def remove(self, connection_id: str) -> bool:
        self.removed.append(connection_id)
        return True


class FakeCustomRoles:
    def __init__(self, roles: dict[str, CustomRole]) -> None:
        self.roles = roles

    def get(self, key: str, *, for_update: bool = False) -> CustomRole | None:
        return self.roles.get(key)


class FakeUow:
    def __init__(self, connections: FakeConnections, roles: dict[str, CustomRole]) -> None:
        self.ws_connections = connections
        self.custom_roles = FakeCustomRoles(roles)


class Sender:
    def __init__(self, gone: set[str] = frozenset(), broken: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.gone, self.broken = gone, broken
        self.posts: list[tuple[str, dict[str, Any]]] = []

    def post(self, connection_id: str, payload: bytes) -> None:
        if connection_id in self.gone:
            raise ConnectionGone(connection_id)
        if connection_id in self.broken:
            raise RuntimeError("500 from the Management API")
        self.posts.append((connection_id, json.loads(payload)))


def row(cid: str, user: uuid.UUID, role: str, status: str = "active") -> ConnectionRow:
    return ConnectionRow(cid, user, None, None, role, status, datetime.now(UTC))


def test_the_notifier_posts_to_allowed_connections_and_deletes_gone_ones() -> None:
    connections = FakeConnections(
        [
            row("owner", uuid.uuid4(), "owner"),
            row("ana", ANA, "seller"),
            row("bob", BOB, "seller"),
            row("left", uuid.uuid4(), "manager", status="deactivated"),
            row("stale", uuid.uuid4(), "manager"),
        ]
    )
    uow: Any = FakeUow(connections, {})
    sender = Sender(gone={"stale"})
    audience = realtime.Audience()
    report = realtime.notify(lead_event(ANA), uow, audience=audience, sender=sender)
    assert [cid for cid, _ in sender.posts] == ["owner", "ana"]
    assert (report.sent, report.filtered, report.gone) == (2, 1, 1)
    assert connections.removed == ["stale"]
    realtime.notify(lead_event(BOB), uow, audience=audience, sender=sender)
    assert [cid for cid, _ in sender.posts][2:] == ["owner", "bob"]
    assert connections.reads == 1  # users and roles are read once per batch and tenant


def test_a_custom_role_limited_to_own_records_is_filtered_like_a_seller() -> None:
    custom = CustomRole(
        key="closer",
        name="Closer",
        description="",
        permissions=frozenset({"leads:read"}),
        own_records_only=True,
        created_at=datetime.now(UTC),
        updated_at=datetime.now(UTC),
        version=1,
    )
    uow: Any = FakeUow(
        FakeConnections([row("c", ANA, "closer"), row("u", BOB, "ghost")]), {"closer": custom}
    )
    sender = Sender()
    realtime.notify(lead_event(BOB), uow, audience=realtime.Audience(), sender=sender)
    realtime.notify(lead_event(ANA), uow, audience=realtime.Audience(), sender=sender)
    assert [cid for cid, _ in sender.posts] == ["c"]  # an unknown role hears nothing


def test_any_other_post_failure_propagates_for_a_retry() -> None:
    uow: Any = FakeUow(FakeConnections([row("a", ANA, "owner")]), {})
    with pytest.raises(RuntimeError):
        realtime.notify(
            lead_event(ANA), uow, audience=realtime.Audience(), sender=Sender(broken={"a"})
        )


def test_the_connection_caller_comes_from_the_authorizer_context() -> None:
    key = uuid.uuid4()
    context = {"tenant_id": str(TENANT), "user_id": str(ANA), "role": "owner",
               "api_key_id": str(key), "scopes": "deals:read leads:read"}  # fmt: skip
    caller = realtime.ConnectionCaller.from_context(context)
    assert (caller.tenant_id, caller.user_id, caller.api_key_id) == (TENANT, ANA, key)
    assert caller.scopes == {"leads:read", "deals:read"}
    user = realtime.ConnectionCaller.from_context({"tenant_id": str(TENANT), "user_id": str(ANA)})
    assert user.api_key_id is None and user.scopes is None
    with pytest.raises(KeyError):
        realtime.ConnectionCaller.from_context({"user_id": str(ANA)})
    with pytest.raises(ValueError):
        realtime.ConnectionCaller.from_context({"tenant_id": "x", "user_id": str(ANA)})


@pytest.mark.parametrize(
    ("body", "kind"),
    [('{"action": "ping"}', "pong"), ('{"action": "other"}', "error"), ("not json", "error"),
     (None, "error"), ("[1]", "error")],
)  # fmt: skip
def test_the_default_route_answers_ping_with_pong_and_anything_else_with_an_error(
    body: str | None, kind: str
) -> None:
    assert realtime.answer(body)["type"] == kind


# ------------------------------------------------------------------ RFC 6455 (websockets)


def test_the_rfc_accept_key() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_fragments_are_joined_into_one_message() -> None:
    message = _Message()
    assert message.add(Frame(Opcode.TEXT, b"Hel", fin=False)) is None
    assert message.add(Frame(Opcode.CONT, b"lo", fin=True)) == (Opcode.TEXT, b"Hello")
    assert message.add(Frame(Opcode.BINARY, b"\xff")) == (Opcode.BINARY, b"\xff")


def test_utf8_is_checked_across_fragments_of_a_text_message_only() -> None:
    message = _Message()
    euro = "\u20ac".encode()  # 3 bytes, split over two fragments: valid
    assert message.add(Frame(Opcode.TEXT, euro[:1], fin=False)) is None
    assert message.add(Frame(Opcode.CONT, euro[1:], fin=True)) == (Opcode.TEXT, euro)
    with pytest.raises(UnicodeDecodeError):
        message.add(Frame(Opcode.TEXT, b"ok \xff", fin=False))
    with pytest.raises(UnicodeDecodeError):  # a text message may not end mid-character
        _Message().add(Frame(Opcode.TEXT, euro[:2], fin=True))


def test_the_local_cloud_reads_the_templates_websocket_api() -> None:
    spec = read_websocket_spec(read_template(ROOT / "template.yaml"))
    assert spec is not None and spec.api_id == "WsApi"
    assert set(spec.routes) == {"$connect", "$disconnect", "$default"}
    connect = spec.routes["$connect"]
    assert connect.function_id == "WsHandlerFunction"
    assert connect.authorizer_function_id == "AuthorizerFunction"
    assert connect.identity_query_strings == ("token",)
    assert spec.routes["$default"].has_route_response
    assert spec.routes["$disconnect"].authorizer_function_id is None


# ------------------------------------------------------------------ the local WebSocket API


def local_api(authorizer: Any, connect: Any = None) -> tuple[WebSocketApi, list[str]]:
    calls: list[str] = []

    def invoke(function_id: str, event: dict[str, Any]) -> Any:
        calls.append(function_id)
        if function_id == "AuthorizerFunction":
            return authorizer(event)
        return connect(event) if connect else {"statusCode": 200}

    spec = read_websocket_spec(read_template(ROOT / "template.yaml"))
    assert spec is not None
    api = WebSocketApi(spec, "local", invoke)
    api.port = 1234
    return api, calls


def upgrade_request(query: str = "token=t", method: str = "GET") -> GatewayRequest:
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
               ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")]  # fmt: skip
    return GatewayRequest(method, "/ws", query, headers, b"", "127.0.0.1", "localhost")


def allow(event: dict[str, Any]) -> dict[str, Any]:
    assert event["queryStringParameters"] == {"token": "t"}
    assert event["requestContext"]["routeKey"] == "$connect"
    policy = {"Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow",
                             "Resource": event["methodArn"]}]}  # fmt: skip
    return {"principalId": "u", "policyDocument": policy, "context": {"tenant_id": "t"}}


def test_an_upgrade_runs_the_authorizer_then_connect_with_its_context() -> None:
    seen: list[dict[str, Any]] = []
    api, calls = local_api(allow, lambda e: seen.append(e) or {"statusCode": 200})
    outcome = api.upgrade(upgrade_request())
    assert isinstance(outcome, tuple)
    connection_id, context = outcome
    assert connection_id.startswith("1234.") and context["tenant_id"] == "t"
    assert calls == ["AuthorizerFunction", "WsHandlerFunction"]
    assert seen[0]["requestContext"]["authorizer"]["principalId"] == "u"
    assert seen[0]["requestContext"]["eventType"] == "CONNECT"


def deny(event: dict[str, Any]) -> dict[str, Any]:
    policy = {"Statement": [{"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": "*"}]}
    return {"principalId": "u", "policyDocument": policy}


def unauthorized(event: dict[str, Any]) -> Any:
    raise Exception("Unauthorized")


def broken(event: dict[str, Any]) -> Any:
    raise RuntimeError("database down")


@pytest.mark.parametrize(
    ("authorizer", "query", "status", "calls"),
    [(allow, "", 401, []), (allow, "token=", 401, []), (unauthorized, "token=t", 401, 1),
     (deny, "token=t", 403, 1), (broken, "token=t", 500, 1), (lambda e: {"x": 1}, "token=t", 500, 1)],
)  # fmt: skip
def test_refused_upgrades_answer_as_api_gateway_does(
    authorizer: Any, query: str, status: int, calls: Any
) -> None:
    api, made = local_api(authorizer)
    outcome = api.upgrade(upgrade_request(query))
    assert isinstance(outcome, GatewayResponse) and outcome.status == status
    assert made == ([] if calls == [] else ["AuthorizerFunction"])  # $connect never ran


def test_a_failing_or_refusing_connect_handler_refuses_the_upgrade() -> None:
    api, _ = local_api(allow, broken)
    refused = api.upgrade(upgrade_request())
    assert isinstance(refused, GatewayResponse) and refused.status == 500
    api, _ = local_api(allow, lambda e: {"statusCode": 403})
    refused = api.upgrade(upgrade_request())
    assert isinstance(refused, GatewayResponse) and refused.status == 403
    api, _ = local_api(allow)
    not_get = api.upgrade(upgrade_request(method="POST"))
    assert isinstance(not_get, GatewayResponse) and not_get.status == 400


def test_the_management_api_answers_gone_for_unknown_or_unreachable_connections() -> None:
    api, _ = local_api(allow)
    for method in ("POST", "GET", "DELETE"):
        request = GatewayRequest(method, "/@connections/1234.nope", "", [], b"x", "127.0.0.1", "h")
        response = api.manage(request)
        assert response is not None and response.status == 410
        assert ("x-amzn-ErrorType", "GoneException") in response.headers
    # another gateway's connection: forwarded; a gateway that is gone means 410 too
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    request = GatewayRequest("POST", f"/@connections/{dead_port}.x", "", [], b"x", "127.0.0.1", "h")
    forwarded = api.manage(request)
    assert forwarded is not None and forwarded.status == 410
    assert api.manage(GatewayRequest("GET", "/leads", "", [], b"", "127.0.0.1", "h")) is None
