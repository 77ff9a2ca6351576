"""A tenant's settings: validated here, stored as JSON on the tenant row. Defaults apply to
whatever a tenant has not set, so adding a setting needs no data migration."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from functools import cache
from typing import Any, Literal, NamedTuple
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator

# ISO 4217 alphabetic codes in use; a typo like "BRR" is refused rather than stored.
CURRENCIES = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP
    GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS
    KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR
    MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF
    SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD
    TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL""".split()  # noqa: SIM905 - a table reads better than 150 quoted strings
)
# BCP 47 language tag as products use it: language, optional script, optional region.
LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$")


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


class TenantSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = Field(default="UTC", description="IANA time zone, e.g. America/Sao_Paulo")
    currency: str = Field(default="USD", description="ISO 4217 code, e.g. BRL")
    locale: str = Field(default="en-US", description="BCP 47 tag, e.g. pt-BR")
    require_mfa: bool = Field(default=False, description="every user must use TOTP to log in")
    week_starts_on: Literal["monday", "sunday"] = "monday"
    fiscal_year_start_month: int = Field(default=1, ge=1, le=12)
    automation_max_chain_depth: int = Field(
        default=10,
        ge=1,
        le=100,
        description="how many automation runs deep a chain of automations may go",
    )

    @field_validator("timezone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        if value not in _time_zones():
            raise ValueError("not an IANA time zone")
        return value

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in CURRENCIES:
            raise ValueError("not an ISO 4217 currency code")
        return value

    @field_validator("locale")
    @classmethod
    def _locale_tag(cls, value: str) -> str:
        if not LOCALE.match(value):
            raise ValueError("not a BCP 47 locale like en-US or pt-BR")
        return value

    @classmethod
    def stored(cls, raw: dict[str, Any] | None) -> TenantSettings:
        """What is stored, with defaults for what is not; keys no longer known are dropped."""
        raw = {k: v for k, v in (raw or {}).items() if k in cls.model_fields}
        return cls.model_validate(raw)


class TenantProfile(NamedTuple):
    """The tenant row as settings and plans see it. `version` is its ETag."""

    id: uuid.UUID
    name: str
    slug: str
    plan: str
    settings: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "slug": self.slug,
            "plan": self.plan,
            **TenantSettings.stored(self.settings).model_dump(),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "version": self.version,
        }
