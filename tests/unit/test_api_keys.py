"""API keys on fakes: scopes within the creator's permissions, secret shown once, list pages,
revocation audited, other tenants' keys invisible."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from crm.domain.audit import RequestMeta
from crm.domain.errors import NotFound, ValidationFailed
from crm.domain.pagination import PageRequest
from crm.domain.tenants import Principal
from crm.services.api_keys import create_api_key, list_api_keys, revoke_api_key

from tests.unit.auth_fakes import AuthWorld, Clock

META = RequestMeta(request_id="r-1")


@pytest.fixture()
def world() -> AuthWorld:
    return AuthWorld()


def _caller(world: AuthWorld, role: str = "admin") -> Principal:
    user = world.add_user(f"{uuid.uuid4().hex[:6]}@acme.example", "hash:x", role=role)
    return Principal(tenant_id=user.tenant_id, user_id=user.id, role=role)


def _create(world: AuthWorld, caller: Principal, scopes=("leads:read",), **kw):  # type: ignore[no-untyped-def]
    return create_api_key(
        caller, kw.pop("name", "Zapier"), scopes, kw.pop("expires_at", None),
        unit_of_work=world.unit_of_work, meta=META, **kw,
    )  # fmt: skip


def test_create_returns_the_secret_once_and_stores_only_its_digest(world: AuthWorld) -> None:
    caller = _caller(world)
    created = _create(world, caller, ("leads:read", "leads:create"))
    secret = created["secret"]
    assert secret.startswith(f"crm_live_{caller.tenant_id.hex}_{uuid.UUID(created['id']).hex}_")
    assert created["scopes"] == ["leads:create", "leads:read"]
    assert created["hint"] == f"...{secret[-4:]}"
    [stored] = world.auth.api_keys.values()
    assert secret not in repr(stored)
    assert stored.digest != secret and len(stored.digest) == 64
    listed = list_api_keys(caller, PageRequest(10), unit_of_work=world.unit_of_work)
    assert "secret" not in listed.items[0].to_dict()
    assert str(listed.items[0].id) == created["id"]
    [entry] = world.store.audit
    assert (entry.action, entry.entity_type, entry.entity_id) == (
        "api_key.created", "api_key", created["id"],
    )  # fmt: skip
    assert entry.changes["scopes"]["new"] == ["leads:create", "leads:read"]


def test_scopes_must_exist_and_be_within_the_creators_permissions(world: AuthWorld) -> None:
    manager = _caller(world, role="manager")
    with pytest.raises(ValidationFailed) as failed:
        _create(world, manager, ("leads:read", "users:create", "leads:fly"))
    messages = " ".join(error["msg"] for error in failed.value.errors)
    assert "leads:fly" in messages and "users:create" in messages
    assert all(error["loc"] == ["body", "scopes"] for error in failed.value.errors)
    assert world.auth.api_keys == {}


def test_an_api_key_cannot_mint_a_key_beyond_its_own_scopes(world: AuthWorld) -> None:
    admin = _caller(world)
    as_key = Principal(
        tenant_id=admin.tenant_id, user_id=admin.user_id, role="admin",
        api_key_id=uuid.uuid4(), scopes=frozenset({"api_keys:create", "leads:read"}),
    )  # fmt: skip
    _create(world, as_key, ("leads:read",))
    with pytest.raises(ValidationFailed):
        _create(world, as_key, ("leads:create",))


def test_expiry_must_be_in_the_future(world: AuthWorld) -> None:
    clock = Clock()
    with pytest.raises(ValidationFailed) as failed:
        _create(world, _caller(world), expires_at=clock.now - timedelta(seconds=1), clock=clock)
    assert failed.value.errors[0]["loc"] == ["body", "expires_at"]


def test_list_pages_newest_first(world: AuthWorld) -> None:
    clock = Clock()
    caller = _caller(world)
    ids = []
    for n in range(5):
        clock.advance(seconds=1)
        ids.append(_create(world, caller, name=f"key {n}", clock=clock)["id"])
    seen, after = [], None
    while True:
        page = list_api_keys(caller, PageRequest(2, after), unit_of_work=world.unit_of_work)
        seen += [str(key.id) for key in page.items]
        if page.next is None:
            break
        after = page.next
    assert seen == list(reversed(ids))


def test_revoke_is_audited_once_and_other_tenants_keys_are_not_found(world: AuthWorld) -> None:
    caller = _caller(world)
    key_id = uuid.UUID(_create(world, caller)["id"])
    revoke_api_key(caller, key_id, unit_of_work=world.unit_of_work, meta=META)
    revoke_api_key(caller, key_id, unit_of_work=world.unit_of_work, meta=META)
    assert world.auth.api_keys[key_id].revoked_at is not None
    assert world.actions() == ["api_key.created", "api_key.revoked"]
    stranger = _caller(world)
    with pytest.raises(NotFound):
        revoke_api_key(stranger, key_id, unit_of_work=world.unit_of_work, meta=META)
    assert list_api_keys(stranger, PageRequest(10), unit_of_work=world.unit_of_work).items == []
