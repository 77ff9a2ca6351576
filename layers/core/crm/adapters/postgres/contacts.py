"""Contacts: SQL only, parameterised; never commits. Everything a contact repository does is
shared with leads (crm.adapters.postgres.person_tables); here: the table."""

from __future__ import annotations

from crm.adapters.postgres.person_tables import PersonTable, PostgresPersonRepository
from crm.domain.contacts import Contact

CONTACT_TABLE = PersonTable(
    table="contacts",
    alias="c",
    kind="contact",
    # In this order: rows of the list SQL are read by position (tests, benches).
    columns=(
        "id",
        "tenant_id",
        "name",
        "email",
        "phone",
        "company",
        "job_title",
        "owner_id",
        "tags",
        "category",
        "custom_fields",
        "lead_id",
        "created_by",
        "created_at",
        "updated_at",
        "deleted_at",
        "version",
    ),
    record=Contact,
)


class PostgresContactRepository(PostgresPersonRepository[Contact]):
    TABLE = CONTACT_TABLE
