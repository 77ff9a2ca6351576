"""The `data` models of the lead and contact events, registered in crm.domain.event_catalog
(the unit of work validates every event against them)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from crm.domain.leads import LeadStatus


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldChange(_Data):
    old: Any
    new: Any


Changes = dict[str, FieldChange]


class LeadSnapshot(_Data):
    """The lead as it was written by the change that emitted the event."""

    id: uuid.UUID
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(description="lower-cased")
    phone: str | None
    company: str | None
    source: str | None = Field(description="where the lead came from, e.g. web, import")
    status: LeadStatus
    lost_reason: str | None = Field(description="set when (and only when) status is lost")
    owner_id: uuid.UUID | None
    tags: list[str]
    category: str | None
    score: int | None = Field(ge=0, le=100)
    custom_fields: dict[str, Any] = Field(description="key -> value, per the tenant's definitions")
    converted_at: datetime | None
    contact_id: uuid.UUID | None = Field(description="the contact it was converted into")
    merged_into: uuid.UUID | None = Field(description="the lead it was merged into")
    deleted_at: datetime | None
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    version: int = Field(ge=1, description="the lead's version; grows by one per change")


class LeadData(_Data):
    lead: LeadSnapshot


class LeadUpdatedData(_Data):
    lead: LeadSnapshot
    changes: Changes = Field(description="field -> {old, new}")


class LeadStatusChangedData(_Data):
    lead: LeadSnapshot
    from_status: LeadStatus
    to_status: LeadStatus
    reason: str | None = Field(description="the lost reason when the lead was lost")


class LeadAssignedData(_Data):
    lead: LeadSnapshot
    from_owner_id: uuid.UUID | None
    to_owner_id: uuid.UUID | None


class LeadTaggedData(_Data):
    lead: LeadSnapshot
    added: list[str]
    removed: list[str]


class LeadsImportedData(_Data):
    import_id: uuid.UUID
    leads: list[LeadSnapshot] = Field(description="the leads one batch of the import created")


class LeadConvertedData(_Data):
    lead: LeadSnapshot
    contact_id: uuid.UUID
    deal_id: uuid.UUID | None


class LeadMergedData(_Data):
    lead: LeadSnapshot = Field(description="the lead that remains, after the merge")
    merged_lead_id: uuid.UUID = Field(description="the lead merged into it (now deleted)")
    changes: Changes = Field(description="fields the remaining lead took from the merged one")


class RecordErasedData(_Data):
    """No personal data: only which record was anonymised."""

    id: uuid.UUID


class ContactSnapshot(_Data):
    id: uuid.UUID
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(description="lower-cased")
    phone: str | None
    company: str | None
    job_title: str | None
    owner_id: uuid.UUID | None
    tags: list[str]
    category: str | None
    custom_fields: dict[str, Any]
    lead_id: uuid.UUID | None = Field(description="the lead it was converted from")
    deleted_at: datetime | None
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    version: int = Field(ge=1)


class ContactData(_Data):
    contact: ContactSnapshot


class ContactUpdatedData(_Data):
    contact: ContactSnapshot
    changes: Changes = Field(description="field -> {old, new}")


class ContactAssignedData(_Data):
    contact: ContactSnapshot
    from_owner_id: uuid.UUID | None
    to_owner_id: uuid.UUID | None


class ContactTaggedData(_Data):
    contact: ContactSnapshot
    added: list[str]
    removed: list[str]
