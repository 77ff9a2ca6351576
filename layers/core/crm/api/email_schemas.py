"""Request bodies of the email routes (pydantic)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class EmailRecipientIn(_Body):
    type: Literal["lead", "contact", "user"] = Field(description="what kind of record")
    id: uuid.UUID


class EmailIn(_Body):
    to: EmailRecipientIn = Field(description="the lead, contact or user to email")
    subject: str | None = Field(default=None, min_length=1, max_length=998)
    text: str | None = Field(default=None, max_length=200_000, description="plain-text body")
    html: str | None = Field(
        default=None,
        max_length=500_000,
        description="HTML body; without `text`, the text part is derived from it",
    )
    template_id: uuid.UUID | None = Field(
        default=None, description="render this template for the record instead"
    )
    variables: dict[str, Any] | None = Field(
        default=None, description="the template's `vars` (with template_id only)"
    )
    marketing: bool = Field(
        default=False,
        description="a marketing email: carries one-click List-Unsubscribe headers",
    )

    @model_validator(mode="after")
    def _content(self) -> EmailIn:
        if self.template_id is not None:
            if self.subject is not None or self.text is not None or self.html is not None:
                raise ValueError("give either `template_id` or `subject` with a body, not both")
            return self
        if self.variables is not None:
            raise ValueError("`variables` go with `template_id`")
        if self.subject is None:
            raise ValueError("give `subject` (or `template_id`)")
        if self.text is None and self.html is None:
            raise ValueError("give `text`, `html` or both")
        return self


class EmailTemplateIn(_Body):
    name: str = Field(min_length=1, max_length=200)
    subject: str = Field(min_length=1, max_length=998, description="Jinja2 (plain text)")
    html: str | None = Field(
        default=None, max_length=500_000, description="Jinja2, autoescaped HTML"
    )
    text: str | None = Field(
        default=None, max_length=200_000, description="Jinja2 (plain text); derived when absent"
    )


class EmailTemplatePatch(_Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    subject: str | None = Field(default=None, min_length=1, max_length=998)
    html: str | None = Field(default=None, max_length=500_000, description="null removes it")
    text: str | None = Field(default=None, max_length=200_000, description="null removes it")


class PreviewIn(_Body):
    record: EmailRecipientIn = Field(description="render the template for this record")
    variables: dict[str, Any] | None = None


class SuppressionIn(_Body):
    address: str = Field(min_length=3, max_length=320)
