"""A local API Gateway WebSocket API (v2) for the template's ``AWS::ApiGatewayV2::Api``
(``ProtocolType: WEBSOCKET``), served by the local gateway on its own port at ``/ws``, and a
Management-API-compatible ``@connections`` endpoint on the same port.

What API Gateway does, this does: the upgrade runs the ``$connect`` route's REQUEST authorizer
(identity sources ``route.request.querystring.X`` / ``route.request.header.X``; a missing one
is 401 without calling it, ``Unauthorized`` is 401, a policy that does not allow the route is
403), then the ``$connect`` integration (an exception or a non-2xx answer refuses the upgrade
with that status); every text message is routed by the API's ``$request.body.action``
selection (``$default`` otherwise) and the integration's body goes back to the client when the
route has a route response; closing (either side, or ``DELETE @connections/{id}``) invokes
``$disconnect``. The authorizer's context reaches every route of the connection. Messages
posted to a closed connection answer 410 ``GoneException`` (moto's Management API never does:
the local cloud owns connection liveness, see ARCHITECTURE §5).

Not emulated: the 10-minute idle and 2-hour connection limits, binary-frame routing, and the
Management API's SigV4 check (the gateway listens on 127.0.0.1 only).

RFC 6455 framing is the ``websockets`` library's sans-I/O protocol (``websockets.protocol``):
frames are parsed and checked there (masking, control frames, sizes over 128 KiB close with
1009, ping -> pong, the close handshake); this module reassembles fragmented messages and
checks that a text message is UTF-8 (else it closes with 1007, as RFC 6455 wants). The HTTP
upgrade itself is answered by the gateway.
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import hashlib
import json
import logging
import re
import secrets
import socket
import threading
import time
import traceback
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol as WsProtocol
from websockets.protocol import Side, State

from local.authorizers import policy_allows, run_authorizer
from local.environment import ACCOUNT_ID, REGION
from local.http_api import GatewayRequest, GatewayResponse, Invoke
from local.template import Template

log = logging.getLogger(__name__)

WEBSOCKET_PATH = "/ws"
MANAGEMENT_PREFIX = "/@connections/"
API_TYPE = "AWS::ApiGatewayV2::Api"
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's WebSocket message limit

OP_TEXT, OP_BINARY = Opcode.TEXT, Opcode.BINARY
CLOSE_NORMAL, CLOSE_GOING_AWAY, CLOSE_INVALID_DATA = 1000, 1001, 1007


class Reader(Protocol):
    def read1(self, size: int, /) -> bytes: ...


class Writer(Protocol):
    def write(self, data: bytes, /) -> Any: ...
    def flush(self) -> Any: ...


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a client's Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()  # noqa: S324 - RFC 6455


# ------------------------------------------------------------------ the template's WebSocket API


@dataclass(frozen=True)
class WsRoute:
    route_key: str
    function_id: str
    authorizer_function_id: str | None = None
    identity_query_strings: tuple[str, ...] = ()
    identity_headers: tuple[str, ...] = ()
    has_route_response: bool = False


@dataclass(frozen=True)
class WebSocketSpec:
    api_id: str
    routes: Mapping[str, WsRoute]


def _ref(value: Any) -> str | None:
    return str(value["Ref"]) if isinstance(value, dict) and "Ref" in value else None


def _sub_names(value: Any) -> list[str]:
    text = value.get("Fn::Sub") if isinstance(value, dict) else value
    if isinstance(text, list):
        text = text[0]
    return re.findall(r"\$\{([^}!]+)\}", str(text or ""))


def _function_of_uri(uri: Any, where: str) -> str:
    for name in _sub_names(uri):
        if name.endswith(".Arn"):
            return name[: -len(".Arn")]
    raise ValueError(f"{where}: the URI must !Sub a function's ${{Function.Arn}}")


def read_websocket_spec(template: Template) -> WebSocketSpec | None:
    """The template's (one) WebSocket API, or None when it declares none."""
    apis = [
        rid
        for rid, r in template.resources_of_type(API_TYPE).items()
        if str(r.properties.get("ProtocolType", "")).upper() == "WEBSOCKET"
    ]
    if not apis:
        return None
    if len(apis) > 1:
        raise ValueError(f"the local cloud serves one WebSocket API, the template has {apis}")
    api_id = apis[0]
    resources = template.resources
    route_responses = {
        _ref(r.properties.get("RouteId"))
        for r in template.resources_of_type("AWS::ApiGatewayV2::RouteResponse").values()
    }
    routes: dict[str, WsRoute] = {}
    for rid, route in template.resources_of_type("AWS::ApiGatewayV2::Route").items():
        props = route.properties
        if _ref(props.get("ApiId")) != api_id:
            continue
        targets = _sub_names(props.get("Target"))
        if not targets or targets[0] not in resources:
            raise ValueError(f"{rid}: Target must be !Sub integrations/${{Integration}}")
        integration = resources[targets[0]].properties
        function_id = _function_of_uri(integration.get("IntegrationUri"), targets[0])
        authorizer_id = _ref(props.get("AuthorizerId"))
        authorizer: str | None = None
        queries: list[str] = []
        headers: list[str] = []
        if authorizer_id is not None:
            auth = resources[authorizer_id].properties
            authorizer = _function_of_uri(auth.get("AuthorizerUri"), authorizer_id)
            for source in auth.get("IdentitySource") or []:
                kind, _, name = str(source).removeprefix("route.request.").partition(".")
                (queries if kind == "querystring" else headers).append(name)
        key = str(props["RouteKey"])
        routes[key] = WsRoute(
            key, function_id, authorizer, tuple(queries), tuple(headers), rid in route_responses
        )
    return WebSocketSpec(api_id, routes)


