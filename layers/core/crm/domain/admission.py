"""Admission of one authenticated API request: the tenant's rate-limit window and who the
caller is now, according to the database (not the token, which may be minutes old, nor the
authorizer's decision, which API Gateway caches for up to 300 s)."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from crm.domain.tenants import RoleGrant


class Admission(NamedTuple):
    request_count: int  # this request included
    request_limit: int | None  # None: the plan has no per-minute limit
    window_start: datetime
    reset_seconds: int  # until the window ends (at least 1)
    user_role: str | None  # None: no such user in the tenant
    user_status: str | None
    custom_grant: RoleGrant | None  # the grant of a custom role; None for built-in roles
    # the API key was revoked or expired, or the access token predates the user's
    # tokens_valid_after (password reset): refused although the authorizer's cached decision
    # still allows it
    credential_revoked: bool = False

    @property
    def rate_limited(self) -> bool:
        return self.request_limit is not None and self.request_count > self.request_limit

    def headers(self) -> dict[str, str]:
        """RateLimit-* (IETF httpapi ratelimit headers) on every authenticated response, and
        Retry-After when refused; nothing for a plan without a per-minute limit."""
        if self.request_limit is None:
            return {}
        headers = {
            "RateLimit-Limit": str(self.request_limit),
            "RateLimit-Remaining": str(max(self.request_limit - self.request_count, 0)),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if self.rate_limited:
            headers["Retry-After"] = str(self.reset_seconds)
        return headers
