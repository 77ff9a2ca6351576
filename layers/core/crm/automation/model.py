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
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

MAX_STEPS = 100
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

ComparisonOp = Literal["eq", "ne", "gt", "gte", "lt", "lte", "contains"]
ORDERING_OPS = frozenset({"gt", "gte", "lt", "lte"})


class Comparison(_Frozen):
    """`field <op> value`; `field` is a dotted path into the event's `data`."""

    field: FieldPath
    op: ComparisonOp
    value: ComparisonValue

    @model_validator(mode="after")
    def _value_fits_op(self) -> Comparison:
        value = self.value
        if self.op == "contains" and not isinstance(value, str):
            error = PydanticCustomError("contains_needs_string", "'contains' needs a string value")
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


class Exists(_Frozen):
    """True when `field` is present in the event's `data` (even if it is null)."""

    field: FieldPath
    op: Literal["exists"]


Condition = Annotated[Comparison | Exists, Field(discriminator="op")]


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
    if isinstance(value, Comparison | Exists):
        return "condition"
    return None


def _condition_tag(value: Any) -> str | None:
    return "condition" if _group_tag(value) == "condition" else None


# Inside a nested group only conditions are allowed: groups nest one level deep.
NestedMember = Annotated[
    Annotated[Condition, Tag("condition")],
    Discriminator(
        _condition_tag,
        custom_error_type="group_too_deep",
        custom_error_message="groups nest one level deep: a nested group holds only conditions",
    ),
]


class AllOf(_Frozen):
    """A nested group: every condition holds."""

    all: Annotated[tuple[NestedMember, ...], NonEmpty] = Field(max_length=MAX_STEPS)


class AnyOf(_Frozen):
    """A nested group: at least one condition holds."""

    any: Annotated[tuple[NestedMember, ...], NonEmpty] = Field(max_length=MAX_STEPS)


GroupMember = Annotated[
    Annotated[Condition, Tag("condition")]
    | Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")],
    Discriminator(
        _group_tag,
        custom_error_type="invalid_group_member",
        custom_error_message="expected a condition or an 'all'/'any' group",
    ),
]


class WhenAll(_Frozen):
    """Top-level group: every member holds. Members may be conditions or one more group level."""

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


# --- actions ----------------------------------------------------------------------------------


class WebhookAction(_Frozen):
    kind: Literal["webhook"]
    url: str = Field(max_length=2048)
    headers: dict[
        Annotated[str, Field(pattern=HEADER_NAME_PATTERN)], Annotated[str, Field(max_length=4096)]
    ] = Field(default_factory=dict, max_length=50)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or any(char.isspace() for char in url)
        ):
            raise PydanticCustomError("url_scheme", "URL must be http(s) with a host")
        return url


class AddTagAction(_Frozen):
    kind: Literal["add_tag"]
    tag: str = Field(min_length=1, max_length=64)


class SendEmailAction(_Frozen):
    """`to`, `subject` and `body` may hold `{{dotted.path}}` placeholders, rendered at run time."""

    kind: Literal["send_email"]
    to: str = Field(min_length=1, max_length=320)
    subject: str = Field(min_length=1, max_length=255)
    body: str = Field(min_length=1, max_length=20_000)

    @field_validator("to", "subject")
    @classmethod
    def _single_line(cls, value: str) -> str:
        # Both end up in mail headers: a line break there could add headers of its own.
        if "\r" in value or "\n" in value:
            raise PydanticCustomError("line_break", "must not contain line breaks")
        return value


class MoveStageAction(_Frozen):
    """Moves the triggering event's deal; a lost stage needs `lost_reason` (as a PATCH does)."""

    kind: Literal["move_stage"]
    pipeline_id: str = Field(min_length=1, max_length=64)
    stage_id: str = Field(min_length=1, max_length=64)
    lost_reason: str | None = Field(default=None, min_length=1, max_length=500)


Action = Annotated[
    WebhookAction | AddTagAction | SendEmailAction | MoveStageAction,
    Field(discriminator="kind"),
]


# --- steps ------------------------------------------------------------------------------------

StepId = Annotated[str, Field(pattern=STEP_ID_PATTERN)]


class ConditionStep(_Frozen):
    id: StepId
    type: Literal["condition"]
    when: When
    then: tuple[Step, ...] = ()
    else_: tuple[Step, ...] = Field(default=(), alias="else")


class DelayStep(_Frozen):
    id: StepId
    type: Literal["delay"]
    seconds: StrictInt = Field(ge=MIN_DELAY_SECONDS, le=MAX_DELAY_SECONDS)


class ActionStep(_Frozen):
    id: StepId
    type: Literal["action"]
    action: Action


Step = Annotated[ConditionStep | DelayStep | ActionStep, Field(discriminator="type")]

ConditionStep.model_rebuild()


class Trigger(_Frozen):
    event: str = Field(pattern=TRIGGER_EVENT_PATTERN, max_length=128)


Loc = tuple[str | int, ...]


def _walk(steps: tuple[Step, ...], loc: Loc) -> Iterator[tuple[Step, Loc]]:
    """Every step in document order with its location (discriminator tags included)."""
    for index, step in enumerate(steps):
        step_loc = (*loc, index, step.type)
        yield step, step_loc
        if isinstance(step, ConditionStep):
            yield from _walk(step.then, (*step_loc, "then"))
            yield from _walk(step.else_, (*step_loc, "else"))


def _longest_delay(steps: tuple[Step, ...]) -> int:
    total = 0
    for step in steps:
        if isinstance(step, DelayStep):
            total += step.seconds
        elif isinstance(step, ConditionStep):
            total += max(_longest_delay(step.then), _longest_delay(step.else_))
    return total


class Workflow(_Frozen):
    """The whole automation definition; one compiled state machine per version of it."""

    trigger: Trigger
    steps: Annotated[tuple[Step, ...], NonEmpty]

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
