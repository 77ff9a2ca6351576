"""The CRM core's pure rules: lead status transitions, custom field values, tags and phones,
history rows of a change, and the timeline's merge of its sources."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from crm.domain.custom_fields import CustomField, FieldType, validate_values
from crm.domain.errors import ValidationFailed
from crm.domain.gdpr import ERASED, person_key, scrub_envelope, scrub_response
from crm.domain.leads import Lead, LeadStatus, apply_status, change_events
from crm.domain.records import Change, RecordKind, normalize_tags, phone_digits
from crm.domain.timeline import TimelineItem, merge_newest

TENANT = uuid.uuid4()


def _field(key: str, type_: FieldType, **extra: Any) -> CustomField:
    return CustomField(TENANT, RecordKind.LEAD, key, key, type_, **extra)


# ------------------------------------------------------------------ status


def test_status_rules() -> None:
    lead = Lead(TENANT, "x")
    with pytest.raises(ValidationFailed, match="reason"):
        apply_status(lead, {"status": "lost"})
    apply_status(lead, {"status": "lost", "lost_reason": "price"})
    assert (lead.status, lead.lost_reason) == (LeadStatus.LOST, "price")
    apply_status(lead, {"status": "qualified"})  # leaving lost clears the reason
    assert lead.lost_reason is None
    with pytest.raises(ValidationFailed, match="converting"):
        apply_status(lead, {"status": "converted"})
    with pytest.raises(ValidationFailed, match="only a lost lead"):
        apply_status(lead, {"lost_reason": "why"})
    lead.status = LeadStatus.CONVERTED
    with pytest.raises(ValidationFailed, match="keeps its status"):
        apply_status(lead, {"status": "new"})


def test_change_events_follow_the_changed_fields() -> None:
    lead = Lead(TENANT, "x")
    changes = {
        "status": {"old": "new", "new": "qualified"},
        "owner_id": {"old": None, "new": str(uuid.uuid4())},
        "tags": {"old": ["a", "b"], "new": ["b", "c"]},
    }
    events = change_events(lead, changes, None)
    assert [e.type for e in events] == [
        "crm.lead.updated",
        "crm.lead.status_changed",
        "crm.lead.assigned",
        "crm.lead.tagged",
    ]
    assert (events[3].data["added"], events[3].data["removed"]) == (["c"], ["a"])
    assert [e.type for e in change_events(lead, {"name": {"old": "a", "new": "b"}}, None)] == [
        "crm.lead.updated"
    ]


# ------------------------------------------------------------------ custom fields


@pytest.mark.parametrize(
    ("type_", "value", "stored"),
    [
        (FieldType.TEXT, "  hi  ", "hi"),
        (FieldType.NUMBER, 3, 3),
        (FieldType.NUMBER, 2.5, 2.5),
        (FieldType.DATE, "2026-02-28", "2026-02-28"),
        (FieldType.BOOL, False, False),
        (FieldType.SELECT, "a", "a"),
        (FieldType.MULTI_SELECT, ["b", "a", "b"], ["b", "a"]),
    ],
)
def test_valid_custom_values_are_stored_normalised(
    type_: FieldType, value: Any, stored: Any
) -> None:
    options = ["a", "b"] if type_.has_options else []
    definition = _field("f", type_, options=options)
    assert validate_values([definition], {}, {"f": value}) == {"f": stored}


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        (FieldType.TEXT, 3),
        (FieldType.TEXT, "x" * 1001),
        (FieldType.NUMBER, "3"),
        (FieldType.NUMBER, True),
        (FieldType.NUMBER, float("inf")),
        (FieldType.NUMBER, 1e16),
        (FieldType.DATE, "2026-02-30"),
        (FieldType.DATE, 20260101),
        (FieldType.BOOL, "true"),
        (FieldType.SELECT, "c"),
        (FieldType.SELECT, ["a"]),
        (FieldType.MULTI_SELECT, "a"),
        (FieldType.MULTI_SELECT, ["a", "z"]),
        (FieldType.MULTI_SELECT, [1]),
    ],
)
def test_invalid_custom_values_are_422_on_their_key(type_: FieldType, value: Any) -> None:
    options = ["a", "b"] if type_.has_options else []
    with pytest.raises(ValidationFailed) as error:
        validate_values([_field("f", type_, options=options)], {}, {"f": value})
    assert [e["loc"] for e in error.value.errors] == [["body", "custom_fields", "f"]]


def test_required_unknown_and_removed_keys_are_all_reported() -> None:
    fields = [_field("need", FieldType.TEXT, required=True), _field("opt", FieldType.NUMBER)]
    with pytest.raises(ValidationFailed) as error:
        validate_values(fields, {}, {"nope": 1, "opt": "x"})
    assert sorted(e["loc"][-1] for e in error.value.errors) == ["need", "nope", "opt"]
    current = {"need": "yes", "opt": 1}
    assert validate_values(fields, current, {"opt": None}) == {"need": "yes"}
    with pytest.raises(ValidationFailed):
        validate_values(fields, current, {"need": None})


def test_filter_values_are_typed_by_the_definition() -> None:
    assert _field("n", FieldType.NUMBER).filter_value("10") == 10
    assert _field("n", FieldType.NUMBER).filter_value("2.5") == 2.5
    assert _field("b", FieldType.BOOL).filter_value("false") is False
    assert _field("m", FieldType.MULTI_SELECT, options=["x"]).filter_value("x") == ["x"]
    for definition, raw in (
        (_field("n", FieldType.NUMBER), "ten"),
        (_field("b", FieldType.BOOL), "yes"),
        (_field("s", FieldType.SELECT, options=["x"]), "y"),
    ):
        with pytest.raises(ValueError):
            definition.filter_value(raw)


# ------------------------------------------------------------------ tags, phones, history


def test_tags_are_case_insensitive_distinct_and_comma_free() -> None:
    assert normalize_tags([" VIP ", "vip", "Hot"]) == ["vip", "hot"]
    for bad in (["a,b"], [""], ["x" * 51], [f"t{i}" for i in range(51)]):
        with pytest.raises(ValidationFailed):
            normalize_tags(bad)


def test_phones_compare_by_digits() -> None:
    assert phone_digits("+55 (11) 9999-0000") == phone_digits("5511 99990000") == "551199990000"
    assert phone_digits("n/a") is None and phone_digits(None) is None


def test_a_change_has_a_row_per_field_and_per_custom_field_key() -> None:
    change = Change.by(None, RecordKind.LEAD, uuid.uuid4(), datetime.now(UTC))
    change.fields(
        {
            "name": {"old": "a", "new": "b"},
            "owner_id": {"old": None, "new": "u"},
            "custom_fields": {"old": {"x": 1, "y": 2}, "new": {"x": 1, "y": 3, "z": 4}},
        },
        {"owner_id": "assigned"},
    )
    rows = [(e.action, e.field, e.old, e.new) for e in change.entries]
    assert rows == [
        ("updated", "custom_fields.y", 2, 3),
        ("updated", "custom_fields.z", None, 4),
        ("updated", "name", "a", "b"),
        ("assigned", "owner_id", None, "u"),
    ]
    assert {e.change_id for e in change.entries} == {change.id}
    assert all(e.actor_type == "system" for e in change.entries)


# ------------------------------------------------------------------ timeline


def test_the_timeline_merges_sources_newest_first_and_pages_without_gaps() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    every = [
        TimelineItem(kind, start + timedelta(minutes=minute), uuid.uuid4())
        for kind, minute in [("change", 1), ("note", 2), ("automation_run", 2), ("change", 5)]
    ]

    def source(kind: str, after: Any, limit: int) -> list[TimelineItem]:
        items = sorted(
            (i for i in every if i.type == kind), key=lambda i: (i.at, str(i.id)), reverse=True
        )
        if after is not None:
            items = [i for i in items if (i.at, str(i.id)) < (after.value, str(after.id))]
        return items[:limit]

    seen, after = [], None
    while True:
        page = merge_newest(
            [source(kind, after, 3) for kind in ("change", "note", "automation_run")], 2
        )
        seen += page.items
        if page.next is None:
            break
        after = page.next
    assert [i.id for i in seen] == [
        i.id for i in sorted(every, key=lambda i: (i.at, str(i.id)), reverse=True)
    ]


# ------------------------------------------------------------------ GDPR


def test_scrubbing_a_copy_keeps_everything_but_personal_data() -> None:
    lead = Lead(TENANT, "Maria", email="m@x.io", phone="1", company="Co", source="web",
                custom_fields={"cpf": "1"}, status=LeadStatus.LOST, lost_reason="Maria left")  # fmt: skip
    event = lead.event("crm.lead.updated", None, changes={
        "name": {"old": "M", "new": "Maria"}, "custom_fields.cpf": {"old": None, "new": "1"},
        "status": {"old": "new", "new": "lost"}})  # fmt: skip
    scrubbed = scrub_envelope(event.to_dict())
    snapshot = scrubbed["data"]["lead"]
    assert (snapshot["name"], snapshot["email"], snapshot["phone"], snapshot["company"]) == (
        ERASED, ERASED, ERASED, ERASED,
    )  # fmt: skip
    assert snapshot["custom_fields"] == {} and snapshot["lost_reason"] == ERASED
    assert (snapshot["source"], snapshot["status"], snapshot["id"]) == ("web", "lost", str(lead.id))
    changes = scrubbed["data"]["changes"]
    assert changes["name"] == {"old": ERASED, "new": ERASED}
    assert changes["custom_fields.cpf"] == {"old": None, "new": ERASED}
    assert changes["status"] == {"old": "new", "new": "lost"}
    conversion = {"lead": lead.to_dict(), "contact": None, "deal": {"title": "keep"}}
    assert scrub_response(conversion)["lead"]["name"] == ERASED
    assert scrub_response(conversion)["deal"] == {"title": "keep"}
    assert person_key("M@X.io ") == person_key("m@x.io") and "m@x.io" not in person_key("m@x.io")
