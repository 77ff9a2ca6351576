"""Workflow model: trigger -> steps (conditions, delays, actions), validated by pydantic.

A workflow arrives as JSON from the API; `Workflow.model_validate(data)` either returns an
immutable tree or raises `pydantic.ValidationError`, whose `errors()` carry a `loc` per field
that the API turns into a 422 problem+json with per-field errors. Discriminated unions put the
tag in the location, e.g. `("steps", 0, "action", "action", "webhook", "url")`.

Identifiers, field paths and header names are restricted to characters that are safe to embed
in Amazon States Language: ids and field paths become JSONPath segments, and a Parameters key
ending in `.$` would be evaluated as a path, so no user-supplied key may end that way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from crm.domain.webhooks import TargetPolicy, parse_target

MAX_STEPS = 100
MAX_CHAIN_DEPTH = 100
MIN_DELAY_SECONDS = 1
# A Standard execution lives at most one year, so a single delay and the sum of delays along
# any path share this bound.
MAX_DELAY_SECONDS = 365 * 24 * 60 * 60

# Ids start with a letter: JSONPath engines (moto's among them) reject `$.steps.1abc`.
STEP_ID_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
TRIGGER_EVENT_PATTERN = r"^crm\.[a-z_]+\.[a-z_]+$"
FIELD_PATH_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,9}$"
HEADER_NAME_PATTERN = r"^[A-Za-z0-9-]{1,64}$"


def _non_empty(items: tuple[Any, ...]) -> tuple[Any, ...]:
    # Checked after the items (not with Field(min_length=...)): for tuples pydantic counts only
    # the items that validated, so a bad item would also be reported as "too short".
    if not items:
        raise PydanticCustomError("too_short", "at least one item is required")
    return items


NonEmpty = AfterValidator(_non_empty)


class _Frozen(BaseModel):
    # defer_build: most functions import the workflow model only through crm.ports and never
    # validate one; the schemas are built on first use (~150 ms off their cold import)
    model_config = ConfigDict(
        extra="forbid", frozen=True, serialize_by_alias=True, defer_build=True
    )


# --- conditions -------------------------------------------------------------------------------

FieldPath = Annotated[str, Field(pattern=FIELD_PATH_PATTERN)]
FiniteFloat = Annotated[StrictFloat, Field(allow_inf_nan=False)]
ComparisonValue = (
    StrictBool | StrictInt | FiniteFloat | Annotated[StrictStr, Field(max_length=1024)] | None
)

ComparisonOp = Literal["eq", "ne", "gt", "gte", "lt", "lte", "contains", "starts_with"]
ORDERING_OPS = frozenset({"gt", "gte", "lt", "lte"})
STRING_OPS = frozenset({"contains", "starts_with"})
MAX_LISTED_VALUES = 50
# Groups nest this deep at most (the top-level `when` group is level 1).
MAX_GROUP_DEPTH = 5
# Condition fields under this prefix read the record as it is when the condition runs (loaded
# by the run, as the automation), e.g. `record.status`; the others read the trigger event.
RECORD_PREFIX = "record"


class Comparison(_Frozen):
    """`field <op> value`; `field` is a dotted path into the event's `data` (or, under
    `record.`, into the current record)."""

    field: FieldPath
    op: ComparisonOp
    value: ComparisonValue

    @model_validator(mode="after")
    def _value_fits_op(self) -> Comparison:
        value = self.value
        if self.op in STRING_OPS and not isinstance(value, str):
            error = PydanticCustomError(
                "contains_needs_string", "'{op}' needs a string value", {"op": self.op}
            )
        elif self.op in ORDERING_OPS and (value is None or isinstance(value, bool)):
            error = PydanticCustomError(
                "ordering_needs_number_or_string",
                "'{op}' needs a number or a string value",
                {"op": self.op},
            )
        else:
            return self
        raise ValidationError.from_exception_data(
            type(self).__name__, [InitErrorDetails(type=error, loc=("value",), input=value)]
        )


class Membership(_Frozen):
    """`field` equals one of the listed values (`in`) or none of them (`not_in`)."""

    field: FieldPath
    op: Literal["in", "not_in"]
    value: Annotated[tuple[ComparisonValue, ...], NonEmpty] = Field(max_length=MAX_LISTED_VALUES)


class Exists(_Frozen):
    """True when `field` is present in the event's `data` (even if it is null)."""

    field: FieldPath
    op: Literal["exists"]


