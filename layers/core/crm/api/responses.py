"""JSON responses with status and headers (Powertools serialises a dict body only when the
content type says JSON)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aws_lambda_powertools.event_handler import Response, content_types


def json_response(status: int, body: dict[str, Any], **headers: str) -> Response[dict[str, Any]]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers={name.replace("_", "-"): value for name, value in headers.items()},
    )


def location(*segments: object) -> str:
    """A Location path from its segments, each percent-encoded (a tag named "a b/c" or "営業"
    stays one segment, and the header stays ASCII as HTTP requires)."""
    return "/" + "/".join(quote(str(segment), safe="") for segment in segments)
