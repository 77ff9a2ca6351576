"""Request bodies of the webhook endpoint routes (pydantic; the URL and event types are
judged by crm.services.webhooks, which answers 422 per field)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from crm.api.strict import StrictBool
from crm.domain.webhooks import MAX_URL_LENGTH

DeliveryStatusFilter = Literal["pending", "delivered", "failed"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class WebhookEndpointIn(_Body):
    url: str = Field(min_length=1, max_length=MAX_URL_LENGTH, description="https URL")
    event_types: list[str] = Field(
        min_length=1,
        max_length=100,
        description="catalogued event types (crm.lead.created) or prefixes (crm.deal.*)",
    )
    description: str | None = Field(default=None, max_length=500)
    active: StrictBool = True


class WebhookEndpointPatch(_Body):
    url: str | None = Field(default=None, min_length=1, max_length=MAX_URL_LENGTH)
    event_types: list[str] | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    active: StrictBool | None = None

    @model_validator(mode="after")
    def _no_null_for_required(self) -> WebhookEndpointPatch:
        # An explicit null clears `description` only; the others cannot be empty.
        nulled = [
            name
            for name in ("url", "event_types", "active")
            if name in self.model_fields_set and getattr(self, name) is None
        ]
        if nulled:
            raise ValueError(f"{', '.join(nulled)} cannot be null")
        return self
