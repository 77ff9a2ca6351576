"""The raw-shape checks every route gets before Powertools parses the request
(crm.api.request_checks), and the strict request types (crm.api.strict)."""

from __future__ import annotations

import base64
import json
from datetime import date
from typing import Any

import pytest
from crm.api.request_checks import check_request
from crm.api.responses import location
from crm.api.strict import StrictAwareDatetime, StrictBool, StrictDate
from pydantic import TypeAdapter, ValidationError


def _event(body: Any = None, content_type: str | None = "application/json", **extra: Any) -> dict:
    headers = {"Content-Type": content_type} if content_type else {}
    return {"headers": headers, "body": body, **extra}


def _problem(response: Any) -> dict[str, Any]:
    assert response is not None
    body: dict[str, Any] = json.loads(response.body)
    assert response.content_type == "application/problem+json"
    assert body["status"] == response.status_code
    return body


def test_a_well_formed_request_passes() -> None:
    assert check_request(_event('{"name": "Ana"}'), has_body=True) is None
    assert check_request(_event('{"name": "Ana"}', "application/json; charset=utf-8"),
                         has_body=True) is None  # fmt: skip
    assert check_request(_event('{"name": "Ana"}', content_type=None), has_body=True) is None
    assert check_request(_event(None), has_body=True) is None


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data; boundary=x",
                                          "application/x-www-form-urlencoded"])  # fmt: skip
def test_a_body_of_another_media_type_is_415(content_type: str) -> None:
    problem = _problem(check_request(_event("name=Ana", content_type), has_body=True))
    assert problem["status"] == 415 and content_type in problem["detail"]


def test_a_route_without_a_body_ignores_one() -> None:
    assert check_request(_event("junk", "text/plain"), has_body=False) is None


def test_bytes_that_are_not_utf8_are_422() -> None:
    raw = base64.b64encode(b'{"name": "\xc3\x28"}').decode()
    problem = _problem(check_request(_event(raw, isBase64Encoded=True), has_body=True))
    assert problem["status"] == 422 and problem["errors"][0]["loc"] == ["body"]
    fine = base64.b64encode('{"name": "Inês"}'.encode()).decode()
    assert check_request(_event(fine, isBase64Encoded=True), has_body=True) is None


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ('{"name": "a\\u0000b"}', ["body", "name"]),
        ('{"custom_fields": {"k": ["ok", "x\\u0000"]}}', ["body", "custom_fields", "k", 1]),
        ('{"a\\u0000": 1}', ["body", "a\x00"]),
        ('{"name": "\\ud800"}', ["body", "name"]),
    ],
)
def test_unstorable_strings_in_the_body_are_422_naming_the_field(body: str, loc: list[Any]) -> None:
    problem = _problem(check_request(_event(body), has_body=True))
    assert problem["status"] == 422 and problem["errors"][0]["loc"] == loc


def test_unstorable_strings_in_the_query_or_path_are_422() -> None:
    query = _event(None, queryStringParameters={"q": "a\x00"})
    assert _problem(check_request(query, has_body=False))["errors"][0]["loc"] == ["query", "q"]
    multi = _event(None, multiValueQueryStringParameters={"tag": ["ok", "\x00"]})
    assert _problem(check_request(multi, has_body=False))["errors"][0]["loc"] == ["query", "tag"]
    path = _event(None, pathParameters={"lead_id": "\x00"})
    assert _problem(check_request(path, has_body=False))["errors"][0]["loc"] == ["path", "lead_id"]


def test_malformed_json_is_left_to_powertools() -> None:
    assert check_request(_event("{not json"), has_body=True) is None


def test_strict_types_refuse_numbers_for_booleans_and_dates() -> None:
    assert TypeAdapter(StrictBool).validate_python(False) is False
    assert TypeAdapter(StrictDate).validate_python("2026-01-31") == date(2026, 1, 31)
    assert TypeAdapter(StrictAwareDatetime).validate_python("2026-01-31T10:00:00+00:00")
    for adapter, value in (
        (StrictBool, 0),
        (StrictBool, "false"),
        (StrictDate, 0),
        (StrictDate, "0"),
        (StrictDate, "1700000000"),
        (StrictAwareDatetime, 0),
        (StrictAwareDatetime, "0"),
    ):
        with pytest.raises(ValidationError):
            TypeAdapter(adapter).validate_python(value)


def test_location_percent_encodes_each_segment() -> None:
    assert location("tags", "営業") == "/tags/%E5%96%B6%E6%A5%AD"
    assert location("tags", "a b/c?d") == "/tags/a%20b%2Fc%3Fd"
    assert location("leads", "5d0f") == "/leads/5d0f"
