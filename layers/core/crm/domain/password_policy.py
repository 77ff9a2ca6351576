"""The minimum password policy (NIST SP 800-63B style): long enough, not a known-common
password or a trivial variation of one, not built from the account's own email. No
composition rules (they push people to "Password1!"), no expiry.

Used by every path that sets a password: sign-up, password reset, invitation acceptance.
"""

from __future__ import annotations

import re
from typing import Any

MIN_LENGTH = 12
MAX_LENGTH = 256

# Common passwords and the words most of them are built on (lower case). Short entries still
# matter: "Password2024!" is "password" plus a suffix, which the suffix rule below catches.
_COMMON_PASSWORDS_TEXT = """
    123456 1234567 12345678 123456789 1234567890 12345678910 123456789012 1234567890123
    111111 000000 121212 123123 654321 666666 696969 987654321 0987654321 112233 123321
    password passw0rd p@ssword p@ssw0rd pass password1 password12 password123 password1234
    passwordpassword mypassword newpassword secret secretpassword changeme changeit letmein
    letmeinplease welcome welcome1 welcome123 welcomehome hello helloworld hellohello
    qwerty qwerty123 qwerty1234 qwerty123456 qwertyuiop qwertyuiopas qwertyuiop123 qwertz
    azerty asdfgh asdfghjkl asdfghjkl123 zxcvbn zxcvbnm 1q2w3e 1q2w3e4r 1q2w3e4r5t 1q2w3e4r5t6y
    1qaz2wsx 1qaz2wsx3edc qazwsx qazwsxedc abc123 abcd1234 abcdef abcdefgh abcdefghijkl
    iloveyou iloveyou1 iloveyou123 iloveyou1234 loveyou lovely trustno1 whatever nothing
    admin administrator admin123 admin1234 root toor guest login master masterkey access
    dragon monkey shadow sunshine princess football baseball basketball soccer hockey
    superman batman spiderman starwars pokemon minecraft fortnite computer internet
    michael jennifer jordan hunter ranger buster thomas robert daniel jessica ashley
    charlie andrew joshua matthew michelle nicole summer winter autumn spring
    freedom killer pepper ginger cookie cheese chocolate butterfly flower
    mustang ferrari porsche harley yankees liverpool arsenal chelsea barcelona
    samsung google apple microsoft facebook linkedin amazon netflix
    correcthorsebatterystaple tr0ub4dor trustnoone
    letmein123 loveme iamthebest youcantguess nopassword default temp temporary
    test test123 testing tester demo sample example crm
"""
COMMON_PASSWORDS = frozenset(_COMMON_PASSWORDS_TEXT.split())

_TRIVIAL_SUFFIX = re.compile(r"[\d\W_]*$")
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)


def _problem(loc: tuple[str, ...], message: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": message, "type": "value_error"}


def password_problems(
    password: str, *, email: str | None = None, loc: tuple[str, ...] = ("body", "password")
) -> list[dict[str, Any]]:
    """Per-field errors for `password` (empty when it is acceptable)."""
    if len(password) < MIN_LENGTH:
        return [_problem(loc, f"at least {MIN_LENGTH} characters")]
    if len(password) > MAX_LENGTH:
        return [_problem(loc, f"at most {MAX_LENGTH} characters")]
    lowered = password.lower()
    squeezed = re.sub(r"[\s\-_.]+", "", lowered)
    base = _TRIVIAL_SUFFIX.sub("", squeezed)
    candidates = {lowered, squeezed, base, base.translate(_LEET), squeezed.translate(_LEET)}
    if candidates & COMMON_PASSWORDS or len(set(squeezed)) < 4:
        return [_problem(loc, "this password is too common or too easy to guess")]
    if email:
        local_part = email.lower().split("@", 1)[0]
        if lowered == email.lower() or (len(local_part) >= 4 and local_part in lowered):
            return [_problem(loc, "the password must not contain your email address")]
    return []
