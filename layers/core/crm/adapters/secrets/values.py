"""Reads JSON secrets (database credentials) from Secrets Manager."""

from __future__ import annotations

import json
from typing import Any


class SecretsManagerValues:
    def __init__(self, client: Any) -> None:
        self._client = client

    def json(self, secret_id: str) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(
            self._client.get_secret_value(SecretId=secret_id)["SecretString"]
        )
        return value
