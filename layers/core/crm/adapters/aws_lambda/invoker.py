"""Starts a function asynchronously (InvocationType Event): Lambda queues the event, retries a
failed run twice, and the caller does not wait. Locally moto routes it to the handler on a
thread."""

from __future__ import annotations

import json
from typing import Any


class LambdaJobStarter:
    def __init__(self, client: Any, function_name: str) -> None:
        self._client = client
        self._function_name = function_name

    def start(self, payload: dict[str, Any]) -> None:
        response = self._client.invoke(
            FunctionName=self._function_name,
            InvocationType="Event",
            Payload=json.dumps(payload).encode(),
        )
        status = int(response.get("StatusCode", 0))
        if status != 202:
            raise RuntimeError(f"Lambda did not accept the job ({status})")
