"""TOTP enrolment, confirmation, recovery codes and disabling, on fakes."""

from __future__ import annotations

import uuid

import pytest
from crm.domain import totp
from crm.domain.audit import RequestMeta
from crm.domain.errors import AccountLocked, Conflict, Forbidden, InvalidCredentials
from crm.domain.tenants import Principal
from crm.services.mfa import MfaService

from tests.unit.auth_fakes import AuthWorld, Clock, FakeCipher

META = RequestMeta(request_id="r-1")


@pytest.fixture()
def world() -> AuthWorld:
    return AuthWorld()


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def mfa(world: AuthWorld, clock: Clock) -> MfaService:
    return MfaService(unit_of_work=world.unit_of_work, cipher=FakeCipher(), clock=clock)


def _caller(world: AuthWorld) -> Principal:
    user = world.add_user("ann@acme.example", "hash:x")
    return Principal(tenant_id=user.tenant_id, user_id=user.id, role="owner")


def _enrolled(mfa: MfaService, world: AuthWorld, clock: Clock) -> tuple[Principal, str, list[str]]:
    caller = _caller(world)
    secret = mfa.enrol(caller, META)["secret"]
    codes = mfa.confirm(caller, totp.code_at(secret, clock.now.timestamp()), META)
    clock.advance(seconds=30)  # the confirming code's step is used up
    return caller, secret, codes["recovery_codes"]


def test_enrol_returns_a_secret_and_uri_and_stores_it_encrypted_and_pending(
    mfa: MfaService, world: AuthWorld
) -> None:
    caller = _caller(world)
    enrolment = mfa.enrol(caller, META)
    assert enrolment["otpauth_uri"].startswith("otpauth://totp/CRM:ann@acme.example?secret=")
    user = world.user(caller.user_id)
    assert not user.mfa_enabled
    # stored through the cipher, bound to this user
    assert user.mfa_pending_secret == FakeCipher().encrypt(
        enrolment["secret"], context=str(user.id)
    )
    assert world.actions() == ["auth.mfa_enrolment_started"]


def test_confirm_with_a_current_code_turns_mfa_on_and_hands_out_recovery_codes(
    mfa: MfaService, world: AuthWorld, clock: Clock
) -> None:
    caller, _, codes = _enrolled(mfa, world, clock)
    user = world.user(caller.user_id)
    assert user.mfa_enabled and user.mfa_pending_secret is None and len(codes) == 10
    assert len([k for k in world.auth.recovery if k[0] == caller.user_id]) == 10
    assert world.actions()[-1] == "auth.mfa_enabled"
    with pytest.raises(Conflict):
        mfa.enrol(caller, META)


def test_confirm_with_a_wrong_code_counts_a_failure(mfa: MfaService, world: AuthWorld) -> None:
    caller = _caller(world)
    mfa.enrol(caller, META)
    with pytest.raises(InvalidCredentials):
        mfa.confirm(caller, "000000", META)
    assert world.user(caller.user_id).failed_login_count == 1
    assert not world.user(caller.user_id).mfa_enabled


def test_confirm_without_enrolling_is_a_conflict(mfa: MfaService, world: AuthWorld) -> None:
    with pytest.raises(Conflict):
        mfa.confirm(_caller(world), "123456", META)


def test_disable_needs_a_code_and_a_recovery_code_also_works_once(
    mfa: MfaService, world: AuthWorld, clock: Clock
) -> None:
    caller, secret, codes = _enrolled(mfa, world, clock)
    with pytest.raises(InvalidCredentials):
        mfa.disable(caller, "123456", META)
    new_codes = mfa.regenerate_recovery_codes(caller, codes[0], META)["recovery_codes"]
    assert set(new_codes).isdisjoint(codes)
    with pytest.raises(InvalidCredentials):  # the old codes died with the regeneration
        mfa.disable(caller, codes[1], META)
    mfa.disable(caller, totp.code_at(secret, clock.now.timestamp()), META)
    user = world.user(caller.user_id)
    assert not user.mfa_enabled and user.mfa_secret is None
    assert not [k for k in world.auth.recovery if k[0] == caller.user_id]
    assert world.actions()[-1] == "auth.mfa_disabled"


def test_a_tenant_that_requires_mfa_refuses_to_disable_it(
    mfa: MfaService, world: AuthWorld, clock: Clock
) -> None:
    caller, secret, _ = _enrolled(mfa, world, clock)
    world.auth.require_mfa[caller.tenant_id] = True
    with pytest.raises(Forbidden):
        mfa.disable(caller, totp.code_at(secret, clock.now.timestamp()), META)
    assert world.user(caller.user_id).mfa_enabled


def test_guessing_codes_locks_the_account(mfa: MfaService, world: AuthWorld, clock: Clock) -> None:
    caller, _, _ = _enrolled(mfa, world, clock)
    for attempt in range(10):
        with pytest.raises(InvalidCredentials):
            mfa.disable(caller, f"{attempt:06d}", META)
        clock.advance(seconds=60)
    with pytest.raises(AccountLocked):
        mfa.disable(caller, "123456", META)


def test_api_keys_cannot_manage_mfa(mfa: MfaService, world: AuthWorld) -> None:
    caller = _caller(world)
    as_key = Principal(
        tenant_id=caller.tenant_id, user_id=caller.user_id, role="owner", api_key_id=uuid.uuid4()
    )
    with pytest.raises(Forbidden):
        mfa.enrol(as_key, META)