# ------------------------------------------------------------------ connections


@dataclass
class Connection:
    connection_id: str
    sock: socket.socket
    writer: Writer
    protocol: WsProtocol
    authorizer: dict[str, Any]
    source_ip: str
    user_agent: str | None
    host: str
    connected_at: float = field(default_factory=time.time)
    last_active_at: float = field(default_factory=time.time)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False

    def send(self, opcode: int, payload: bytes) -> None:
        with self.lock:
            if self.closed or self.protocol.state is not State.OPEN:
                raise ConnectionError("closed")
            if opcode == OP_TEXT:
                self.protocol.send_text(payload)
            else:
                self.protocol.send_binary(payload)
            self.flush()

    def flush(self) -> None:
        """Writes what the protocol has to send (the lock held)."""
        for data in self.protocol.data_to_send():
            if data:
                self.writer.write(data)
            else:  # SEND_EOF: the server closes the TCP connection after the close frame
                self.writer.flush()
                with contextlib.suppress(OSError):
                    self.sock.shutdown(socket.SHUT_WR)
        self.writer.flush()

    def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Sends a close frame once and shuts the socket down: the read loop then ends."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            try:
                if self.protocol.state is State.OPEN:
                    self.protocol.send_close(code, reason)
                self.flush()
            except OSError:
                pass
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)


_DATA_OPCODES = (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)


class _Message:
    """Joins a message's fragments; a text message's UTF-8 is checked as its frames arrive
    (UnicodeDecodeError at the first invalid byte)."""

    def __init__(self) -> None:
        self.opcode: int | None = None
        self.parts: list[bytes] = []
        self.decoder: codecs.IncrementalDecoder | None = None

    def add(self, frame: Frame) -> tuple[int, bytes] | None:
        if frame.opcode is not Opcode.CONT:
            self.opcode, self.parts = frame.opcode, []
            self.decoder = (
                codecs.getincrementaldecoder("utf-8")() if frame.opcode is OP_TEXT else None
            )
        self.parts.append(bytes(frame.data))
        if self.decoder is not None:
            self.decoder.decode(frame.data, final=frame.fin)
        if not frame.fin or self.opcode is None:
            return None
        complete = (self.opcode, b"".join(self.parts))
        self.opcode, self.parts, self.decoder = None, [], None
        return complete


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