class Emptiness(_Frozen):
    """`is_empty`: the field is missing, null or ""; `not_empty`: the opposite."""

    field: FieldPath
    op: Literal["is_empty", "not_empty"]


class Changed(_Frozen):
    """True when the triggering event changed `field` of its record (its `changes` name it)."""

    field: FieldPath
    op: Literal["changed"]


Condition = Annotated[
    Comparison | Membership | Exists | Emptiness | Changed, Field(discriminator="op")
]
CONDITION_TYPES = (Comparison, Membership, Exists, Emptiness, Changed)


def _group_tag(value: Any) -> str | None:
    """Which kind of `when` member `value` is; None when it is none of them."""
    if isinstance(value, dict):
        if "all" in value:
            return "all"
        if "any" in value:
            return "any"
        return "condition"
    if isinstance(value, AllOf | WhenAll):
        return "all"
    if isinstance(value, AnyOf | WhenAny):
        return "any"
    if isinstance(value, CONDITION_TYPES):
        return "condition"
    return None


GroupMember = Annotated[
    Annotated[Condition, Tag("condition")]
    | Annotated["AllOf", Tag("all")]
    | Annotated["AnyOf", Tag("any")],
    Discriminator(
        _group_tag,
        custom_error_type="invalid_group_member",
        custom_error_message="expected a condition or an 'all'/'any' group",
    ),
]


class AllOf(_Frozen):
    """A nested group: every member holds (members may be groups again)."""

    all: Annotated[tuple[GroupMember, ...], NonEmpty] = Field(max_length=MAX_STEPS)


class AnyOf(_Frozen):
    """A nested group: at least one member holds."""

    any: Annotated[tuple[GroupMember, ...], NonEmpty] = Field(max_length=MAX_STEPS)


AllOf.model_rebuild()
AnyOf.model_rebuild()


class WhenAll(_Frozen):
    """Top-level group: every member holds. Members may be conditions or nested groups."""

    all: Annotated[tuple[GroupMember, ...], NonEmpty] = Field(max_length=MAX_STEPS)


class WhenAny(_Frozen):
    """Top-level group: at least one member holds."""

    any: Annotated[tuple[GroupMember, ...], NonEmpty] = Field(max_length=MAX_STEPS)


When = Annotated[
    Annotated[WhenAll, Tag("all")] | Annotated[WhenAny, Tag("any")],
    Discriminator(
        _group_tag,
        custom_error_type="invalid_when",
        custom_error_message="'when' must be an object with 'all' or 'any'",
    ),
]


def iter_conditions(member: Any) -> Iterator[Any]:
    """Every condition of a `when` tree, in document order."""
    if isinstance(member, WhenAll | AllOf):
        for item in member.all:
            yield from iter_conditions(item)
    elif isinstance(member, WhenAny | AnyOf):
        for item in member.any:
            yield from iter_conditions(item)
    else:
        yield member


def reads_record(member: Any) -> bool:
    """Whether a `when` tree reads the current record (a `record.` field)."""
    return any(
        condition.field.split(".")[0] == RECORD_PREFIX for condition in iter_conditions(member)
    )


def _too_deep(member: Any, loc: Loc, depth: int) -> Iterator[Loc]:
    """Locations of groups nested deeper than MAX_GROUP_DEPTH."""
    groups = (
        ("all", member.all)
        if isinstance(member, WhenAll | AllOf)
        else ("any", member.any)
        if isinstance(member, WhenAny | AnyOf)
        else None
    )
    if groups is None:
        return
    if depth > MAX_GROUP_DEPTH:
        yield loc
        return
    key, items = groups
    for index, item in enumerate(items):
        tag = _group_tag(item) or "condition"
        yield from _too_deep(item, (*loc, key, index, tag), depth + 1)


