"""GDPR: what is personal data in a lead or contact, and how a copy of it is anonymised.

Erasure keeps the records (so counts by status, source, owner, dates — the aggregates — stay
right) and replaces what identifies the person: name, email, phone, company, job title, lost
reason, custom fields, notes. The same goes for every copy the platform keeps: the records'
history, the events in the outbox and in dead letters, stored Idempotency-Key responses.
"""

from __future__ import annotations

import hashlib
from typing import Any

ERASED = "[erased]"
# Fields of a lead or contact that can identify a person (custom fields: all of them).
PERSONAL_FIELDS = frozenset(
    {"name", "email", "phone", "company", "job_title", "lost_reason", "custom_fields"}
)


def person_key(email: str) -> str:
    """How audit rows name the person: a hash, never the email (the audit log is
    append-only, so it must not hold what erasure removes)."""
    return "sha256:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()


def is_personal(field: str | None) -> bool:
    return field is not None and (field in PERSONAL_FIELDS or field.startswith("custom_fields."))


def erased_value(value: Any) -> Any:
    return None if value is None else ERASED


def scrub_record(record: dict[str, Any]) -> dict[str, Any]:
    """A lead or contact as a dict (a snapshot in an event, a history row's values, a stored
    response) with its personal fields anonymised; other fields as they were."""
    scrubbed = dict(record)
    for field in PERSONAL_FIELDS & scrubbed.keys():
        if field == "name":
            scrubbed[field] = ERASED
        elif field == "custom_fields":
            scrubbed[field] = {}
        else:
            scrubbed[field] = erased_value(scrubbed[field])
    return scrubbed


def scrub_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """{field: {old, new}} with the personal fields' values anonymised."""
    return {
        field: (
            {"old": erased_value(change.get("old")), "new": erased_value(change.get("new"))}
            if is_personal(field) and isinstance(change, dict)
            else change
        )
        for field, change in changes.items()
    }


def scrub_envelope(envelope: dict[str, Any]) -> dict[str, Any]:
    """A CloudEvent envelope about a lead or contact, anonymised in place of its copy."""
    data = dict(envelope.get("data") or {})
    for key in ("lead", "contact"):
        if isinstance(data.get(key), dict):
            data[key] = scrub_record(data[key])
    if isinstance(data.get("changes"), dict):
        data["changes"] = scrub_changes(data["changes"])
    if "reason" in data and data["reason"] is not None:
        data["reason"] = ERASED  # a lost reason is free text
    return {**envelope, "data": data}


def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    """A stored response: a record, or {lead, contact, deal} of a conversion."""
    if "lead" in response or "contact" in response:
        return {
            key: scrub_record(value) if key in ("lead", "contact") and value else value
            for key, value in response.items()
        }
    return scrub_record(response)
