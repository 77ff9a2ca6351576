"""Request bodies of the leads, contacts, tags, categories and custom fields API (pydantic;
Powertools validates them and the OpenAPI document is generated from them). Unknown fields are
refused (422), strings are stripped and bounded.

A PATCH body names only what changes: `named()` tells "absent" from an explicit null, which
clears a nullable field; an explicit null for a field that cannot be empty is a 422 on it.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from crm.api.deal_schemas import DealIn
from crm.api.strict import StrictBool
from crm.domain.custom_fields import MAX_OPTIONS, OPTION_MAX_LENGTH, FieldType
from crm.domain.records import MAX_TAGS, TAG_MAX_LENGTH

MAX_CUSTOM_FIELDS = 100

TagName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
CategoryName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
CustomValues = Annotated[
    dict[Annotated[str, StringConstraints(max_length=40)], Any],
    Field(max_length=MAX_CUSTOM_FIELDS, description="custom field key -> value"),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    def named(self) -> dict[str, Any]:
        """The fields the request named, with their (validated) values."""
        return {name: getattr(self, name) for name in self.model_fields_set}


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("may not be null")
    return value


# ------------------------------------------------------------------ leads


class LeadIn(_Body):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, min_length=1, max_length=40)
    company: str | None = Field(default=None, max_length=200)
    source: str | None = Field(default=None, max_length=60)
    status: Literal["new", "qualified", "lost"] = "new"
    lost_reason: str | None = Field(
        default=None, min_length=1, max_length=500, description="required when status is lost"
    )
    owner_id: uuid.UUID | None = Field(
        default=None, description="omitted: the caller; null: unassigned"
    )
    tags: list[TagName] = Field(default_factory=list, max_length=MAX_TAGS)
    category: CategoryName | None = None
    score: int | None = Field(default=None, ge=0, le=100)
    custom_fields: CustomValues = Field(default_factory=dict)


class LeadPatch(_Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: EmailStr | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, min_length=1, max_length=40)
    company: str | None = Field(default=None, max_length=200)
    source: str | None = Field(default=None, max_length=60)
    status: Literal["new", "qualified", "lost", "converted"] | None = Field(
        default=None, description="converted only by POST /leads/{id}/convert"
    )
    lost_reason: str | None = Field(default=None, min_length=1, max_length=500)
    owner_id: uuid.UUID | None = Field(default=None, description="null: unassigned")
    tags: list[TagName] | None = Field(
        default=None, max_length=MAX_TAGS, description="the complete new list"
    )
    category: CategoryName | None = None
    score: int | None = Field(default=None, ge=0, le=100)
    custom_fields: CustomValues | None = Field(
        default=None, description="merge patch: named keys change, a null value removes one"
    )

    @field_validator("name", "status", "tags", "custom_fields")
    @classmethod
    def _no_nulls(cls, value: Any) -> Any:
        return _not_null(value)


class ConvertIn(_Body):
    contact_id: uuid.UUID | None = Field(
        default=None, description="an existing contact; omitted: a new one made from the lead"
    )
    job_title: str | None = Field(default=None, max_length=200)
    contact_custom_fields: CustomValues = Field(
        default_factory=dict, description="values for the contact's custom fields"
    )
    deal: DealIn | None = Field(
        default=None, description="also create this deal, linked to the lead and the contact"
    )

    @model_validator(mode="after")
    def _conversion_links_the_deal(self) -> ConvertIn:
        if self.deal is not None and (self.deal.lead_id or self.deal.contact_id):
            raise ValueError("the deal's lead_id and contact_id are set by the conversion")
        if self.contact_id is not None and (self.job_title or self.contact_custom_fields):
            raise ValueError("job_title and contact_custom_fields describe a new contact")
        return self


class ImportIn(_Body):
    mapping: dict[
        Annotated[str, StringConstraints(min_length=1, max_length=60)],
        Annotated[str, StringConstraints(min_length=1, max_length=200)],
    ] = Field(
        min_length=1,
        max_length=100,
        description='lead field -> CSV column, e.g. {"name": "Nome", "custom_fields.segment": "Seg"}',
    )
    dedup_policy: Literal["skip", "update"] = Field(
        default="skip", description="a row whose email or phone a lead has: skip it or update it"
    )
    file_name: str | None = Field(default=None, max_length=255)
    owner_id: uuid.UUID | None = Field(
        default=None, description="owner of the imported leads; omitted: the caller"
    )
    tags: list[TagName] = Field(default_factory=list, max_length=MAX_TAGS)
    trigger_automations: StrictBool = Field(
        default=False,
        description="also emit crm.lead.created for each lead created, so the automations it"
        " triggers run for imported leads; default: one crm.lead.imported per batch",
    )
    csv: str | None = Field(
        default=None, description="a small file inline (up to 4 MB); omit it to upload the file"
    )


class EraseIn(_Body):
    email: EmailStr = Field(max_length=254, description="the person whose data is erased")


class NoteIn(_Body):
    body: str = Field(min_length=1, max_length=10000)


class MergeIn(_Body):
    lead_id: uuid.UUID = Field(description="the lead merged into this one (it is then deleted)")


# ------------------------------------------------------------------ contacts


class ContactIn(_Body):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, min_length=1, max_length=40)
    company: str | None = Field(default=None, max_length=200)
    job_title: str | None = Field(default=None, max_length=200)
    owner_id: uuid.UUID | None = Field(
        default=None, description="omitted: the caller; null: unassigned"
    )
    tags: list[TagName] = Field(default_factory=list, max_length=MAX_TAGS)
    category: CategoryName | None = None
    custom_fields: CustomValues = Field(default_factory=dict)


class ContactPatch(_Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: EmailStr | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, min_length=1, max_length=40)
    company: str | None = Field(default=None, max_length=200)
    job_title: str | None = Field(default=None, max_length=200)
    owner_id: uuid.UUID | None = Field(default=None, description="null: unassigned")
    tags: list[TagName] | None = Field(
        default=None, max_length=MAX_TAGS, description="the complete new list"
    )
    category: CategoryName | None = None
    custom_fields: CustomValues | None = Field(
        default=None, description="merge patch: named keys change, a null value removes one"
    )

    @field_validator("name", "tags", "custom_fields")
    @classmethod
    def _no_nulls(cls, value: Any) -> Any:
        return _not_null(value)


# ------------------------------------------------------------------ tags, categories, fields


class TagIn(_Body):
    name: str = Field(min_length=1, max_length=TAG_MAX_LENGTH, description="stored lower-cased")
    color: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")


class CategoryIn(_Body):
    name: CategoryName


class CustomFieldIn(_Body):
    entity: Literal["lead", "contact"]
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    label: str = Field(min_length=1, max_length=100)
    type: FieldType
    required: StrictBool = False
    options: list[
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    ] = Field(default_factory=list, max_length=MAX_OPTIONS)


class CustomFieldPatch(_Body):
    label: str | None = Field(default=None, min_length=1, max_length=100)
    required: StrictBool | None = None
    options: (
        list[
            Annotated[
                str,
                StringConstraints(
                    strip_whitespace=True, min_length=1, max_length=OPTION_MAX_LENGTH
                ),
            ]
        ]
        | None
    ) = Field(default=None, max_length=MAX_OPTIONS, description="the complete new list")

    @field_validator("label", "required", "options")
    @classmethod
    def _no_nulls(cls, value: Any) -> Any:
        return _not_null(value)
