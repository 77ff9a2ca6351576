"""What an automation's webhook step keeps of the receiver's answer: its status, a bounded
excerpt of the body decoded safely, and the values its `response_mapping` names (RFC 6901 JSON
pointers into a JSON answer). Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

EXCERPT_BYTES = 1024  # kept in the step's result and shown in the run detail
MAPPED_BODY_BYTES = 64 * 1024  # read when a response_mapping needs the whole answer
MAPPED_DATA_CHARS = 16 * 1024  # the mapped values, as JSON, in the run's state


def excerpt(body: bytes) -> dict[str, Any]:
    """The first EXCERPT_BYTES of the body as text (invalid UTF-8 and NUL replaced: the ledger
    is jsonb, which refuses NUL) and whether there was more."""
    text = body[:EXCERPT_BYTES].decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    return {"body_excerpt": text, "body_truncated": len(body) > EXCERPT_BYTES}


def _token(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _is_index(step: str) -> bool:
    return step.isascii() and step.isdigit() and (len(step) == 1 or not step.startswith("0"))


def resolve_pointer(document: Any, pointer: str) -> tuple[bool, Any]:
    """(found, value) of an RFC 6901 pointer in a parsed JSON document."""
    value = document
    for raw in pointer.split("/")[1:] if pointer else []:
        step = _token(raw)
        if isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(value, list) and _is_index(step) and int(step) < len(value):
            value = value[int(step)]
        else:
            return False, None
    return True, value


def map_response(
    body: bytes, complete: bool, mapping: Mapping[str, str]
) -> tuple[dict[str, Any], list[str]]:
    """The mapped values ({name: value}, None where the pointer found nothing) and what went
    wrong, if anything (an answer too large or not JSON maps every name to None)."""
    data: dict[str, Any] = dict.fromkeys(mapping)
    if not complete:
        return data, [f"the answer is larger than {MAPPED_BODY_BYTES} bytes: nothing mapped"]
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return data, ["the answer is not JSON: nothing mapped"]
    problems: list[str] = []
    for name, pointer in mapping.items():
        found, value = resolve_pointer(document, pointer)
        if found:
            data[name] = value
        else:
            problems.append(f"{name}: nothing at {pointer!r}")
    if len(json.dumps(data)) > MAPPED_DATA_CHARS:
        return dict.fromkeys(mapping), [f"the mapped values exceed {MAPPED_DATA_CHARS} characters"]
    return data, problems
