"""TOTP against the RFCs' own test vectors, plus the window and replay rules."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest
from crm.domain import totp

RFC_SECRET = b"12345678901234567890"  # RFC 4226 appendix D / RFC 6238 appendix B (SHA-1)
RFC_SECRET_B32 = base64.b32encode(RFC_SECRET).decode()


@pytest.mark.parametrize(
    ("counter", "expected"),
    list(enumerate(["755224", "287082", "359152", "969429", "338314",
               "254676", "287922", "162583", "399871", "520489"])),
)  # fmt: skip
def test_hotp_matches_rfc_4226(counter: int, expected: str) -> None:
    assert totp.hotp(RFC_SECRET, counter) == expected


@pytest.mark.parametrize(
    ("unix_time", "expected"),
    [(59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"),
     (1234567890, "89005924"), (2000000000, "69279037"), (20000000000, "65353130")],
)  # fmt: skip
def test_totp_matches_rfc_6238_sha1_vectors(unix_time: int, expected: str) -> None:
    assert totp.hotp(RFC_SECRET, totp.step_at(unix_time), digits=8) == expected


def test_code_at_is_the_six_digit_tail_of_the_rfc_vector() -> None:
    assert totp.code_at(RFC_SECRET_B32, 59) == "287082"


def test_a_code_matches_within_one_step_either_side_and_not_beyond() -> None:
    secret = totp.new_secret()
    now = 1_800_000_000.0
    for offset, matches in [(-60, False), (-30, True), (0, True), (30, True), (60, False)]:
        code = totp.code_at(secret, now + offset)
        step = totp.matching_step(secret, code, now)
        assert (step is not None) is matches, offset
        if matches:
            assert step == totp.step_at(now + offset)


def test_a_used_step_and_earlier_ones_never_match_again() -> None:
    secret = totp.new_secret()
    now = 1_800_000_000.0
    code = totp.code_at(secret, now)
    used = totp.matching_step(secret, code, now)
    assert used is not None
    assert totp.matching_step(secret, code, now, after_step=used) is None
    previous = totp.code_at(secret, now - 30)
    assert totp.matching_step(secret, previous, now, after_step=used) is None


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 34 5"])
def test_malformed_codes_never_match(code: str) -> None:
    assert totp.matching_step(totp.new_secret(), code, 1_800_000_000.0) is None


def test_codes_with_spaces_are_accepted() -> None:
    secret = totp.new_secret()
    code = totp.code_at(secret, 1_800_000_000.0)
    assert totp.matching_step(secret, f"{code[:3]} {code[3:]}", 1_800_000_000.0) is not None


def test_new_secrets_are_160_bit_base32_and_distinct() -> None:
    secrets = {totp.new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert len(base64.b32decode(secret + "=" * (-len(secret) % 8))) == 20


def test_provisioning_uri_is_what_authenticator_apps_read() -> None:
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXP", account="ann@acme.example", issuer="CRM")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert parts.path == "/CRM:ann@acme.example"
    query = parse_qs(parts.query)
    assert query["secret"] == ["JBSWY3DPEHPK3PXP"] and query["issuer"] == ["CRM"]
    assert query["digits"] == ["6"] and query["period"] == ["30"]
