"""The API Gateway Management API (`@connections`) as the realtime notifier's sender.

In AWS the endpoint is the WebSocket stage's https URL; locally it is the local cloud's
gateway, which serves a compatible `@connections` endpoint (local/websocket.py). Either way it
is passed as `endpoint_url`, so no code branches on "local".
"""

from __future__ import annotations

from typing import Any

from crm.domain.realtime import ConnectionGone


class ManagementApiSender:
    def __init__(self, client: Any) -> None:
        self._client = client

    def post(self, connection_id: str, payload: bytes) -> None:
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=payload)
        except self._client.exceptions.GoneException as error:
            raise ConnectionGone(connection_id) from error


def management_client(endpoint_url: str, timeout_seconds: float = 5.0) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=timeout_seconds,
        read_timeout=timeout_seconds,
        retries={"max_attempts": 2, "mode": "standard"},
    )
    return boto3.client("apigatewaymanagementapi", endpoint_url=endpoint_url, config=config)
