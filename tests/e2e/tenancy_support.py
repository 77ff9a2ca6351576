"""Helpers for e2e tests of tenancy: a small API client, sign-up, members of any role (invited
by email through the email pipeline and Mailpit, accepted, logged in), plan changes."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import requests

from tests.mailpit import Mailpit

PASSWORD = "correct horse battery"
PROBLEM = "https://crm.example.com/problems/"


class Api:
    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def request(
        self, method: str, path: str, body: Any = None, **headers: str
    ) -> requests.Response:
        return self.session.request(
            method, self.base_url + path, json=body, headers=headers or None, timeout=30
        )

    def get(self, path: str, **headers: str) -> requests.Response:
        return self.request("GET", path, **headers)

    def post(self, path: str, body: Any, **headers: str) -> requests.Response:
        return self.request("POST", path, body, **headers)

    def patch(self, path: str, body: Any, **headers: str) -> requests.Response:
        return self.request("PATCH", path, body, **headers)


@dataclass
class Member:
    api: Api
    id: str
    email: str
    role: str


@dataclass
class Tenant:
    id: str
    slug: str
    owner: Member
    signed_up: requests.Response  # the sign-up response (its request id is audited)


def sign_up(base_url: str, name: str) -> Tenant:
    slug = f"{name.lower()}-{uuid.uuid4().hex[:8]}"
    email = f"owner@{slug}.example.com"
    body = {
        "name": name,
        "slug": slug,
        "owner": {"email": email, "password": PASSWORD, "name": "Owner"},
    }
    created = Api(base_url).post("/tenants", body)
    assert created.status_code == 201, created.text
    owner = Member(log_in(base_url, email), created.json()["owner"]["id"], email, "owner")
    return Tenant(created.json()["id"], slug, owner, created)


def log_in(base_url: str, email: str, password: str = PASSWORD) -> Api:
    response = Api(base_url).post("/auth/login", {"email": email, "password": password})
    assert response.status_code == 200, response.text
    return Api(base_url, response.json()["access_token"])


def invitation_token(mailpit_url: str, email: str, count: int = 1) -> str:
    """The token of the latest invitation mailed to `email` (the email worker sends it through
    Mailpit, shortly after the invitation commits); waits for the `count`-th one."""
    messages = Mailpit(mailpit_url).wait_for(email, count)
    assert len(messages) >= count, f"no mail to {email}"
    text = Mailpit(mailpit_url).message(messages[-1]["ID"])["Text"]
    found = re.search(r"token=(\S+)", text)
    assert found, text
    return found.group(1)


def add_member(base_url: str, mailpit_url: str, tenant: Tenant, role: str) -> Member:
    email = f"{role}-{uuid.uuid4().hex[:8]}@{tenant.slug}.example.com"
    invited = tenant.owner.api.post("/users", {"email": email, "name": role.title(), "role": role})
    assert invited.status_code == 201, invited.text
    accepted = Api(base_url).post(
        "/invitations/accept", {"token": invitation_token(mailpit_url, email), "password": PASSWORD}
    )
    assert accepted.status_code == 200, accepted.text
    return Member(log_in(base_url, email), invited.json()["id"], email, role)


def change_plan(tenant: Tenant, plan: str) -> None:
    changed = tenant.owner.api.patch(f"/tenants/{tenant.id}/plan", {"plan": plan})
    assert changed.status_code == 200, changed.text
    assert changed.json()["plan"] == plan


def problem_type(response: requests.Response) -> str | None:
    if response.headers.get("content-type") != "application/problem+json":
        return None
    kind: str = response.json()["type"].removeprefix(PROBLEM)
    return kind
