"""Real-time updates through the local cloud: WebSocket clients (the `websockets` library's
client, not the gateway's own code) connect to the gateway's /ws with ?token=, the REST API
commits a change, the outbox relay publishes it, the realtime notifier (q.realtime) posts the
compact message through the gateway's Management-API-compatible @connections endpoint."""

from __future__ import annotations

import base64
import json
import statistics
import time
import uuid
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from crm.adapters.postgres.connection import ConnectionPool
from crm.adapters.postgres.migrations import MigrationResult
from crm.adapters.postgres.unit_of_work import PostgresDatabase
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.e2e.conftest import LocalCloudProcess
from tests.e2e.test_dead_letters_api import add_user, log_in
from tests.e2e.test_walking_skeleton import Client, sign_up_and_log_in

pytestmark = pytest.mark.e2e


class Refused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class WsClient:
    def __init__(self, base_url: str, token: str) -> None:
        url = base_url.replace("http://", "ws://", 1) + f"/ws?token={quote(token)}"
        try:
            self.ws: ClientConnection = connect(
                url, compression=None, proxy=None, open_timeout=10, ping_interval=None
            )
        except InvalidStatus as error:
            raise Refused(error.response.status_code) from None

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send(json.dumps(message))

    def receive(self, timeout: float) -> dict[str, Any] | None:
        """The next text message, None when none comes within `timeout` s."""
        try:
            while True:
                data = self.ws.recv(timeout)
                if isinstance(data, str):
                    message: dict[str, Any] = json.loads(data)
                    return message
        except (TimeoutError, ConnectionClosed):
            return None

    def wait_for(self, predicate: Any, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.receive(left)
            if message is not None and predicate(message):
                return message
        pytest.fail("no matching message")

    def heard(self, quiet_for: float) -> list[dict[str, Any]]:
        """Every message that arrives until `quiet_for` s pass without one."""
        messages = []
        while (message := self.receive(quiet_for)) is not None:
            messages.append(message)
        return messages

    def close(self) -> None:
        self.ws.close()


@pytest.fixture(scope="module")
def db(migrated: MigrationResult) -> PostgresDatabase:
    return PostgresDatabase(ConnectionPool(migrated.app_url, 2))


def token_of(client: Client) -> str:
    return client.headers["Authorization"].removeprefix("Bearer ")


def connections_of(admin_conn: Any, tenant_id: str) -> int:
    rows = admin_conn.run(
        "SELECT count(*) FROM ws_connections WHERE tenant_id = CAST(:t AS uuid)", t=tenant_id
    )
    return int(rows[0][0])


def about(lead_id: str, event_type: str = "crm.lead.created") -> Any:
    return lambda m: m.get("type") == event_type and m.get("subject") == f"leads/{lead_id}"


def test_a_connected_client_hears_of_a_lead_created_over_rest_without_its_personal_data(
    local_cloud: LocalCloudProcess, admin_conn: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    owner, signup = sign_up_and_log_in(local_cloud.url, "Realtime")
    stranger, _ = sign_up_and_log_in(local_cloud.url, "Stranger")
    ws = WsClient(local_cloud.url, token_of(owner))
    other_tenant = WsClient(local_cloud.url, token_of(stranger))
    assert connections_of(admin_conn, signup["id"]) == 1
    ws.send({"action": "ping"})
    assert ws.receive(10) == {"type": "pong"}
    ws.send({"action": "subscribe"})
    assert ws.receive(10) == {
        "type": "error",
        "message": 'unknown message; send {"action": "ping"}',
    }

    created = owner.post(
        "/leads", {"name": "Ada Secret", "email": "ada@secret.example.com", "phone": "+351 1"}
    )
    assert created.status_code == 201, created.text
    lead = created.json()
    message = ws.wait_for(about(lead["id"]))
    assert message["id"] and message["time"]
    assert message["data"]["lead"]["id"] == lead["id"]
    assert message["data"]["lead"]["status"] == lead["status"]
    text = json.dumps(message)
    for personal in ("Ada Secret", "ada@secret.example.com", "+351 1"):
        assert personal not in text
    # Another tenant's connection hears nothing of it: everything it hears up to a sentinel of
    # its own, created after the lead reached the owner, is about its own tenant.
    sentinel = stranger.post("/leads", {"name": "Sentinel"})
    assert sentinel.status_code == 201, sentinel.text
    heard: list[dict[str, Any]] = []
    other_tenant.wait_for(lambda m: heard.append(m) or about(sentinel.json()["id"])(m))
    assert [m for m in heard if m.get("subject") == f"leads/{lead['id']}"] == []
    assert all(m.get("subject") != f"tenants/{signup['id']}" for m in heard)

    # REST commit -> WebSocket message, over a series of leads
    latencies = []
    for index in range(50):
        started = time.monotonic()
        lead_id = owner.post("/leads", {"name": f"Lead {index}"}).json()["id"]
        ws.wait_for(about(lead_id))
        latencies.append(time.monotonic() - started)
    with capsys.disabled():
        print(f"\n== REST commit -> WebSocket message: p50 {statistics.median(latencies):.3f} s, "
              f"max {max(latencies):.3f} s over {len(latencies)} leads")  # fmt: skip
    ws.close()
    other_tenant.close()


def test_a_connection_with_a_bad_or_missing_token_is_refused(
    local_cloud: LocalCloudProcess,
) -> None:
    for token in ("not-a-token", "eyJhbGciOiJFZERTQSJ9.e30.c2ln", "crm_live_nope"):
        with pytest.raises(Refused) as refused:
            WsClient(local_cloud.url, token)
        assert refused.value.status == 401, token
    with pytest.raises(Refused) as missing:
        WsClient(local_cloud.url, "")
    assert missing.value.status == 401


def test_a_seller_hears_of_own_and_unassigned_leads_but_not_of_another_sellers(
    local_cloud: LocalCloudProcess, db: PostgresDatabase
) -> None:
    owner, signup = sign_up_and_log_in(local_cloud.url, "RealtimeSellers")
    tenant_id = uuid.UUID(signup["id"])
    ana = log_in(local_cloud.url, add_user(db, tenant_id, signup["slug"], "seller"))
    bob = log_in(local_cloud.url, add_user(db, tenant_id, signup["slug"], "seller"))
    owner_ws = WsClient(local_cloud.url, token_of(owner))
    ana_ws = WsClient(local_cloud.url, token_of(ana))
    bob_ws = WsClient(local_cloud.url, token_of(bob))

    anas = ana.post("/leads", {"name": "Ana's lead"}).json()
    nobodys = owner.post("/leads", {"name": "Nobody's lead", "owner_id": None}).json()
    assert anas["owner_id"] == str(user_id_of(ana)) and nobodys["owner_id"] is None
    both = {anas["id"], nobodys["id"]}
    assert subjects_until(owner_ws, both) >= both
    assert subjects_until(ana_ws, both) >= both
    # Bob hears of the unassigned lead; Ana's was posted before (the owner heard it): Bob
    # got nothing about it, now or after
    heard_by_bob = subjects_until(bob_ws, {nobodys["id"]})
    heard_by_bob |= {str(m.get("subject")).removeprefix("leads/") for m in bob_ws.heard(1.5)}
    assert nobodys["id"] in heard_by_bob and anas["id"] not in heard_by_bob
    for ws in (owner_ws, ana_ws, bob_ws):
        ws.close()


def user_id_of(client: Client) -> str:
    """The user id of a client's access token (its sub claim)."""
    payload = token_of(client).split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["sub"])


def subjects_until(ws: WsClient, wanted: set[str], timeout: float = 20) -> set[Any]:
    """Subjects of crm.lead.created messages heard until every wanted one came."""
    heard: set[Any] = set()
    deadline = time.monotonic() + timeout
    while not wanted <= heard and (left := deadline - time.monotonic()) > 0:
        message = ws.receive(left)
        if message is not None and message.get("type") == "crm.lead.created":
            heard.add(str(message.get("subject")).removeprefix("leads/"))
    return heard


def test_a_closed_connection_leaves_no_row_behind(
    local_cloud: LocalCloudProcess, admin_conn: Any
) -> None:
    owner, signup = sign_up_and_log_in(local_cloud.url, "RealtimeClose")
    ws = WsClient(local_cloud.url, token_of(owner))
    assert connections_of(admin_conn, signup["id"]) == 1
    assert ws.ws.ping(b"hi").wait(10)  # answered by a pong with that payload
    ws.close()
    deadline = time.monotonic() + 10
    while connections_of(admin_conn, signup["id"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert connections_of(admin_conn, signup["id"]) == 0


def test_a_connection_whose_socket_is_gone_is_deleted_and_the_others_still_hear(
    local_cloud: LocalCloudProcess, admin_conn: Any
) -> None:
    owner, signup = sign_up_and_log_in(local_cloud.url, "RealtimeStale")
    live = WsClient(local_cloud.url, token_of(owner))
    port = urlsplit(local_cloud.url).port
    stale = f"{port}.stale-{uuid.uuid4().hex[:8]}"  # its socket is gone (say, a lost $disconnect)
    admin_conn.run(
        "INSERT INTO ws_connections (connection_id, tenant_id, user_id)"
        " VALUES (:c, CAST(:t AS uuid), CAST(:u AS uuid))",
        c=stale,
        t=signup["id"],
        u=user_id_of(owner),
    )
    assert connections_of(admin_conn, signup["id"]) == 2
    lead_id = owner.post("/leads", {"name": "Still heard"}).json()["id"]
    live.wait_for(about(lead_id))
    deadline = time.monotonic() + 10
    while connections_of(admin_conn, signup["id"]) > 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    rows = admin_conn.run(
        "SELECT connection_id FROM ws_connections WHERE tenant_id = CAST(:t AS uuid)",
        t=signup["id"],
    )
    assert [r[0] for r in rows] != [stale] and len(rows) == 1  # the 410 deleted the stale row
    live.close()


def test_a_text_message_that_is_not_utf8_closes_the_connection_with_1007(
    local_cloud: LocalCloudProcess, admin_conn: Any
) -> None:
    owner, signup = sign_up_and_log_in(local_cloud.url, "RealtimeUtf8")
    ws = WsClient(local_cloud.url, token_of(owner))
    ws.ws.send(b'{"action": "ping", "x": "\xff\xfe"}', text=True)  # a text frame, not UTF-8
    with pytest.raises(ConnectionClosedError) as closed:
        ws.ws.recv(10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007
    deadline = time.monotonic() + 10  # $disconnect ran: the connection row is gone
    while connections_of(admin_conn, signup["id"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert connections_of(admin_conn, signup["id"]) == 0
