"""Request bodies of the email routes (pydantic)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class EmailRecipientIn(_Body):
    type: Literal["lead", "contact", "user"] = Field(description="what kind of record")
    id: uuid.UUID


class EmailIn(_Body):
    to: EmailRecipientIn = Field(description="the lead, contact or user to email")
    subject: str = Field(min_length=1, max_length=998)
    text: str | None = Field(default=None, max_length=200_000, description="plain-text body")
    html: str | None = Field(
        default=None,
        max_length=500_000,
        description="HTML body; without `text`, the text part is derived from it",
    )

    @model_validator(mode="after")
    def _a_body(self) -> EmailIn:
        if self.text is None and self.html is None:
            raise ValueError("give `text`, `html` or both")
        return self
