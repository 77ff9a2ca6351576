"""Reads what reached Mailpit (the local cloud's SMTP server) through its HTTP API:
GET /api/v1/search (messages to an address), GET /api/v1/message/{id} (bodies) and
GET /api/v1/message/{id}/headers."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests


@dataclass(frozen=True)
class Mailpit:
    url: str

    def messages_to(self, address: str) -> list[dict[str, Any]]:
        """Summaries of the messages to `address`, oldest first."""
        response = requests.get(
            f"{self.url}/api/v1/search",
            params={"query": f'to:"{address}"', "limit": 500},
            timeout=10,
        )
        response.raise_for_status()
        found = [
            m
            for m in response.json()["messages"]
            if any(to["Address"].lower() == address.lower() for to in m["To"])
        ]
        return sorted(found, key=lambda m: m["Created"])

    def wait_for(self, address: str, count: int = 1, timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages_to(address)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.2)

    def message(self, message_id: str) -> dict[str, Any]:
        """The whole message: Text, HTML, Subject, From, To, MessageID, ..."""
        response = requests.get(f"{self.url}/api/v1/message/{message_id}", timeout=10)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def headers(self, message_id: str) -> dict[str, list[str]]:
        response = requests.get(f"{self.url}/api/v1/message/{message_id}/headers", timeout=10)
        response.raise_for_status()
        headers: dict[str, list[str]] = response.json()
        return headers
