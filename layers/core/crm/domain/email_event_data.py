"""The `data` of the messaging context's events (crm.email.*). Ids only: the addresses and
bodies stay in the ledger, where GDPR erasure and retention can reach them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class EmailRecordRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["lead", "contact", "user"]
    id: str


class EmailRequestedData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email_id: str
    purpose: Literal["message", "invitation", "password_reset", "automation"]
    record: EmailRecordRef | None = None
