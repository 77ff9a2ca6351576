"""Password reset on fakes: always silent about accounts, single-use, expiring, and the
sessions of the account end when it completes."""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from crm.domain.audit import RequestMeta
from crm.domain.errors import ValidationFailed
from crm.services.password_reset import MIN_REQUEST_SECONDS, PasswordResets

from tests.unit.auth_fakes import AuthWorld, Clock, FakeHasher, FakeMailer

META = RequestMeta(ip="198.51.100.7", user_agent="pytest", request_id="r-1")
OLD = "correct horse battery"
NEW = "a brand new passphrase"


class FakeTimer:
    def __init__(self) -> None:
        self.elapsed = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.elapsed += seconds


@pytest.fixture()
def world() -> AuthWorld:
    return AuthWorld()


@pytest.fixture()
def mailer() -> FakeMailer:
    return FakeMailer()


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def timer() -> FakeTimer:
    return FakeTimer()


@pytest.fixture()
def resets(world: AuthWorld, mailer: FakeMailer, clock: Clock, timer: FakeTimer) -> PasswordResets:
    return PasswordResets(
        unit_of_work=world.unit_of_work,
        login_directory=world.login_directory,
        hasher=FakeHasher(),
        mail=mailer,
        mail_from="no-reply@crm.local",
        reset_url="https://app.crm.test/reset-password",
        clock=clock,
        monotonic=timer.monotonic,
        sleep=timer.sleep,
    )


def _token_in(mail: dict[str, str]) -> str:
    link = re.search(r"https://\S+", mail["text"])
    assert link, mail["text"]
    return parse_qs(urlsplit(link.group(0)).query)["token"][0]


def test_a_known_email_gets_a_link_with_a_single_use_token(
    resets: PasswordResets, world: AuthWorld, mailer: FakeMailer
) -> None:
    user = world.add_user("ann@acme.example", f"hash:{OLD}", slug="acme")
    resets.request("Ann@Acme.example", None, META)
    [mail] = mailer.sent
    assert mail["to"] == "ann@acme.example" and "acme" in mail["text"]
    token = _token_in(mail)
    assert token.startswith("crm_pr_")
    resets.confirm(token, NEW, META)
    assert world.user(user.id).password_hash == f"hash:{NEW}"
    with pytest.raises(ValidationFailed) as reused:
        resets.confirm(token, "another new passphrase", META)
    assert reused.value.errors[0]["loc"] == ["body", "token"]
    assert world.actions() == ["auth.password_reset_requested", "auth.password_reset_completed"]
    completed = world.store.audit[-1]
    assert completed.changes["password_hash"] == {"old": "[redacted]", "new": "[redacted]"}


def test_unknown_and_inactive_emails_send_nothing_and_take_as_long(
    resets: PasswordResets, world: AuthWorld, mailer: FakeMailer, timer: FakeTimer
) -> None:
    world.add_user("gone@acme.example", f"hash:{OLD}", status="deactivated")
    resets.request("nobody@acme.example", None, META)
    resets.request("gone@acme.example", None, META)
    assert mailer.sent == [] and world.actions() == []
    assert timer.slept == [MIN_REQUEST_SECONDS, MIN_REQUEST_SECONDS]


def test_a_failing_mail_provider_is_not_the_callers_problem(
    resets: PasswordResets, world: AuthWorld, mailer: FakeMailer
) -> None:
    world.add_user("ann@acme.example", f"hash:{OLD}")
    mailer.fail = True
    resets.request("ann@acme.example", None, META)  # no exception: the API still says 202
    # the token and its email commit together: neither was written
    assert world.actions() == [] and mailer.sent == []


def test_an_expired_token_is_refused(
    resets: PasswordResets, world: AuthWorld, mailer: FakeMailer, clock: Clock
) -> None:
    world.add_user("ann@acme.example", f"hash:{OLD}")
    resets.request("ann@acme.example", None, META)
    clock.advance(minutes=31)
    with pytest.raises(ValidationFailed):
        resets.confirm(_token_in(mailer.sent[0]), NEW, META)


def test_a_weak_new_password_is_refused_and_the_token_still_works(
    resets: PasswordResets, world: AuthWorld, mailer: FakeMailer
) -> None:
    world.add_user("ann@acme.example", f"hash:{OLD}")
    resets.request("ann@acme.example", None, META)
    token = _token_in(mailer.sent[0])
    with pytest.raises(ValidationFailed) as weak:
        resets.confirm(token, "password1234", META)
    assert weak.value.errors[0]["loc"] == ["body", "password"]
    resets.confirm(token, NEW, META)


def test_completing_a_reset_ends_every_session_and_other_links(
    resets: PasswordResets, world: AuthWorld, mailer: FakeMailer, clock: Clock
) -> None:
    user = world.add_user("ann@acme.example", f"hash:{OLD}")
    with world.unit_of_work(user.tenant_id) as uow:
        uow.refresh_tokens.start_family(uuid.uuid4(), user.id, ("pwd",), clock.now, META)
        uow.commit()
    resets.request("ann@acme.example", None, META)
    resets.request("ann@acme.example", None, META)
    first, second = (_token_in(mail) for mail in mailer.sent)
    resets.confirm(second, NEW, META)
    with pytest.raises(ValidationFailed):
        resets.confirm(first, "yet another passphrase", META)
    assert all(f["revoked_reason"] == "password_reset" for f in world.auth.families.values())
    assert world.user(user.id).tokens_valid_after == clock.now
    assert world.store.audit[-1].changes["sessions_revoked"] == 1


def test_at_most_three_links_an_hour(
    resets: PasswordResets, world: AuthWorld, mailer: FakeMailer
) -> None:
    world.add_user("ann@acme.example", f"hash:{OLD}")
    for _ in range(5):
        resets.request("ann@acme.example", None, META)
    assert len(mailer.sent) == 3


def test_an_email_in_two_tenants_gets_a_link_per_tenant_unless_one_is_named(
    resets: PasswordResets, world: AuthWorld, mailer: FakeMailer
) -> None:
    world.add_user("ann@acme.example", f"hash:{OLD}", slug="one")
    world.add_user("ann@acme.example", f"hash:{OLD}", slug="two")
    resets.request("ann@acme.example", None, META)
    assert len(mailer.sent) == 2
    resets.request("ann@acme.example", "two", META)
    assert len(mailer.sent) == 3 and "'two'" in mailer.sent[-1]["text"]


@pytest.mark.parametrize(
    "token", ["", "garbage", "crm_pr_" + "0" * 32 + "_" + "0" * 32 + "_" + "x" * 43]
)
def test_malformed_or_unknown_tokens_are_a_field_error(resets: PasswordResets, token: str) -> None:
    with pytest.raises(ValidationFailed) as failed:
        resets.confirm(token, NEW, META)
    assert failed.value.errors[0]["loc"] == ["body", "token"]