# --- actions ----------------------------------------------------------------------------------

OnError = Literal["fail", "continue"]
# An id the action names (a user, a pipeline, a stage); checked against the tenant at run time.
RefId = Annotated[str, Field(min_length=1, max_length=64)]
# E.164 after rendering: `+`, country code, at most 15 digits. Placeholders are allowed here.
SMS_MAX_LENGTH = 1600
ROLE_PATTERN = r"^[a-z][a-z0-9_-]{0,39}$"
# update_field: a core field of the record, or `custom_fields.<key>`.
UPDATE_FIELD_PATTERN = r"^([a-z_]{1,40}|custom_fields\.[a-z][a-z0-9_]{0,39})$"
PlainValue = (
    StrictBool | StrictInt | FiniteFloat | Annotated[StrictStr, Field(max_length=4096)] | None
)

# Headers a webhook action may not set: hop-by-hop and framing headers (RFC 9110 7.6.1),
# and those the sender writes itself (the Standard Webhooks signature among them).
FORBIDDEN_HEADERS = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
        "proxy-connection", "te", "trailer", "trailers", "transfer-encoding", "upgrade",
        "host", "content-length", "content-type", "expect", "user-agent",
        "webhook-id", "webhook-timestamp", "webhook-signature",
    }
)  # fmt: skip
# Names that look like they carry a credential: only as a secret header (sealed at rest).
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "x-api-key"})
CREDENTIAL_NAME_PARTS = ("token", "secret", "key", "auth", "password", "passwd", "session",
                         "cookie", "credential", "signature")  # fmt: skip
MAX_HEADER_VALUE = 4096


def is_credential_header(name: str) -> bool:
    lowered = name.lower()
    return (
        lowered in CREDENTIAL_HEADERS
        or lowered.startswith("proxy-")
        or any(part in lowered for part in CREDENTIAL_NAME_PARTS)
    )


def _header_value(value: str) -> str:
    # A line break or NUL would end the header and start another one (header injection).
    if any((ord(char) < 32 and char != "\t") or ord(char) == 127 for char in value):
        raise PydanticCustomError("header_value", "must not contain control characters")
    return value


HeaderValue = Annotated[str, Field(max_length=MAX_HEADER_VALUE), AfterValidator(_header_value)]


RESPONSE_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"


def _json_pointer(pointer: str) -> str:
    # RFC 6901: "" is the whole document; else "/"-separated tokens where "~" only escapes.
    tokens = pointer.split("/")[1:] if pointer else []
    if (pointer and not pointer.startswith("/")) or any(
        "~" in token.replace("~0", "").replace("~1", "") for token in tokens
    ):
        raise PydanticCustomError(
            "json_pointer", "a JSON pointer: empty or '/'-separated, '~' only as ~0 or ~1"
        )
    return pointer


class SecretHeader(_Frozen):
    """A header whose value is a credential: `{"value": "...", "secret": true}` in a request
    (`{"secret": true}` alone keeps the value a previous version stored); stored as
    `{"secret": true, "sealed": "<ciphertext>"}` (the field cipher), shown as
    `{"secret": true}` and never logged. Only the step that sends it decrypts it."""

    secret: Literal[True]
    value: HeaderValue | None = None
    sealed: str | None = Field(default=None, min_length=1, max_length=4 * MAX_HEADER_VALUE)

    @model_validator(mode="after")
    def _value_or_sealed(self) -> SecretHeader:
        if self.value is not None and self.sealed is not None:
            raise PydanticCustomError("secret_header", "either 'value' or 'sealed', not both")
        return self


def _header_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return "plain"
    if isinstance(value, dict | SecretHeader):
        return "secret"
    return None


WebhookHeader = Annotated[
    Annotated[HeaderValue, Tag("plain")] | Annotated[SecretHeader, Tag("secret")],
    Discriminator(
        _header_tag,
        custom_error_type="invalid_header",
        custom_error_message='a header is a string or {"value": "...", "secret": true}',
    ),
]


