"""What an automation's action needs besides the services it calls: who acts (the automation),
which record the triggering event is about, and `{{dotted.path}}` placeholders in mail texts.

Pure: no I/O. crm.services.automation_actions performs the actions.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import EmailStr, Field, StringConstraints, TypeAdapter, ValidationError

from crm.automation.model import Action
from crm.domain.strict import StrictDate
from crm.domain.tenants import Principal, Role

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}")
# A rendered recipient must be one plain address: no display name, no list, no line break.
ADDRESS = re.compile(r"^[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\"]+$")
SUBJECTS = {"leads": "lead", "contacts": "contact", "deals": "deal"}

_ACTION = TypeAdapter[Action](Action)


class ActionFailed(Exception):
    """The action cannot be performed (record gone, unknown tag, quota spent, bad config):
    fails the step's Task, so the run shows the step and this message. Nothing was written."""


@dataclass(frozen=True)
class AutomationPrincipal(Principal):
    """An automation acting in its tenant: history and audit rows name it (actor_type
    'automation', actor_id = the automation's id). It sees every record of the tenant, as an
    admin does. Columns that hold a user id (a stage stay's moved_by) get the automation's id,
    since no user made the change."""

    @classmethod
    def of(cls, tenant_id: uuid.UUID, automation_id: uuid.UUID) -> AutomationPrincipal:
        return cls(tenant_id=tenant_id, user_id=automation_id, role=Role.ADMIN)

    @property
    def actor_type(self) -> str:
        return "automation"

    @property
    def actor_id(self) -> uuid.UUID:
        return self.user_id


def parse_action(config: dict[str, Any]) -> Action:
    """The action config of a step as the model validates it (the state machine inlines what
    was validated on save; this guards against a definition edited elsewhere)."""
    try:
        return _ACTION.validate_python(config)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors()
        )
        raise ActionFailed(f"invalid action config: {problems}") from None


def parse_id(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise ActionFailed(f"{what} {value!r} is not an id") from None


def event_subject(subject: str) -> tuple[str, uuid.UUID] | None:
    """("lead" | "contact" | "deal", id) for a subject like `leads/<id>`; None otherwise."""
    collection, _, raw_id = subject.partition("/")
    kind = SUBJECTS.get(collection)
    if kind is None or not raw_id:
        return None
    try:
        return kind, uuid.UUID(raw_id)
    except ValueError:
        return None


def render(template: str, data: dict[str, Any]) -> str:
    """`template` with each `{{a.b}}` replaced by `data["a"]["b"]`: null -> empty, strings as
    they are, other values as JSON. A path the data lacks fails the action (a typo would
    otherwise send a mail with a silent gap)."""

    def value_of(match: re.Match[str]) -> str:
        path = match.group(1)
        current: Any = data
        for part in path.split("."):
            if not isinstance(current, dict) or part not in current:
                raise ActionFailed(f"placeholder {{{{{path}}}}} names nothing in the event data")
            current = current[part]
        if current is None:
            return ""
        if isinstance(current, str):
            return current
        return json.dumps(current, default=str)

    return PLACEHOLDER.sub(value_of, template)


def render_subject(template: str, data: dict[str, Any]) -> str:
    """A mail subject: rendered, refused when a line break came in (it would end the header)."""
    subject = render(template, data).strip()
    if "\r" in subject or "\n" in subject:
        raise ActionFailed("the rendered subject contains a line break")
    if not subject:
        raise ActionFailed("the rendered subject is empty")
    return subject


def render_recipient(template: str, data: dict[str, Any]) -> str:
    """One plain email address, or the action fails (an empty field, a list, a header)."""
    to = render(template, data).strip()
    if not ADDRESS.fullmatch(to):
        raise ActionFailed(f"the rendered recipient {to!r} is not one email address")
    return to


# --- update_field -----------------------------------------------------------------------------

_Str200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
_Optional = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None
_Phone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
_Category = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
_Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
_Email = Annotated[EmailStr, StringConstraints(max_length=254)]
_Percent = Annotated[int, Field(ge=0, le=100)]
_Amount = Annotated[Decimal, Field(ge=0, max_digits=16, decimal_places=2)]

# The core fields update_field may set, per record kind, each validated as a PATCH of that
# field is (the request schemas in crm.api.record_schemas / deal_schemas: the same bounds,
# nullability and choices; tests/unit/test_update_field_rules.py holds them to it). Owner,
# tags and stages have actions of their own; the rules of the record (a lost lead needs a
# reason, unique email, known category) apply in the services as for any PATCH.
UPDATABLE_FIELDS: dict[str, dict[str, TypeAdapter[Any]]] = {
    "lead": {
        "name": TypeAdapter(_Str200),
        "email": TypeAdapter(_Email | None),
        "phone": TypeAdapter(_Phone | None),
        "company": TypeAdapter(_Optional),
        "source": TypeAdapter(
            Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)] | None
        ),
        "status": TypeAdapter(Literal["new", "qualified", "lost", "converted"]),
        "lost_reason": TypeAdapter(_Reason | None),
        "score": TypeAdapter(_Percent | None),
        "category": TypeAdapter(_Category | None),
    },
    "contact": {
        "name": TypeAdapter(_Str200),
        "email": TypeAdapter(_Email | None),
        "phone": TypeAdapter(_Phone | None),
        "company": TypeAdapter(_Optional),
        "job_title": TypeAdapter(_Optional),
        "category": TypeAdapter(_Category | None),
    },
    "deal": {
        "title": TypeAdapter(_Str200),
        "value": TypeAdapter(_Amount),
        "currency": TypeAdapter(Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]),
        "probability": TypeAdapter(_Percent | None),
        "expected_close_date": TypeAdapter(StrictDate | None),
    },
}
CUSTOM_PREFIX = "custom_fields."


def field_value(kind: str, name: str, raw: Any) -> Any:
    """A core field's value as a PATCH would accept it, or ActionFailed naming the field."""
    rules = UPDATABLE_FIELDS[kind]
    adapter = rules.get(name)
    if adapter is None:
        raise ActionFailed(
            f"field: a {kind} has no field {name!r} that update_field sets "
            f"(one of {', '.join(sorted(rules))}"
            f"{', custom_fields.<key>' if kind != 'deal' else ''})"
        )
    try:
        return adapter.validate_python(raw)
    except ValidationError as error:
        problem = error.errors()[0]["msg"]
        raise ActionFailed(f"value: {raw!r} is not a valid {kind} {name}: {problem}") from None


def render_value(value: Any, data: dict[str, Any]) -> Any:
    """A string value with its placeholders rendered; any other value as it is. A string that
    is one placeholder and nothing else keeps the referenced value's type (a number stays a
    number)."""
    if not isinstance(value, str):
        return value
    whole = PLACEHOLDER.fullmatch(value.strip())
    if whole is not None:
        return lookup(whole.group(1), data)
    return render(value, data)


def lookup(path: str, data: dict[str, Any]) -> Any:
    current: Any = data
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            raise ActionFailed(f"placeholder {{{{{path}}}}} names nothing in the event data")
        current = current[part]
    return current


# --- send_sms ---------------------------------------------------------------------------------

E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def render_phone(template: str, data: dict[str, Any]) -> str:
    """An E.164 number (`+` and 7 to 15 digits; spaces, dots, dashes and brackets are dropped),
    or ActionFailed naming `to`."""
    raw = render(template, data).strip()
    number = re.sub(r"[\s().-]", "", raw)
    if not E164.fullmatch(number):
        raise ActionFailed(f"to: the rendered number {raw!r} is not an E.164 phone number")
    return number
