"""HTTP delivery of webhooks. Every request carries a stable `webhook-id` (Standard Webhooks)
so a receiver can drop the rare resend after a crash between delivery and commit."""

from __future__ import annotations

import json
import time
from typing import Any

import urllib3


class WebhookDeliveryFailed(Exception):
    """Non-2xx answer or transport error; the caller's retry policy decides what next."""


class Urllib3WebhookSender:
    def __init__(self, timeout_seconds: float = 10.0, user_agent: str = "crm-webhooks/1") -> None:
        self._http = urllib3.PoolManager(
            timeout=urllib3.Timeout(total=timeout_seconds), retries=False
        )
        self._user_agent = user_agent

    def send(
        self, url: str, body: dict[str, Any], *, message_id: str, headers: dict[str, str]
    ) -> int:
        payload = json.dumps(body, separators=(",", ":"), default=str).encode()
        request_headers = {
            **headers,
            "content-type": "application/json",
            "user-agent": self._user_agent,
            "webhook-id": message_id,
            "webhook-timestamp": str(int(time.time())),
        }
        try:
            response = self._http.request("POST", url, body=payload, headers=request_headers)
        except urllib3.exceptions.HTTPError as error:
            raise WebhookDeliveryFailed(f"POST {url} failed: {error}") from error
        if not 200 <= response.status < 300:
            raise WebhookDeliveryFailed(f"POST {url} answered {response.status}")
        return int(response.status)
