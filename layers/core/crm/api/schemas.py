"""Request bodies of the public API (pydantic; Powertools validates them and the OpenAPI
document is generated from them)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from crm.automation.model import Workflow


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


class LeadIn(_Body):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr | None = None
    phone: str | None = Field(default=None, max_length=40)
    company: str | None = Field(default=None, max_length=200)
    source: str | None = Field(default=None, max_length=60)


class AutomationIn(_Body):
    name: str = Field(min_length=1, max_length=200)
    workflow: Workflow