class _Action(_Frozen):
    """What every action has: `on_error` says whether a failure of this step fails the run
    (`fail`, the default) or is recorded and the run goes on with the next step (`continue`)."""

    on_error: OnError = "fail"


def _single_line(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise PydanticCustomError("line_break", "must not contain line breaks")
    return value


SingleLine = AfterValidator(_single_line)


class WebhookAction(_Action):
    """POST of the run's event to `url`, signed per Standard Webhooks with the automation's
    secret. The target policy of webhook subscriptions applies: the service checks the URL
    and its addresses at save, the sender again at every send."""

    kind: Literal["webhook"]
    url: str = Field(max_length=2048)
    headers: dict[Annotated[str, Field(pattern=HEADER_NAME_PATTERN)], WebhookHeader] = Field(
        default_factory=dict, max_length=50
    )
    # {name: JSON pointer (RFC 6901) into the receiver's JSON answer}: the values are stored
    # in the step's result (`data`), in the run's state at `$.steps.<id>.result.data`.
    response_mapping: (
        dict[
            Annotated[str, Field(pattern=RESPONSE_NAME_PATTERN)],
            Annotated[str, Field(max_length=512), AfterValidator(_json_pointer)],
        ]
        | None
    ) = Field(default=None, max_length=20)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        # The shape only; the deployment's policy (https, public addresses) is the service's.
        _, problems = parse_target(url, TargetPolicy(allow_http=True, allow_private=True))
        if problems:
            raise PydanticCustomError("url_target", "{problems}", {"problems": "; ".join(problems)})
        return url

    @model_validator(mode="after")
    def _allowed_headers(self) -> WebhookAction:
        errors: list[InitErrorDetails] = []
        seen: set[str] = set()
        for name, value in self.headers.items():
            lowered = name.lower()
            error: PydanticCustomError | None = None
            if lowered in seen:
                error = PydanticCustomError("duplicate_header", "set twice (names ignore case)")
            elif lowered in FORBIDDEN_HEADERS:
                error = PydanticCustomError(
                    "header_not_allowed",
                    "'{name}' may not be set: a hop-by-hop or framing header, or one the "
                    "sender sets itself",
                    {"name": name},
                )
            elif is_credential_header(name) and not isinstance(value, SecretHeader):
                error = PydanticCustomError(
                    "credential_header",
                    "'{name}' looks like a credential: send it as {form} so it is stored encrypted",
                    {"name": name, "form": '{"value": "...", "secret": true}'},
                )
            seen.add(lowered)
            if error is not None:
                errors.append(InitErrorDetails(type=error, loc=("headers", name), input=name))
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    def public_dump(self) -> dict[str, Any]:
        """The action as an API answer, a log or a simulation shows it: secret headers
        appear as `{"secret": true}`, without their value, sealed or not."""
        dumped = self.model_dump(mode="json", exclude_none=True)
        dumped["headers"] = {
            name: {"secret": True} if isinstance(value, SecretHeader) else value
            for name, value in self.headers.items()
        }
        return dumped


class AddTagAction(_Action):
    """Tag the event's lead or contact with a tag the tenant has."""

    kind: Literal["add_tag"]
    tag: str = Field(min_length=1, max_length=64)


class RemoveTagAction(_Action):
    """Remove a tag from the event's lead or contact; a no-op when it does not have it."""

    kind: Literal["remove_tag"]
    tag: str = Field(min_length=1, max_length=64)


class SendEmailAction(_Action):
    """`to`, `subject` and `body` may hold `{{dotted.path}}` placeholders, rendered at run time."""

    kind: Literal["send_email"]
    to: Annotated[str, SingleLine] = Field(min_length=1, max_length=320)
    subject: Annotated[str, SingleLine] = Field(min_length=1, max_length=255)
    body: str = Field(min_length=1, max_length=20_000)


class MoveStageAction(_Action):
    """Moves the triggering event's deal; a lost stage needs `lost_reason` (as a PATCH does)."""

    kind: Literal["move_stage"]
    pipeline_id: str = Field(min_length=1, max_length=64)
    stage_id: str = Field(min_length=1, max_length=64)
    lost_reason: str | None = Field(default=None, min_length=1, max_length=500)


class UpdateFieldAction(_Action):
    """Set one field of the event's lead, contact or deal, validated as a PATCH of that field
    is. A string value may hold `{{dotted.path}}` placeholders over the event data and
    `{{record.<field>}}` over the record as it is; null clears a nullable field (or removes a
    custom value)."""

    kind: Literal["update_field"]
    field: str = Field(pattern=UPDATE_FIELD_PATTERN)
    value: PlainValue


class RoundRobin(_Frozen):
    """Rotate over these users, or over the active members of a role, in a persistent order
    per automation and step; deactivated users are skipped."""

    user_ids: tuple[RefId, ...] | None = Field(default=None, min_length=1, max_length=100)
    role: str | None = Field(default=None, pattern=ROLE_PATTERN)

    @model_validator(mode="after")
    def _one_pool(self) -> RoundRobin:
        if (self.user_ids is None) == (self.role is None):
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "one_pool", "name either 'user_ids' or 'role', not both or neither"
                        ),
                        loc=("user_ids",),
                        input=self.user_ids,
                    )
                ],
            )
        return self


