"""In-memory fakes of the CRM core ports (leads in full, history, notes, tags, categories,
custom fields), attached to tests/unit/fakes.FakeUnitOfWork. Lists and search are SQL and are
tested on the real adapters (tests/integration/test_crm_core.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm.domain.contacts import Contact
from crm.domain.custom_fields import CustomField
from crm.domain.leads import Lead
from crm.domain.notes import Note
from crm.domain.pagination import Keyset, Page, PageRequest
from crm.domain.records import HistoryEntry, RecordKind, phone_digits
from crm.domain.taxonomy import Category, Tag


@dataclass
class CrmCoreState:
    history: list[tuple[uuid.UUID, HistoryEntry]] = field(default_factory=list)
    notes: list[tuple[uuid.UUID, Note]] = field(default_factory=list)
    tags: dict[tuple[uuid.UUID, str], Tag] = field(default_factory=dict)
    categories: dict[tuple[uuid.UUID, str], Category] = field(default_factory=dict)
    custom_fields: dict[uuid.UUID, CustomField] = field(default_factory=dict)
    locked_identities: list[str] = field(default_factory=list)
    contacts: dict[uuid.UUID, Contact] = field(default_factory=dict)


class FakeLeads:
    def __init__(self, staged: Any, tenant_id: uuid.UUID) -> None:
        self._s, self._t = staged, tenant_id

    def _mine(self) -> list[Lead]:
        return [lead for lead in self._s.leads.values() if lead.tenant_id == self._t]

    def add(self, lead: Lead) -> None:
        self._s.leads[lead.id] = lead

    def get(
        self, lead_id: uuid.UUID, *, for_update: bool = False, include_deleted: bool = False
    ) -> Lead | None:
        lead = self._s.leads.get(lead_id)
        if lead is None or lead.tenant_id != self._t:
            return None
        return lead if include_deleted or lead.deleted_at is None else None

    def update(self, lead: Lead) -> None:
        self._s.leads[lead.id] = lead

    def lock_identities(self, keys: Sequence[str]) -> None:
        self._s.crm_core.locked_identities.extend(sorted(set(keys)))

    def find_duplicate(
        self, email: str | None, digits: str | None, exclude_id: uuid.UUID | None
    ) -> tuple[uuid.UUID, str] | None:
        live = sorted(
            (lead for lead in self._mine() if lead.deleted_at is None and lead.id != exclude_id),
            key=lambda lead: lead.created_at,
        )
        for lead in live:
            if email is not None and lead.email == email:
                return lead.id, "email"
        for lead in live:
            if digits is not None and phone_digits(lead.phone) == digits:
                return lead.id, "phone"
        return None

    def merged_into(self, lead_id: uuid.UUID) -> list[uuid.UUID]:
        return [lead.id for lead in self._mine() if lead.merged_into == lead_id]

    def repoint_merged(self, from_id: uuid.UUID, to_id: uuid.UUID) -> None:
        for lead in self._mine():
            if lead.merged_into == from_id:
                lead.merged_into = to_id

    def repoint_deals(self, from_id: uuid.UUID, to_id: uuid.UUID) -> None:
        return None  # no deals in these fakes

    def is_active_user(self, user_id: uuid.UUID) -> bool:
        row = self._s.tenancy.users.get(user_id)
        return bool(row and row.tenant_id == self._t and row.member.status == "active")


class FakeContacts:
    def __init__(self, staged: Any, tenant_id: uuid.UUID) -> None:
        self._s, self._t = staged, tenant_id

    def add(self, contact: Contact) -> None:
        self._s.crm_core.contacts[contact.id] = contact

    def get(
        self, contact_id: uuid.UUID, *, for_update: bool = False, include_deleted: bool = False
    ) -> Contact | None:
        contact: Contact | None = self._s.crm_core.contacts.get(contact_id)
        if contact is None or contact.tenant_id != self._t:
            return None
        return contact if include_deleted or contact.deleted_at is None else None

    def update(self, contact: Contact) -> None:
        self._s.crm_core.contacts[contact.id] = contact

    def lock_identities(self, keys: Sequence[str]) -> None:
        self._s.crm_core.locked_identities.extend(sorted(set(keys)))

    def find_duplicate(
        self, email: str | None, digits: str | None, exclude_id: uuid.UUID | None
    ) -> tuple[uuid.UUID, str] | None:
        live = [
            c for c in self._s.crm_core.contacts.values()
            if c.tenant_id == self._t and c.deleted_at is None and c.id != exclude_id
        ]  # fmt: skip
        for contact in live:
            if email is not None and contact.email == email:
                return contact.id, "email"
        for contact in live:
            if digits is not None and phone_digits(contact.phone) == digits:
                return contact.id, "phone"
        return None


class FakeHistory:
    def __init__(self, staged: Any, tenant_id: uuid.UUID) -> None:
        self._s, self._t = staged, tenant_id

    def add(self, entries: Sequence[HistoryEntry]) -> None:
        self._s.crm_core.history.extend((self._t, entry) for entry in entries)

    def _of(self, kind: RecordKind, ids: Sequence[uuid.UUID]) -> list[HistoryEntry]:
        return [
            e for t, e in self._s.crm_core.history
            if t == self._t and e.kind is kind and e.record_id in ids
        ]  # fmt: skip

    def page(
        self,
        kind: RecordKind,
        record_ids: Sequence[uuid.UUID],
        page: PageRequest,
        *,
        newest_first: bool = True,
    ) -> Page[HistoryEntry]:
        entries = sorted(
            self._of(kind, record_ids),
            key=lambda e: (e.changed_at, str(e.id)),
            reverse=newest_first,
        )
        if page.after is not None:
            mark = (page.after.value, str(page.after.id))
            entries = [
                e for e in entries
                if ((e.changed_at, str(e.id)) < mark) == newest_first
                and (e.changed_at, str(e.id)) != mark
            ]  # fmt: skip
        return Page.from_rows(
            entries[: page.limit + 1], page.limit, lambda e: Keyset(e.changed_at, e.id)
        )

    def newest(
        self, kind: RecordKind, record_ids: Sequence[uuid.UUID], after: Keyset | None, limit: int
    ) -> list[HistoryEntry]:
        return self.page(kind, record_ids, PageRequest(limit, after)).items


class FakeNotes:
    def __init__(self, staged: Any, tenant_id: uuid.UUID) -> None:
        self._s, self._t = staged, tenant_id

    def add(self, note: Note) -> None:
        self._s.crm_core.notes.append((self._t, note))

    def newest(
        self, kind: RecordKind, record_ids: Sequence[uuid.UUID], after: Keyset | None, limit: int
    ) -> list[Note]:
        notes = sorted(
            (n for t, n in self._s.crm_core.notes
             if t == self._t and n.kind is kind and n.record_id in record_ids),
            key=lambda n: (n.created_at, str(n.id)),
            reverse=True,
        )  # fmt: skip
        if after is not None:
            notes = [n for n in notes if (n.created_at, str(n.id)) < (after.value, str(after.id))]
        return notes[:limit]


class FakeTags:
    def __init__(self, staged: Any, tenant_id: uuid.UUID) -> None:
        self._s, self._t = staged, tenant_id

    def all(self) -> list[Tag]:
        return sorted(
            (tag for (t, _), tag in self._s.crm_core.tags.items() if t == self._t),
            key=lambda tag: tag.name,
        )

    def existing(self, names: Sequence[str]) -> set[str]:
        return {name for name in names if (self._t, name) in self._s.crm_core.tags}

    def add(self, tag: Tag) -> bool:
        if (self._t, tag.name) in self._s.crm_core.tags:
            return False
        self._s.crm_core.tags[(self._t, tag.name)] = tag
        return True

    def get(self, name: str) -> Tag | None:
        tag: Tag | None = self._s.crm_core.tags.get((self._t, name))
        return tag

    def delete(self, name: str, *, actor: tuple[str, uuid.UUID | None], at: datetime) -> int | None:
        if self._s.crm_core.tags.pop((self._t, name), None) is None:
            return None
        changed = 0
        for lead in self._s.leads.values():
            if lead.tenant_id == self._t and name in lead.tags:
                lead.tags = [t for t in lead.tags if t != name]
                lead.version += 1
                changed += 1
        return changed


class FakeCategories:
    def __init__(self, staged: Any, tenant_id: uuid.UUID) -> None:
        self._s, self._t = staged, tenant_id

    def all(self) -> list[Category]:
        return sorted(
            (c for (t, _), c in self._s.crm_core.categories.items() if t == self._t),
            key=lambda c: c.name,
        )

    def exists(self, name: str) -> bool:
        return (self._t, name) in self._s.crm_core.categories

    def add(self, category: Category) -> bool:
        if self.exists(category.name):
            return False
        self._s.crm_core.categories[(self._t, category.name)] = category
        return True

    def delete(self, name: str, *, actor: tuple[str, uuid.UUID | None], at: datetime) -> int | None:
        if self._s.crm_core.categories.pop((self._t, name), None) is None:
            return None
        changed = 0
        for lead in self._s.leads.values():
            if lead.tenant_id == self._t and lead.category == name:
                lead.category = None
                lead.version += 1
                changed += 1
        return changed


class FakeCustomFields:
    def __init__(self, staged: Any, tenant_id: uuid.UUID) -> None:
        self._s, self._t = staged, tenant_id

    def all(self) -> list[CustomField]:
        return sorted(
            (d for d in self._s.crm_core.custom_fields.values() if d.tenant_id == self._t),
            key=lambda d: (d.entity.value, d.created_at),
        )

    def for_entity(self, entity: RecordKind) -> list[CustomField]:
        return [d for d in self.all() if d.entity is entity]

    def get(self, field_id: uuid.UUID, *, for_update: bool = False) -> CustomField | None:
        found: CustomField | None = self._s.crm_core.custom_fields.get(field_id)
        return found if found and found.tenant_id == self._t else None

    def add(self, definition: CustomField) -> bool:
        if any(d.entity is definition.entity and d.key == definition.key for d in self.all()):
            return False
        self._s.crm_core.custom_fields[definition.id] = definition
        return True

    def update(self, definition: CustomField) -> None:
        self._s.crm_core.custom_fields[definition.id] = definition


def attach(uow: Any, staged: Any, tenant_id: uuid.UUID) -> None:
    """Gives a FakeUnitOfWork the CRM core repositories, over the staged copy of the store."""
    uow.leads = FakeLeads(staged, tenant_id)
    uow.contacts = FakeContacts(staged, tenant_id)
    uow.history = FakeHistory(staged, tenant_id)
    uow.notes = FakeNotes(staged, tenant_id)
    uow.tags = FakeTags(staged, tenant_id)
    uow.categories = FakeCategories(staged, tenant_id)
    uow.custom_fields = FakeCustomFields(staged, tenant_id)
