"""JSON responses with status and headers (Powertools serialises a dict body only when the
content type says JSON)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types


def json_response(status: int, body: dict[str, Any], **headers: str) -> Response[dict[str, Any]]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers={name.replace("_", "-"): value for name, value in headers.items()},
    )
