"""GET /openapi.json: the OpenAPI 3.1 document of the whole REST API; GET /docs: a page that
renders it. Both public (no authorizer).

The document is generated from every API function's resolver by scripts/openapi.py and
committed next to this module (a unit test fails while it is stale). It ships inside this
function's CodeUri, so `sam build` packages it with the code that serves it, and the local
cloud, which imports handlers from the same folder, serves the same file: nothing is copied at
build time and no other function's code is imported at run time.

The page is self-contained (inline script and style, no CDN: the product must not depend on a
third-party script); its Content-Security-Policy allows exactly those two inline blocks by hash
and fetches only from its own origin.
"""

import base64
import hashlib
import re
from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from crm.api.resolver import build_resolver
from crm.observability import bind_api_event, logger

HERE = Path(__file__).resolve().parent
DOCUMENT = HERE / "openapi.json"
PAGE = HERE / "docs.html"
# Clients and caches may keep both for a few minutes; a deploy changes them at most.
CACHE_CONTROL = "public, max-age=300"

app = build_resolver()


@cache
def document_text() -> str:
    return DOCUMENT.read_text(encoding="utf-8")


def _hashes(html: str, tag: str) -> list[str]:
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL)
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() + "'"
        for block in blocks
    ]


@cache
def docs_page() -> tuple[str, str]:
    """The page and its Content-Security-Policy."""
    html = PAGE.read_text(encoding="utf-8")
    policy = "; ".join(
        [
            "default-src 'none'",
            "script-src " + " ".join(_hashes(html, "script")),
            "style-src " + " ".join(_hashes(html, "style")),
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return html, policy


@app.get(
    "/openapi.json",
    summary="The OpenAPI 3.1 document of the whole REST API",
    responses={
        200: {
            "description": "This document",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
def openapi_document() -> Response[str]:
    return Response(
        status_code=200,
        content_type="application/json",
        body=document_text(),
        headers={"Cache-Control": CACHE_CONTROL},
    )


@app.get(
    "/docs",
    summary="A page that renders /openapi.json: operations by tag, parameters, bodies, responses",
    responses={
        200: {
            "description": "The HTML page",
            "content": {"text/html": {"schema": {"type": "string"}}},
        }
    },
)
def docs() -> Response[str]:
    html, policy = docs_page()
    return Response(
        status_code=200,
        content_type="text/html; charset=utf-8",
        body=html,
        headers={
            "Cache-Control": CACHE_CONTROL,
            "Content-Security-Policy": policy,
            "X-Content-Type-Options": "nosniff",
        },
    )


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_api_event(event)
    return app.resolve(event, context)