class AssignOwnerAction(_Action):
    """Give the event's lead, contact or deal an owner: one user, or the next of a rotation."""

    kind: Literal["assign_owner"]
    user_id: RefId | None = None
    round_robin: RoundRobin | None = None

    @model_validator(mode="after")
    def _one_target(self) -> AssignOwnerAction:
        if (self.user_id is None) == (self.round_robin is None):
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "one_target", "name either 'user_id' or 'round_robin'"
                        ),
                        loc=("user_id",),
                        input=self.user_id,
                    )
                ],
            )
        return self


class CreateDealAction(_Action):
    """A deal from the event's lead or contact (linked to it, owned by its owner), in a pipeline
    and stage (default: the pipeline's first stage). `title` may hold placeholders."""

    kind: Literal["create_deal"]
    title: str = Field(min_length=1, max_length=200)
    pipeline_id: RefId
    stage_id: RefId | None = None
    value: Annotated[str, Field(pattern=r"^\d{1,13}(\.\d{1,2})?$")] | None = Field(
        default=None, description='a decimal amount as a string, e.g. "1500.00"'
    )
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")


class CreateNoteAction(_Action):
    """A note on the event's lead or contact, written by the automation; `body` may hold
    placeholders."""

    kind: Literal["create_note"]
    body: str = Field(min_length=1, max_length=10_000)


class CreateTaskAction(_Action):
    """A task about the event's record for its owner or a named user, due some days later."""

    kind: Literal["create_task"]
    title: Annotated[str, SingleLine] = Field(min_length=1, max_length=200)
    assignee: Literal["owner"] | RefId = "owner"
    due_in_days: StrictInt | None = Field(default=None, ge=0, le=365)


class NotifyUserAction(_Action):
    """A notification to the record's owner or a named user; `message` may hold placeholders."""

    kind: Literal["notify_user"]
    user: Literal["owner"] | RefId = "owner"
    message: str = Field(min_length=1, max_length=1000)


class SendSmsAction(_Action):
    """A text message through Amazon SNS; `to` (E.164 once rendered, e.g. `{{lead.phone}}`) and
    `message` may hold placeholders. Counts against the plan's SMS per day."""

    kind: Literal["send_sms"]
    to: Annotated[str, SingleLine] = Field(min_length=1, max_length=64)
    message: str = Field(min_length=1, max_length=SMS_MAX_LENGTH)


Action = Annotated[
    WebhookAction
    | AddTagAction
    | RemoveTagAction
    | SendEmailAction
    | MoveStageAction
    | UpdateFieldAction
    | AssignOwnerAction
    | CreateDealAction
    | CreateNoteAction
    | CreateTaskAction
    | NotifyUserAction
    | SendSmsAction,
    Field(discriminator="kind"),
]
ACTION_MODELS: tuple[type[_Action], ...] = (
    WebhookAction,
    AddTagAction,
    RemoveTagAction,
    SendEmailAction,
    MoveStageAction,
    UpdateFieldAction,
    AssignOwnerAction,
    CreateDealAction,
    CreateNoteAction,
    CreateTaskAction,
    NotifyUserAction,
    SendSmsAction,
)


