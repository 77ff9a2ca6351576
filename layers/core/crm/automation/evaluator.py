"""Conditions evaluated in Python exactly as the compiled Choice states evaluate them.

The runtime decides conditions only inside Step Functions (crm.automation.compiler turns each
condition into a Choice rule over `$.event.data`). A simulation must not start an execution,
so this module mirrors that rule clause by clause:

- a field is present when every segment of its dotted path is a key of an object (a list or a
  scalar on the way makes it missing, as JSONPath does);
- `exists` is `IsPresent`; every comparison first needs the field present and of the value's
  type (`IsNull` for null, `IsBoolean`, `IsNumeric` — booleans are not numbers in ASL —,
  `IsString`), so a missing or differently typed field makes it false;
- `ne` is the negation of the whole `eq` rule, hence true for a missing field;
- `contains` is `StringMatches *value*`, a substring test; ordering on strings is lexicographic.

tests/integration/test_condition_evaluator_vs_asl.py runs the same cases through moto's
interpreter and through this module and asserts equal outcomes.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from crm.automation.model import (
    AllOf,
    AnyOf,
    Changed,
    Comparison,
    Emptiness,
    Exists,
    GroupMember,
    Membership,
    WhenAll,
    WhenAny,
)

MISSING: Final = object()

_ORDER: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "eq": operator.eq,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


@dataclass(frozen=True, slots=True)
class Clause:
    """One evaluated comparison: the field's value in the data (absent when missing)."""

    field: str
    op: str
    value: Any
    present: bool
    actual: Any
    result: bool

    def to_dict(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"field": self.field, "op": self.op}
        if self.op != "exists":
            shown["value"] = self.value
        shown["present"] = self.present
        shown["actual"] = self.actual if self.present else None
        shown["result"] = self.result
        return shown


@dataclass(frozen=True, slots=True)
class Outcome:
    result: bool
    clauses: tuple[Clause, ...]


def lookup(data: Any, field: str) -> Any:
    """The value at dotted `field` in `data`, or MISSING. `record.<field>` reads the current
    record, which a caller puts under the `record` key of `data` (missing otherwise)."""
    current = data
    for part in field.split("."):
        if not isinstance(current, dict) or part not in current:
            return MISSING
        current = current[part]
    return current


def evaluate(when: WhenAll | WhenAny, data: dict[str, Any]) -> Outcome:
    """Whether `when` holds for the event's `data`, with every clause's inputs and result.

    Every clause is evaluated (no short circuit) so that the simulation can show all of them;
    the result is the same since clauses have no effects."""
    clauses: list[Clause] = []
    result = _member(when, data, clauses)
    return Outcome(result, tuple(clauses))


def _member(member: GroupMember | WhenAll | WhenAny, data: Any, out: list[Clause]) -> bool:
    if isinstance(member, WhenAll | AllOf):
        return all([_member(item, data, out) for item in member.all])
    if isinstance(member, WhenAny | AnyOf):
        return any([_member(item, data, out) for item in member.any])
    if isinstance(member, Changed):
        actual = lookup(data, f"changes.{member.field}")
    else:
        actual = lookup(data, member.field)
    present = actual is not MISSING
    value: Any = None
    if isinstance(member, Exists | Changed):
        result = present
    elif isinstance(member, Emptiness):
        empty = actual is MISSING or actual is None or actual == ""
        result = empty if member.op == "is_empty" else not empty
    elif isinstance(member, Membership):
        hit = any(
            _guarded(Comparison(field=member.field, op="eq", value=item), actual)
            for item in member.value
        )
        result = hit if member.op == "in" else not hit
        value = list(member.value)
    else:
        result = compare(member, actual)
        value = member.value
    out.append(Clause(member.field, member.op, value, present, actual if present else None, result))
    return result


def compare(comparison: Comparison, actual: Any) -> bool:
    """`actual <op> value` with the compiler's presence and type guards (`actual` may be
    MISSING)."""
    positive = _guarded(comparison, actual)
    return not positive if comparison.op == "ne" else positive


def _guarded(comparison: Comparison, actual: Any) -> bool:
    if actual is MISSING:
        return False
    value = comparison.value
    op = "eq" if comparison.op == "ne" else comparison.op
    if value is None:
        # The compiler emits IsNull whatever the op (the model allows only eq/ne with null).
        return actual is None
    if isinstance(value, bool):
        return isinstance(actual, bool) and actual == value
    if isinstance(value, int | float):
        if isinstance(actual, bool) or not isinstance(actual, int | float):
            return False
        return _ORDER[op](actual, value)
    if not isinstance(actual, str):
        return False
    if op == "contains":
        return value in actual
    if op == "starts_with":
        return actual.startswith(value)
    return _ORDER[op](actual, value)
