"""Request bodies of the public API (pydantic; Powertools validates them and the OpenAPI
document is generated from them)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from crm.api.strict import StrictAwareDatetime, StrictBool
from crm.automation.model import Workflow
from crm.domain.messaging import ConsumerName


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OwnerIn(_Body):
    email: EmailStr
    password: str = Field(min_length=1, max_length=256)
    name: str = Field(min_length=1, max_length=200)


class SignUpIn(_Body):
    name: str = Field(min_length=1, max_length=200)
    slug: str = Field(min_length=2, max_length=63)
    owner: OwnerIn


class LoginIn(_Body):
    email: EmailStr
    password: str = Field(min_length=1, max_length=256)
    tenant: str | None = Field(default=None, description="tenant slug, when the email has several")
    totp_code: str | None = Field(
        default=None, pattern=r"^\d{6}$", description="from the authenticator app, when MFA is on"
    )
    recovery_code: str | None = Field(
        default=None, min_length=10, max_length=20, description="instead of totp_code, once"
    )


class RefreshTokenIn(_Body):
    refresh_token: str = Field(min_length=1, max_length=512)


class PasswordResetIn(_Body):
    email: EmailStr
    tenant: str | None = Field(default=None, description="tenant slug, to reset only that one")


class PasswordResetConfirmIn(_Body):
    token: str = Field(min_length=1, max_length=512, description="from the reset email's link")
    password: str = Field(min_length=1, max_length=256, description="the new password")


class MfaCodeIn(_Body):
    code: str = Field(
        min_length=6, max_length=20, description="a TOTP code, or a recovery code where allowed"
    )


class ApiKeyIn(_Body):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(
        min_length=1, max_length=100, description="permissions, e.g. leads:read"
    )
    expires_at: StrictAwareDatetime | None = None


class AutomationIn(_Body):
    name: str = Field(min_length=1, max_length=200)
    workflow: Workflow
    publish: bool = Field(
        default=False,
        description="also publish the workflow as version 1 and make it live (active); without"
        " it the automation is a draft, which never fires",
    )


class RedriveFilterIn(_Body):
    consumer: ConsumerName | None = None
    event_type: str | None = Field(default=None, min_length=1, max_length=200)


class RedriveIn(_Body):
    """Which dead letters to redrive: exactly one of `ids`, `filter` or `all: true`."""

    ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=500)
    filter: RedriveFilterIn | None = None
    all: Literal[True] | None = None

    @model_validator(mode="after")
    def _exactly_one_selection(self) -> RedriveIn:
        given = [name for name in ("ids", "filter", "all") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of ids, filter or all")
        return self


# ------------------------------------------------------------------ users, roles, tenants

_ROLE_KEY = r"^[a-z][a-z0-9_-]{1,39}$"


class InviteIn(_Body):
    email: EmailStr
    name: str = Field(min_length=1, max_length=200)
    role: str = Field(pattern=_ROLE_KEY, description="a built-in role or a custom role's key")


class AcceptInvitationIn(_Body):
    token: str = Field(min_length=1, max_length=200, description="from the invitation email")
    password: str = Field(min_length=1, max_length=256)
    name: str | None = Field(default=None, min_length=1, max_length=200)


class UserPatchIn(_Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    role: str | None = Field(default=None, pattern=_ROLE_KEY)
    status: Literal["active", "deactivated"] | None = None


class RoleIn(_Body):
    key: str = Field(pattern=_ROLE_KEY)
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=500)
    permissions: list[str] = Field(max_length=200, description='e.g. ["leads:read"]')
    own_records_only: StrictBool = Field(
        default=False, description="sees only records it owns or that are unassigned"
    )


class RolePatchIn(_Body):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    permissions: list[str] | None = Field(default=None, max_length=200)
    own_records_only: StrictBool | None = None


class TenantSettingsPatchIn(_Body):
    """Only the fields sent change; each is validated (time zone, currency, locale, ...)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = Field(default=None, max_length=64)
    currency: str | None = Field(default=None, max_length=3)
    locale: str | None = Field(default=None, max_length=20)
    require_mfa: StrictBool | None = None
    week_starts_on: Literal["monday", "sunday"] | None = None
    fiscal_year_start_month: int | None = Field(default=None, ge=1, le=12)
    automation_max_chain_depth: int | None = Field(default=None, ge=1, le=100)


class PlanChangeIn(_Body):
    plan: str = Field(min_length=1, max_length=40, description="free, pro or enterprise")
