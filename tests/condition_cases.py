"""Condition cases shared by the evaluator's unit test and its comparison with the compiled
Choice states on moto: (when, data, expected). The same table drives both, so the unit test
pins the expected outcomes and the integration test proves Step Functions agrees."""

from __future__ import annotations

from typing import Any


def _c(field: str, op: str, value: Any = None, *, exists: bool = False) -> dict[str, Any]:
    return (
        {"field": field, "op": "exists"} if exists else {"field": field, "op": op, "value": value}
    )


def _all(*members: dict[str, Any]) -> dict[str, Any]:
    return {"all": list(members)}


def _any(*members: dict[str, Any]) -> dict[str, Any]:
    return {"any": list(members)}


CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    # numbers: int/float alike, strings/booleans/null/missing are not numbers
    ("eq_int", _all(_c("lead.score", "eq", 5)), {"lead": {"score": 5}}, True),
    ("eq_int_float", _all(_c("lead.score", "eq", 5)), {"lead": {"score": 5.0}}, True),
    ("eq_num_string", _all(_c("lead.score", "eq", 5)), {"lead": {"score": "5"}}, False),
    ("eq_num_bool", _all(_c("lead.score", "eq", 1)), {"lead": {"score": True}}, False),
    ("eq_num_missing", _all(_c("lead.score", "eq", 5)), {"lead": {}}, False),
    ("eq_num_null", _all(_c("lead.score", "eq", 5)), {"lead": {"score": None}}, False),
    ("gt_true", _all(_c("lead.score", "gt", 70)), {"lead": {"score": 71}}, True),
    ("gt_equal", _all(_c("lead.score", "gt", 70)), {"lead": {"score": 70}}, False),
    ("gte_equal", _all(_c("lead.score", "gte", 70)), {"lead": {"score": 70}}, True),
    ("lt_float", _all(_c("lead.score", "lt", 2.5)), {"lead": {"score": 2.25}}, True),
    ("lte_more", _all(_c("lead.score", "lte", 10)), {"lead": {"score": 11}}, False),
    ("gt_bool_actual", _all(_c("lead.score", "gt", 0)), {"lead": {"score": True}}, False),
    ("gt_missing", _all(_c("lead.score", "gt", 0)), {}, False),
    # strings
    ("eq_str", _all(_c("lead.source", "eq", "web")), {"lead": {"source": "web"}}, True),
    ("eq_str_other", _all(_c("lead.source", "eq", "web")), {"lead": {"source": "Web"}}, False),
    ("eq_str_number", _all(_c("lead.source", "eq", "5")), {"lead": {"source": 5}}, False),
    ("gt_str", _all(_c("lead.name", "gt", "m")), {"lead": {"name": "z"}}, True),
    ("lt_str", _all(_c("lead.name", "lt", "m")), {"lead": {"name": "mario"}}, False),
    ("gte_str_equal", _all(_c("lead.name", "gte", "ana")), {"lead": {"name": "ana"}}, True),
    ("gt_str_number", _all(_c("lead.name", "gt", "m")), {"lead": {"name": 9}}, False),
    (
        "contains",
        _all(_c("lead.email", "contains", "@acme")),
        {"lead": {"email": "a@acme.io"}},
        True,
    ),
    (
        "contains_not",
        _all(_c("lead.email", "contains", "@acme")),
        {"lead": {"email": "a@b.io"}},
        False,
    ),
    ("contains_star", _all(_c("lead.note", "contains", "a*b")), {"lead": {"note": "xa*by"}}, True),
    (
        "contains_star_literal",
        _all(_c("lead.note", "contains", "a*b")),
        {"lead": {"note": "axxb"}},
        False,
    ),
    ("contains_number", _all(_c("lead.note", "contains", "5")), {"lead": {"note": 5}}, False),
    ("contains_missing", _all(_c("lead.note", "contains", "x")), {"lead": {}}, False),
    # ne negates the whole eq rule: true when missing or of another type
    ("ne_equal", _all(_c("lead.source", "ne", "web")), {"lead": {"source": "web"}}, False),
    ("ne_other", _all(_c("lead.source", "ne", "web")), {"lead": {"source": "ads"}}, True),
    ("ne_missing", _all(_c("lead.source", "ne", "web")), {"lead": {}}, True),
    ("ne_type", _all(_c("lead.score", "ne", 3)), {"lead": {"score": "3"}}, True),
    # null and booleans
    ("eq_null", _all(_c("lead.owner_id", "eq", None)), {"lead": {"owner_id": None}}, True),
    ("eq_null_missing", _all(_c("lead.owner_id", "eq", None)), {"lead": {}}, False),
    ("eq_null_empty", _all(_c("lead.owner_id", "eq", None)), {"lead": {"owner_id": ""}}, False),
    ("ne_null", _all(_c("lead.owner_id", "ne", None)), {"lead": {"owner_id": "u1"}}, True),
    ("eq_true", _all(_c("lead.vip", "eq", True)), {"lead": {"vip": True}}, True),
    ("eq_true_false", _all(_c("lead.vip", "eq", True)), {"lead": {"vip": False}}, False),
    ("eq_true_one", _all(_c("lead.vip", "eq", True)), {"lead": {"vip": 1}}, False),
    ("eq_true_string", _all(_c("lead.vip", "eq", True)), {"lead": {"vip": "true"}}, False),
    ("ne_false", _all(_c("lead.vip", "ne", False)), {"lead": {"vip": True}}, True),
    # exists and paths
    ("exists_null", _all(_c("lead.phone", "", exists=True)), {"lead": {"phone": None}}, True),
    ("exists_missing", _all(_c("lead.phone", "", exists=True)), {"lead": {}}, False),
    (
        "path_through_list",
        _all(_c("lead.tags.first", "", exists=True)),
        {"lead": {"tags": ["a"]}},
        False,
    ),
    (
        "path_through_string",
        _all(_c("lead.name.first", "eq", "a")),
        {"lead": {"name": "ana"}},
        False,
    ),
    (
        "nested",
        _all(_c("deal.contact.city", "eq", "Porto")),
        {"deal": {"contact": {"city": "Porto"}}},
        True,
    ),
    # groups
    ("all_one_false", _all(_c("a", "eq", 1), _c("b", "eq", 2)), {"a": 1, "b": 3}, False),
    ("any_one_true", _any(_c("a", "eq", 1), _c("b", "eq", 2)), {"a": 0, "b": 2}, True),
    ("any_none", _any(_c("a", "eq", 1), _c("b", "eq", 2)), {}, False),
    (
        "nested_groups",
        _all(_c("a", "gt", 0), _any(_c("b", "eq", "x"), _c("c", "", exists=True))),
        {"a": 1, "c": None},
        True,
    ),
    (
        "nested_groups_false",
        _any(_c("a", "gt", 5), _all(_c("b", "eq", "x"), _c("c", "ne", 1))),
        {"a": 1, "b": "x", "c": 1},
        False,
    ),
    # in / not_in: equality with any listed value, typed as eq is
    ("in_hit", _all(_c("s", "in", ["a", "b"])), {"s": "b"}, True),
    ("in_miss", _all(_c("s", "in", ["a", "b"])), {"s": "c"}, False),
    ("in_mixed_types", _all(_c("s", "in", [1, "1", None])), {"s": None}, True),
    ("in_number_not_string", _all(_c("s", "in", ["5"])), {"s": 5}, False),
    ("in_missing", _all(_c("s", "in", ["a"])), {}, False),
    ("not_in_miss", _all(_c("s", "not_in", ["a", "b"])), {"s": "c"}, True),
    ("not_in_missing", _all(_c("s", "not_in", ["a"])), {}, True),
    ("not_in_hit", _all(_c("s", "not_in", ["a", 2])), {"s": 2}, False),
    # starts_with: a prefix of a string
    ("starts_with", _all(_c("e", "starts_with", "ana@")), {"e": "ana@x.io"}, True),
    ("starts_with_not", _all(_c("e", "starts_with", "x")), {"e": "ana@x.io"}, False),
    ("starts_with_number", _all(_c("e", "starts_with", "1")), {"e": 12}, False),
    # is_empty / not_empty: missing, null or ""
    ("is_empty_missing", _all({"field": "x", "op": "is_empty"}), {}, True),
    ("is_empty_null", _all({"field": "x", "op": "is_empty"}), {"x": None}, True),
    ("is_empty_blank", _all({"field": "x", "op": "is_empty"}), {"x": ""}, True),
    ("is_empty_zero", _all({"field": "x", "op": "is_empty"}), {"x": 0}, False),
    ("not_empty_text", _all({"field": "x", "op": "not_empty"}), {"x": "a"}, True),
    ("not_empty_null", _all({"field": "x", "op": "not_empty"}), {"x": None}, False),
    # changed: the event's changes name the field
    ("changed", _all({"field": "score", "op": "changed"}), {"changes": {"score": {}}}, True),
    ("changed_not", _all({"field": "score", "op": "changed"}), {"changes": {"name": {}}}, False),
    ("changed_no_changes", _all({"field": "score", "op": "changed"}), {}, False),
    # groups nest deeper than one level
    (
        "deep_groups",
        _all(_any(_all(_any(_c("a", "eq", 1), _c("b", "eq", 2)), _c("c", "exists", exists=True)))),
        {"b": 2, "c": 0},
        True,
    ),
]
