"""The event catalog is the one place event types live: published events must match it, and
the docs and the API are generated from it."""

from __future__ import annotations

import uuid

import pytest
from crm.domain.event_catalog import (
    CATALOG,
    InvalidEventData,
    UnknownEventType,
    catalog_document,
    render_markdown,
    validate_event,
)
from crm.domain.events import CloudEvent
from crm.domain.leads import Lead

from tests.support import ROOT
from tests.unit.fakes import FakeStore, FakeUnitOfWork


def test_docs_events_md_is_generated_from_the_catalog() -> None:
    doc = ROOT / "docs" / "events.md"
    assert doc.read_text() == render_markdown(), (
        "docs/events.md is stale: run .venv/bin/python scripts/event_catalog.py"
    )


def test_every_type_has_a_data_schema_with_properties() -> None:
    document = catalog_document()
    assert [entry["type"] for entry in document["events"]] == sorted(CATALOG)
    for entry in document["events"]:
        assert entry["data_schema"]["type"] == "object"
        assert entry["data_schema"]["properties"], entry["type"]
        assert entry["description"] and entry["subject"]


def test_the_events_the_domain_emits_match_their_models() -> None:
    lead = Lead(tenant_id=uuid.uuid4(), name="Ana", email="ana@example.com", source="web")
    validate_event(lead.created_event("corr-1"))


def test_an_uncatalogued_type_is_refused_with_where_to_add_it() -> None:
    event = CloudEvent(type="crm.lead.exploded", tenant_id=uuid.uuid4(), subject="x", data={})
    with pytest.raises(UnknownEventType, match=r"event_catalog\.py"):
        validate_event(event)


def test_data_that_does_not_match_the_model_is_refused() -> None:
    lead = Lead(tenant_id=uuid.uuid4(), name="Ana")
    event = lead.created_event()
    broken = CloudEvent(
        type=event.type,
        tenant_id=event.tenant_id,
        subject=event.subject,
        data={"lead": {**event.data["lead"], "status": "on-fire"}},
    )
    with pytest.raises(InvalidEventData, match=r"crm\.lead\.created"):
        validate_event(broken)


def test_the_unit_of_work_refuses_an_uncatalogued_event() -> None:
    tenant_id = uuid.uuid4()
    store = FakeStore()
    with FakeUnitOfWork(store, tenant_id) as uow, pytest.raises(UnknownEventType):
        uow.add_event(CloudEvent(type="crm.nope", tenant_id=tenant_id, subject="s", data={}))