# --- steps ------------------------------------------------------------------------------------

StepId = Annotated[str, Field(pattern=STEP_ID_PATTERN)]


class ConditionStep(_Frozen):
    id: StepId
    type: Literal["condition"]
    when: When
    then: tuple[Step, ...] = ()
    else_: tuple[Step, ...] = Field(default=(), alias="else")


MAX_SWITCH_CASES = 20


class SwitchCase(_Frozen):
    when: When
    steps: tuple[Step, ...] = ()


class SwitchStep(_Frozen):
    """A multi-way branch: the steps of the first case whose `when` holds, else `default`;
    every branch continues with the step after the switch."""

    id: StepId
    type: Literal["switch"]
    cases: Annotated[tuple[SwitchCase, ...], NonEmpty] = Field(max_length=MAX_SWITCH_CASES)
    default: tuple[Step, ...] = ()


class DelayStep(_Frozen):
    id: StepId
    type: Literal["delay"]
    seconds: StrictInt = Field(ge=MIN_DELAY_SECONDS, le=MAX_DELAY_SECONDS)


Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
TimeOfDay = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class DelayUntilStep(_Frozen):
    """Waits until a moment the run works out when it gets there: a date or date-time `field`
    of the event (or `record.<field>` of the current record) plus `offset_seconds`, or the next
    `weekday` at `time`, both in the tenant's time zone. A moment already past (or a field that
    is empty) does not wait."""

    id: StepId
    type: Literal["delay_until"]
    field: FieldPath | None = None
    offset_seconds: StrictInt = Field(default=0, ge=-MAX_DELAY_SECONDS, le=MAX_DELAY_SECONDS)
    weekday: Weekday | None = None
    time: TimeOfDay = "09:00"

    @model_validator(mode="after")
    def _one_target(self) -> DelayUntilStep:
        if (self.field is None) == (self.weekday is None):
            raise ValueError("give exactly one of 'field' and 'weekday'")
        return self

    def until(self) -> dict[str, Any]:
        """The parameters the run's wake_time operation gets."""
        return self.model_dump(mode="json", include={"field", "offset_seconds", "weekday", "time"})


class ActionStep(_Frozen):
    id: StepId
    type: Literal["action"]
    action: Action


Step = Annotated[
    ConditionStep | SwitchStep | DelayStep | DelayUntilStep | ActionStep,
    Field(discriminator="type"),
]

ConditionStep.model_rebuild()
SwitchCase.model_rebuild()
SwitchStep.model_rebuild()


# --- triggers ---------------------------------------------------------------------------------
# Every trigger kind listens to one catalog event type (`event`, what the router subscribes the
# live version to) and may narrow it with parameters, matched by crm.automation.triggers.

RecordKindName = Literal["lead", "contact", "deal"]
PersonKindName = Literal["lead", "contact"]
RecordAction = Literal["created", "updated", "deleted", "restored"]
ReferenceId = Annotated[str, Field(min_length=1, max_length=64)]
LeadStatusName = Literal["new", "qualified", "lost", "converted"]


class EventTrigger(_Frozen):
    """Any catalog event, by its type (the original trigger: `{"event": "crm.lead.created"}`)."""

    kind: Literal["event"] = "event"
    event: str = Field(pattern=TRIGGER_EVENT_PATTERN, max_length=128)


class RecordEventTrigger(_Frozen):
    """A lead, contact or deal was created, updated, deleted or restored."""

    kind: Literal["record_event"]
    record: RecordKindName
    action: RecordAction

    @property
    def event(self) -> str:
        return f"crm.{self.record}.{self.action}"


