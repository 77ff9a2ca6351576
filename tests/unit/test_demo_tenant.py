"""`make dev`'s demo tenant must pass the same validation as any sign-up, or the printed login
would not work."""

from __future__ import annotations

from crm.api.schemas import SignUpIn
from crm.domain.password_policy import password_problems

from local.__main__ import DEMO_OWNER, DEMO_TENANT


def test_demo_sign_up_is_valid() -> None:
    body = SignUpIn.model_validate(DEMO_TENANT)
    assert password_problems(DEMO_OWNER["password"], email=body.owner.email) == []
