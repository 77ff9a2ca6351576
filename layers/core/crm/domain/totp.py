"""TOTP (RFC 6238 over RFC 4226 HOTP): 6 digits, 30-second steps, HMAC-SHA1, as every
authenticator app expects. Written here rather than imported: it is thirty lines, and the
checks that matter (window, replay) are ours anyway."""

from __future__ import annotations

import base64
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

DIGITS = 6
STEP_SECONDS = 30
SECRET_BYTES = 20  # 160 bits, RFC 4226's recommendation for HMAC-SHA1
# One step either side tolerates a phone clock ~30 s off, and the time to type the code.
WINDOW_STEPS = 1


def new_secret() -> str:
    """A base32 secret (no padding), the form authenticator apps take."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode().rstrip("=")


def _key(secret_b32: str) -> bytes:
    cleaned = secret_b32.strip().replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def hotp(key: bytes, counter: int, digits: int = DIGITS, digest: str = "sha1") -> str:
    mac = hmac.new(key, struct.pack(">Q", counter), digest).digest()
    offset = mac[-1] & 0x0F
    code = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(code % 10**digits).zfill(digits)


def step_at(unix_time: float) -> int:
    return int(unix_time // STEP_SECONDS)


def code_at(secret_b32: str, unix_time: float) -> str:
    return hotp(_key(secret_b32), step_at(unix_time))


def matching_step(
    secret_b32: str, code: str, unix_time: float, *, after_step: int | None = None
) -> int | None:
    """The time step `code` belongs to, within the window around `unix_time`, or None.

    A step at or before `after_step` (the last one used) never matches: a code works once.
    """
    candidate = code.strip().replace(" ", "")
    if len(candidate) != DIGITS or not candidate.isdigit():
        return None
    key = _key(secret_b32)
    now = step_at(unix_time)
    for step in range(now - WINDOW_STEPS, now + WINDOW_STEPS + 1):
        if after_step is not None and step <= after_step:
            continue
        if hmac.compare_digest(hotp(key, step), candidate):
            return step
    return None


def provisioning_uri(secret_b32: str, *, account: str, issuer: str) -> str:
    """otpauth://totp/<issuer>:<account>?secret=...&issuer=... (Google Authenticator's format)."""
    label = quote(f"{issuer}:{account}", safe="@:")
    query = urlencode(
        {
            "secret": secret_b32,
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": STEP_SECONDS,
        }
    )
    return f"otpauth://totp/{label}?{query}"
