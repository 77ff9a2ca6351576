"""What API Gateway's REST and WebSocket APIs share on the local gateway: the HTTP request and
response as the gateway sees them, and the hook type for extra request handlers mounted in
front of the routes (the WebSocket API's @connections endpoint, static files, ...)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

# A handler invoked by name with an event: the local Lambda runtime's ``invoke``.
Invoke = Callable[[str, Any], Any]


@dataclass
class GatewayRequest:
    method: str
    path: str
    raw_query: str
    header_items: list[tuple[str, str]]
    body: bytes
    source_ip: str
    host: str
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        found = [value for key, value in self.header_items if key.lower() == lowered]
        return found[-1] if found else None

    def query(self, name: str) -> str | None:
        found = [value for key, value in self.query_items if key == name]
        return found[-1] if found else None

    @property
    def query_items(self) -> list[tuple[str, str]]:
        return parse_qsl(self.raw_query, keep_blank_values=True)


@dataclass
class GatewayResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @classmethod
    def message(
        cls, status: int, message: str | None, error_type: str | None = None
    ) -> GatewayResponse:
        headers = [("Content-Type", "application/json")]
        if error_type:
            headers.append(("x-amzn-ErrorType", error_type))
        return cls(status, headers, json.dumps({"message": message}).encode())


# A request handler mounted in front of the routes: answers a response, or None to pass.
Mount = Callable[[GatewayRequest], GatewayResponse | None]