class WebSocketApi:
    def __init__(self, spec: WebSocketSpec, stage: str, invoke: Invoke) -> None:
        self.spec = spec
        self.stage = stage
        self._invoke = invoke
        self._connections: dict[str, Connection] = {}
        self._lock = threading.Lock()
        self.port = 0  # the gateway's, set when it starts

    def new_connection_id(self) -> str:
        """``<gateway port>.<random>``: several local clouds may consume the same queues on
        one broker (competing consumers), so a notifier may hold another gateway's connection
        id; the id says which gateway to forward the Management API call to."""
        return f"{self.port}.{secrets.token_urlsafe(12)}"

    # -------------------------------------------------------------- upgrade

    @staticmethod
    def accept(key: str) -> str:
        return accept_key(key)

    @staticmethod
    def is_upgrade(path: str, upgrade_header: str | None) -> bool:
        return path == WEBSOCKET_PATH and "websocket" in (upgrade_header or "").lower()

    def method_arn(self, route_key: str) -> str:
        return (
            f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{self.spec.api_id}/{self.stage}/{route_key}"
        )

    def _context(
        self, connection_id: str, route_key: str, event_type: str, request: GatewayRequest
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {
            "routeKey": route_key,
            "eventType": event_type,
            "messageDirection": "IN",
            "extendedRequestId": request.request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "stage": self.stage,
            "connectedAt": int(now.timestamp() * 1000),
            "identity": {"sourceIp": request.source_ip, "userAgent": request.header("User-Agent")},
            "requestId": request.request_id,
            "domainName": request.host,
            "connectionId": connection_id,
            "apiId": self.spec.api_id,
        }

    def _connect_event(
        self, connection_id: str, request: GatewayRequest, authorizer: dict[str, Any] | None
    ) -> dict[str, Any]:
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for name, value in request.header_items:
            headers[name] = value
            multi_headers.setdefault(name, []).append(value)
        query: dict[str, str] = {}
        multi_query: dict[str, list[str]] = {}
        for name, value in request.query_items:
            query[name] = value
            multi_query.setdefault(name, []).append(value)
        context = self._context(connection_id, "$connect", "CONNECT", request)
        if authorizer is not None:
            context["authorizer"] = authorizer
        return {
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": multi_query or None,
            "requestContext": context,
            "isBase64Encoded": False,
        }

    def upgrade(self, request: GatewayRequest) -> GatewayResponse | tuple[str, dict[str, Any]]:
        """Authorizes and connects; a refusal as the HTTP response to send, else the new
        connection's id and authorizer context (the caller answers 101 and calls ``serve``)."""
        key = request.header("Sec-WebSocket-Key")
        if (
            request.method != "GET"
            or request.header("Sec-WebSocket-Version") != "13"
            or not key
            or "upgrade" not in (request.header("Connection") or "").lower()
        ):
            return GatewayResponse.message(400, "Bad WebSocket upgrade request")
        route = self.spec.routes.get("$connect")
        connection_id = self.new_connection_id()
        authorizer: dict[str, Any] | None = None
        if route is not None and route.authorizer_function_id is not None:
            outcome = self._authorize(route, connection_id, request)
            if isinstance(outcome, GatewayResponse):
                return outcome
            authorizer = outcome
        if route is not None:
            event = self._connect_event(connection_id, request, authorizer)
            try:
                result = self._invoke(route.function_id, event)
            except Exception:
                log.error("%s ($connect) raised:\n%s", route.function_id, traceback.format_exc())
                return GatewayResponse.message(500, "Internal server error")
            status = result.get("statusCode", 200) if isinstance(result, dict) else 200
            if not 200 <= int(status) < 300:
                return GatewayResponse.message(int(status), "Connection refused")
        return connection_id, authorizer or {}

    def _authorize(
        self, route: WsRoute, connection_id: str, request: GatewayRequest
    ) -> dict[str, Any] | GatewayResponse:
        identity = [request.query(q) for q in route.identity_query_strings]
        identity += [request.header(h) for h in route.identity_headers]
        if not identity or any(not value for value in identity):
            return GatewayResponse.message(401, "Unauthorized")
        arn = self.method_arn("$connect")
        connect = self._connect_event(connection_id, request, None)
        event = {
            "type": "REQUEST",
            "methodArn": arn,
            "headers": connect["headers"],
            "multiValueHeaders": connect["multiValueHeaders"],
            "queryStringParameters": connect["queryStringParameters"] or {},
            "multiValueQueryStringParameters": connect["multiValueQueryStringParameters"] or {},
            "stageVariables": {},
            "requestContext": connect["requestContext"],
        }
        assert route.authorizer_function_id is not None
        outcome = run_authorizer(
            self._invoke, route.authorizer_function_id, event, "WebSocket $connect"
        )
        if isinstance(outcome, GatewayResponse):
            return outcome
        output = outcome
        if not policy_allows(output.policy_document, arn):
            return GatewayResponse.message(403, "Forbidden")
        return {**output.context, "principalId": output.principal_id}

    # -------------------------------------------------------------- an open connection

    def serve(
        self,
        connection_id: str,
        authorizer: dict[str, Any],
        request: GatewayRequest,
        sock: socket.socket,
        reader: Reader,
        writer: Writer,
    ) -> None:
        """Runs the connection until it closes, then invokes ``$disconnect``."""
        protocol = WsProtocol(Side.SERVER, max_size=MAX_MESSAGE_BYTES)
        connection = Connection(
            connection_id,
            sock,
            writer,
            protocol,
            authorizer,
            request.source_ip,
            request.header("User-Agent"),
            request.host,
        )
        with self._lock:
            self._connections[connection_id] = connection
        reason, code = "Going away", CLOSE_GOING_AWAY
        message = _Message()
        try:
            while True:
                data = reader.read1(65536)
                with connection.lock:
                    if data:
                        protocol.receive_data(data)
                    else:
                        protocol.receive_eof()
                    frames = protocol.events_received()
                    connection.flush()  # pongs, the close handshake, a failure's close
                for frame in frames:
                    if isinstance(frame, Frame) and frame.opcode in _DATA_OPCODES:
                        complete = message.add(frame)
                        if complete is None:
                            continue
                        connection.last_active_at = time.time()
                        self._on_message(connection, request, *complete)
                if protocol.close_rcvd is not None:
                    reason, code = (
                        protocol.close_rcvd.reason or "Client closed",
                        (protocol.close_rcvd.code),
                    )
                if protocol.close_sent is not None and protocol.close_rcvd is None:
                    reason, code = protocol.close_sent.reason, protocol.close_sent.code
                if not data or protocol.state in (State.CLOSING, State.CLOSED):
                    break
        except UnicodeDecodeError as error:
            reason, code = f"invalid UTF-8 in a text message: {error.reason}", CLOSE_INVALID_DATA
            with connection.lock, contextlib.suppress(OSError):
                protocol.fail(CLOSE_INVALID_DATA, "invalid UTF-8")
                connection.flush()
        except OSError:
            reason, code = "Going away", CLOSE_GOING_AWAY
        finally:
            with self._lock:
                self._connections.pop(connection_id, None)
            connection.close()
            self._disconnect(connection, request, code, reason)

    def _on_message(
        self, connection: Connection, request: GatewayRequest, opcode: int, payload: bytes
    ) -> None:
        body = payload.decode("utf-8", errors="replace")  # binary frames: as API Gateway
        route_key = "$default"
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and str(parsed.get("action")) in self.spec.routes:
            route_key = str(parsed["action"])
        route = self.spec.routes.get(route_key)
        request_id = str(uuid.uuid4())
        if route is None or route_key in ("$connect", "$disconnect"):
            self._error(connection, "Forbidden", request_id)
            return
        context = self._context(connection.connection_id, route_key, "MESSAGE", request)
        context.update(requestId=request_id, messageId=request_id, authorizer=connection.authorizer)
        event = {"requestContext": context, "body": body, "isBase64Encoded": False}
        try:
            result = self._invoke(route.function_id, event)
        except Exception:
            log.error("%s (%s) raised:\n%s", route.function_id, route_key, traceback.format_exc())
            self._error(connection, "Internal server error", request_id)
            return
        reply = result.get("body") if isinstance(result, dict) else None
        if route.has_route_response and isinstance(reply, str) and reply:
            connection.send(OP_TEXT, reply.encode())

    def _error(self, connection: Connection, message: str, request_id: str) -> None:
        body = {"message": message, "connectionId": connection.connection_id}
        connection.send(OP_TEXT, json.dumps({**body, "requestId": request_id}).encode())

    def _disconnect(
        self, connection: Connection, request: GatewayRequest, code: int, reason: str
    ) -> None:
        route = self.spec.routes.get("$disconnect")
        if route is None:
            return
        context = self._context(connection.connection_id, "$disconnect", "DISCONNECT", request)
        context.update(
            authorizer=connection.authorizer, disconnectStatusCode=code, disconnectReason=reason
        )
        try:
            self._invoke(route.function_id, {"requestContext": context, "isBase64Encoded": False})
        except Exception:
            log.error("%s ($disconnect) raised:\n%s", route.function_id, traceback.format_exc())

    def close_all(self) -> None:
        with self._lock:
            connections = list(self._connections.values())
        for connection in connections:
            connection.close(CLOSE_GOING_AWAY, "Server stopping")

    # -------------------------------------------------------------- the Management API

    def manage(self, request: GatewayRequest) -> GatewayResponse | None:
        """``POST``/``GET``/``DELETE /@connections/{id}``; None for any other path."""
        path = request.path.replace("%40", "@")
        if not path.startswith(MANAGEMENT_PREFIX):
            return None
        connection_id = path[len(MANAGEMENT_PREFIX) :].strip("/")
        with self._lock:
            connection = self._connections.get(connection_id)
        owner = connection_id.split(".", 1)[0]
        if connection is None and owner.isdigit() and int(owner) not in (0, self.port):
            return _forward(int(owner), request, connection_id)
        if connection is None or connection.closed:
            return GatewayResponse.message(410, None, "GoneException")
        if request.method == "POST":
            if len(request.body) > MAX_MESSAGE_BYTES:
                return GatewayResponse.message(413, "Message too long", "PayloadTooLargeException")
            try:
                opcode = OP_TEXT
                request.body.decode("utf-8")
            except UnicodeDecodeError:
                opcode = OP_BINARY
            try:
                connection.send(opcode, request.body)
            except OSError:
                return GatewayResponse.message(410, None, "GoneException")
            return GatewayResponse(200, [], b"")
        if request.method == "GET":
            body = {
                "ConnectedAt": _iso(connection.connected_at),
                "LastActiveAt": _iso(connection.last_active_at),
                "Identity": {"SourceIp": connection.source_ip, "UserAgent": connection.user_agent},
            }
            return GatewayResponse(
                200, [("Content-Type", "application/json")], json.dumps(body).encode()
            )
        if request.method == "DELETE":
            connection.close(CLOSE_NORMAL, "Deleted")
            return GatewayResponse(204, [], b"")
        return GatewayResponse.message(403, "Missing Authentication Token")


# the notifier's setting naming the Management API endpoint (set by the local cloud)
WEBSOCKET_MANAGEMENT_URL = "WEBSOCKET_MANAGEMENT_URL"


def websocket_api(template: Template, stage: str, invoke: Invoke) -> WebSocketApi | None:
    spec = read_websocket_spec(template)
    return WebSocketApi(spec, stage, invoke) if spec is not None else None


def _forward(port: int, request: GatewayRequest, connection_id: str) -> GatewayResponse:
    """The Management API call for a connection of the local gateway on ``port``; a gateway
    that is gone means the connection is gone (410)."""
    url = f"http://127.0.0.1:{port}{MANAGEMENT_PREFIX}{connection_id}"
    forwarded = urllib.request.Request(url, data=request.body or None, method=request.method)
    try:
        with urllib.request.urlopen(forwarded, timeout=5) as response:  # noqa: S310
            return GatewayResponse(response.status, list(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        return GatewayResponse(error.code, list(error.headers.items()), error.read())
    except OSError:
        return GatewayResponse.message(410, None, "GoneException")
