"""Checks of a request's raw shape, made once for every route before Powertools parses it.

They turn what would otherwise reach the database or the serializer as a server error into a
client error: a body that is not JSON (415), bytes that are not UTF-8 (422), and a NUL
character or an unpaired surrogate in any string (422: PostgreSQL cannot store them). Body checks apply only to
routes that take a body (`has_body`), so a stray body on a GET is ignored as before.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from typing import Any

from aws_lambda_powertools.event_handler import Response

from crm.api.problems import problem

JSON_MEDIA_TYPE = "application/json"
NUL = "\x00"
UNSTORABLE = "NUL characters and unpaired surrogates are not allowed"


def unsupported_media_type(content_type: str) -> Response[str]:
    return problem(
        415,
        "unsupported-media-type",
        "Unsupported media type",
        f"the body must be {JSON_MEDIA_TYPE}, not {content_type}",
    )


def _invalid(loc: list[str | int], msg: str, kind: str) -> Response[str]:
    return problem(
        422,
        "validation-failed",
        "Validation failed",
        "the request does not match the schema",
        errors=[{"loc": loc, "msg": msg, "type": kind}],
    )


def _header(event: Mapping[str, Any], name: str) -> str:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name and value is not None:
            return str(value)
    return ""


def storable(text: str) -> bool:
    """No NUL and no lone surrogate (JSON may escape both; neither can be stored as text)."""
    if NUL in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unstorable(value: Any, loc: list[str | int]) -> Iterator[list[str | int]]:
    if isinstance(value, str):
        if not storable(value):
            yield loc
    elif isinstance(value, dict):
        for key, item in value.items():
            if not storable(str(key)):
                yield [*loc, str(key)]
            yield from _unstorable(item, [*loc, str(key)])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unstorable(item, [*loc, index])


def check_request(event: Mapping[str, Any], *, has_body: bool) -> Response[str] | None:
    """The problem a malformed request gets, or None when its shape is acceptable."""
    for source, name in (("queryStringParameters", "query"), ("pathParameters", "path")):
        for key, value in (event.get(source) or {}).items():
            if not storable(str(key)) or not storable(str(value or "")):
                return _invalid([name, str(key)], UNSTORABLE, "string_unstorable")
    for key, values in (event.get("multiValueQueryStringParameters") or {}).items():
        if not all(storable(str(value)) for value in values or ()):
            return _invalid(["query", str(key)], UNSTORABLE, "string_unstorable")
    body = event.get("body")
    if not has_body or body is None or body == "":
        return None
    content_type = _header(event, "content-type").strip()
    if content_type and not content_type.lower().startswith(JSON_MEDIA_TYPE):
        return unsupported_media_type(content_type)
    text = str(body)
    if event.get("isBase64Encoded"):
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return _invalid(["body"], "the body is not valid UTF-8", "unicode_decode")
    try:
        parsed = json.loads(text)
    except ValueError:
        return None  # Powertools answers malformed JSON with a 422 naming the position
    for loc in _unstorable(parsed, ["body"]):
        return _invalid(loc, UNSTORABLE, "string_unstorable")
    return None
