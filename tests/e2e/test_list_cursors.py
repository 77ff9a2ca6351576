"""The users, API keys, audit log and dead letters lists over HTTP share one cursor codec:
paging returns every item once in the list's order, a malformed cursor is a 422, and a
cursor handed out by one list is a 422 on any other."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from crm.adapters.postgres.connection import ConnectionPool
from crm.adapters.postgres.unit_of_work import PostgresDatabase

from tests.e2e.conftest import LocalCloudProcess
from tests.e2e.test_dead_letters_api import seed_dead_letter
from tests.e2e.test_walking_skeleton import Client, sign_up_and_log_in

pytestmark = pytest.mark.e2e

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class Listing:
    path: str
    sort_field: str
    newest_first: bool
    int_ids: bool = False  # the audit log's ids are bigints (rendered as strings)

    def order_key(self, item: dict[str, Any]) -> tuple[datetime, Any]:
        # ids compare as the database compares them: bigints as numbers, UUIDs by their bytes
        row_id = int(item["id"]) if self.int_ids else uuid.UUID(item["id"])
        return datetime.fromisoformat(item[self.sort_field]), row_id


LISTINGS = {
    "users": Listing("/users", "created_at", newest_first=False),
    "api_keys": Listing("/api-keys", "created_at", newest_first=True),
    "audit_logs": Listing("/audit-logs", "occurred_at", newest_first=True, int_ids=True),
    "dead_letters": Listing("/admin/dead-letters", "dead_lettered_at", newest_first=True),
}
SEEDED = 5  # rows of each list, at least: pages of 2 make three pages


@pytest.fixture(scope="module")
def owner(local_cloud: LocalCloudProcess, app_pool: ConnectionPool) -> Client:
    """A tenant with several items in each of the four lists."""
    client, signup = sign_up_and_log_in(local_cloud.url, "Cursors")
    slug = signup["slug"]
    for i in range(SEEDED):
        if i < SEEDED - 1:  # the owner is the fifth user: the free plan's limit
            invited = client.post(
                "/users", {"email": f"u{i}@{slug}.example.com", "name": f"U{i}", "role": "viewer"}
            )
            assert invited.status_code == 201, invited.text
        key = client.post("/api-keys", {"name": f"key {i}", "scopes": ["leads:read"]})
        assert key.status_code == 201, key.text
        seed_dead_letter(PostgresDatabase(app_pool), uuid.UUID(signup["id"]), "analytics")
    return client


def get(client: Client, path: str, **params: Any) -> requests.Response:
    return client.get(f"{path}?{urlencode(params)}" if params else path)


def items_of(response: requests.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def assert_cursor_refused(response: requests.Response) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["errors"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize("name", LISTINGS)
def test_paging_returns_every_item_once_in_order(owner: Client, name: str) -> None:
    listing = LISTINGS[name]
    everything = items_of(get(owner, listing.path, limit=200))
    assert len(everything) >= SEEDED

    paged: list[dict[str, Any]] = []
    response = get(owner, listing.path, limit=2)
    while True:
        page = items_of(response)
        assert 1 <= len(page) <= 2
        paged.extend(page)
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
        assert len(paged) < len(everything), "the listing hands out cursors past its end"
        response = get(owner, listing.path, limit=2, cursor=cursor)

    assert paged == everything  # same items, same shapes, same order, each once
    assert len({item["id"] for item in paged}) == len(paged)
    keys = [listing.order_key(item) for item in paged]
    assert keys == sorted(keys, reverse=listing.newest_first)


def _old_style_cursor(*key: object) -> str:
    """What these lists handed out before they shared the keyset codec: a bare (time, id)."""
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


MALFORMED = {
    "garbage": "not-a-cursor",
    "truncated": "WyJ4Il0",
    "old users cursor": _old_style_cursor("2026-01-01T00:00:00+00:00", str(uuid.uuid4())),
    "old audit cursor": _old_style_cursor("2026-01-01T00:00:00+00:00", 42),
}


@pytest.mark.parametrize("cursor", MALFORMED.values(), ids=MALFORMED.keys())
@pytest.mark.parametrize("name", LISTINGS)
def test_a_malformed_cursor_is_a_422(owner: Client, name: str, cursor: str) -> None:
    assert_cursor_refused(get(owner, LISTINGS[name].path, cursor=cursor))


@pytest.mark.parametrize("name", LISTINGS)
def test_a_cursor_of_one_list_is_refused_by_every_other(owner: Client, name: str) -> None:
    cursor = get(owner, LISTINGS[name].path, limit=1).json()["next_cursor"]
    assert cursor and get(owner, LISTINGS[name].path, cursor=cursor).status_code == 200
    for other in LISTINGS.keys() - {name}:
        assert_cursor_refused(get(owner, LISTINGS[other].path, cursor=cursor))