class FieldChangedTrigger(_Frozen):
    """A field of a record changed (`custom_fields.<key>` for a custom field), optionally
    `from` and/or `to` a value (leave one out to accept any)."""

    kind: Literal["field_changed"]
    record: RecordKindName
    field: FieldPath
    from_: ComparisonValue = Field(default=None, alias="from")
    to: ComparisonValue = None

    @property
    def event(self) -> str:
        return f"crm.{self.record}.updated"

    @model_serializer(mode="wrap")
    def _omit_unset_values(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # `from`/`to` left out mean "any value", null means "was/becomes empty": a dump (the
        # stored definition) must keep that difference.
        dumped: dict[str, Any] = handler(self)
        if not self.has_from:
            dumped.pop("from", None)
            dumped.pop("from_", None)
        if not self.has_to:
            dumped.pop("to", None)
        return dumped

    @property
    def has_from(self) -> bool:
        return "from_" in self.model_fields_set

    @property
    def has_to(self) -> bool:
        return "to" in self.model_fields_set


class DealStageChangedTrigger(_Frozen):
    """A deal moved stage; each of pipeline, from stage and to stage narrows it when given."""

    kind: Literal["deal_stage_changed"]
    pipeline_id: ReferenceId | None = None
    from_stage_id: ReferenceId | None = None
    to_stage_id: ReferenceId | None = None

    @property
    def event(self) -> str:
        return "crm.deal.stage_changed"


class DealClosedTrigger(_Frozen):
    """A deal was won or lost (optionally only in one pipeline)."""

    kind: Literal["deal_won", "deal_lost"]
    pipeline_id: ReferenceId | None = None

    @property
    def event(self) -> str:
        return "crm.deal.won" if self.kind == "deal_won" else "crm.deal.lost"


class LeadStatusChangedTrigger(_Frozen):
    """A lead's status changed, optionally `from` and/or `to` a status."""

    kind: Literal["lead_status_changed"]
    from_: LeadStatusName | None = Field(default=None, alias="from")
    to: LeadStatusName | None = None

    @property
    def event(self) -> str:
        return "crm.lead.status_changed"


class TagTrigger(_Frozen):
    """A tag was added to (or removed from) a lead or contact; any tag when `tag` is left out."""

    kind: Literal["tag_added", "tag_removed"]
    record: PersonKindName
    tag: str | None = Field(default=None, min_length=1, max_length=64)

    @property
    def event(self) -> str:
        return f"crm.{self.record}.tagged"


class OwnerAssignedTrigger(_Frozen):
    """A record got an owner (a given user when `owner_id` is set)."""

    kind: Literal["owner_assigned"]
    record: RecordKindName
    owner_id: ReferenceId | None = None

    @property
    def event(self) -> str:
        return "crm.deal.updated" if self.record == "deal" else f"crm.{self.record}.assigned"


def _trigger_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        kind = value.get("kind", "event")
        return kind if isinstance(kind, str) else None
    return getattr(value, "kind", None)


Trigger = Annotated[
    Annotated[EventTrigger, Tag("event")]
    | Annotated[RecordEventTrigger, Tag("record_event")]
    | Annotated[FieldChangedTrigger, Tag("field_changed")]
    | Annotated[DealStageChangedTrigger, Tag("deal_stage_changed")]
    | Annotated[DealClosedTrigger, Tag("deal_won")]
    | Annotated[DealClosedTrigger, Tag("deal_lost")]
    | Annotated[LeadStatusChangedTrigger, Tag("lead_status_changed")]
    | Annotated[TagTrigger, Tag("tag_added")]
    | Annotated[TagTrigger, Tag("tag_removed")]
    | Annotated[OwnerAssignedTrigger, Tag("owner_assigned")],
    Discriminator(
        _trigger_tag,
        custom_error_type="unknown_trigger_kind",
        custom_error_message="unknown trigger kind: GET /triggers lists them",
    ),
]
TRIGGER_KINDS: tuple[str, ...] = (
    "event",
    "record_event",
    "field_changed",
    "deal_stage_changed",
    "deal_won",
    "deal_lost",
    "lead_status_changed",
    "tag_added",
    "tag_removed",
    "owner_assigned",
)

# Re-enrolment: may a record start another run of the automation?
Reenrolment = Literal["every_event", "once_per_record", "not_while_active"]


Loc = tuple[str | int, ...]


def _walk(steps: tuple[Step, ...], loc: Loc) -> Iterator[tuple[Step, Loc]]:
    """Every step in document order with its location (discriminator tags included)."""
    for index, step in enumerate(steps):
        step_loc = (*loc, index, step.type)
        yield step, step_loc
        if isinstance(step, ConditionStep):
            yield from _walk(step.then, (*step_loc, "then"))
            yield from _walk(step.else_, (*step_loc, "else"))
        elif isinstance(step, SwitchStep):
            for case_index, case in enumerate(step.cases):
                yield from _walk(case.steps, (*step_loc, "cases", case_index, "steps"))
            yield from _walk(step.default, (*step_loc, "default"))


def _longest_delay(steps: tuple[Step, ...]) -> int:
    total = 0
    for step in steps:
        if isinstance(step, DelayStep):
            total += step.seconds
        elif isinstance(step, ConditionStep):
            total += max(_longest_delay(step.then), _longest_delay(step.else_))
        elif isinstance(step, SwitchStep):
            total += max(
                _longest_delay(step.default), *(_longest_delay(case.steps) for case in step.cases)
            )
    return total


class Workflow(_Frozen):
    """The whole automation definition; one compiled state machine per version of it."""

    trigger: Trigger
    steps: Annotated[tuple[Step, ...], NonEmpty]
    # Set to save an automation that closes a cycle of automations (its action triggers
    # itself, or another that triggers it back): a run then starts only for an event at most
    # this many automation runs deep (and never deeper than the tenant's limit).
    max_chain_depth: StrictInt | None = Field(default=None, ge=1, le=MAX_CHAIN_DEPTH)
    reenrolment: Reenrolment = "every_event"
    # A run ends (recorded as exited) at its next step once the record matches this.
    exit_when: When | None = None

    @model_validator(mode="after")
    def _tree_rules(self) -> Workflow:
        errors: list[InitErrorDetails] = []
        walked = list(_walk(self.steps, ("steps",)))
        if len(walked) > MAX_STEPS:
            errors.append(
                InitErrorDetails(
                    type=PydanticCustomError(
                        "too_many_steps",
                        "a workflow has at most {max} steps in total, found {count}",
                        {"max": MAX_STEPS, "count": len(walked)},
                    ),
                    loc=("steps",),
                    input=len(walked),
                )
            )
        first_seen: dict[str, Loc] = {}
        for step, loc in walked:
            if step.id in first_seen:
                errors.append(
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "duplicate_step_id",
                            "step id '{id}' is already used at {first}",
                            {"id": step.id, "first": ".".join(map(str, first_seen[step.id]))},
                        ),
                        loc=(*loc, "id"),
                        input=step.id,
                    )
                )
            else:
                first_seen[step.id] = loc
        whens = [
            (step.when, (*loc, "when")) for step, loc in walked if isinstance(step, ConditionStep)
        ]
        whens += [
            (case.when, (*loc, "cases", index, "when"))
            for step, loc in walked
            if isinstance(step, SwitchStep)
            for index, case in enumerate(step.cases)
        ]
        if self.exit_when is not None:
            whens.append((self.exit_when, ("exit_when",)))
        for when, when_loc in whens:
            for deep in _too_deep(when, (*when_loc, _group_tag(when) or "all"), 1):
                errors.append(
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "group_too_deep",
                            "groups nest at most {max} levels deep",
                            {"max": MAX_GROUP_DEPTH},
                        ),
                        loc=deep,
                        input=None,
                    )
                )
        longest = _longest_delay(self.steps)
        if longest > MAX_DELAY_SECONDS:
            errors.append(
                InitErrorDetails(
                    type=PydanticCustomError(
                        "total_delay_too_long",
                        "delays along one path add up to {seconds} s; at most {max} s",
                        {"seconds": longest, "max": MAX_DELAY_SECONDS},
                    ),
                    loc=("steps",),
                    input=longest,
                )
            )
        if errors:
            # Raised from the validator so each error keeps its own location in the tree.
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    def iter_steps(self) -> Iterator[Step]:
        """Every step of the tree, depth first, in document order."""
        for step, _ in _walk(self.steps, ()):
            yield step
