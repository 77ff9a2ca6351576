"""pg8000's named-parameter parsing is cached once the postgres adapter is imported, and the
cached parse is the parse."""

from __future__ import annotations

import pg8000.native
from crm.adapters.postgres import connection  # noqa: F401 - installs the cache

SQL = "INSERT INTO t (a, b, c) VALUES (:a, :b, :a) -- :not_a_parameter\n RETURNING ':x', b"


def test_the_parse_of_a_statement_is_cached_and_unchanged() -> None:
    parse = pg8000.native.to_statement
    original = parse.__wrapped__  # type: ignore[attr-defined]
    statement, make_vals = parse(SQL)
    hits = parse.cache_info().hits  # type: ignore[attr-defined]
    again, make_vals_again = parse(SQL)
    assert parse.cache_info().hits == hits + 1  # type: ignore[attr-defined]
    expected, expected_vals = original(SQL)
    assert statement == again == expected
    assert statement.startswith("INSERT INTO t (a, b, c) VALUES ($1, $2, $1)")
    args = {"a": 1, "b": 2}
    assert make_vals(args) == make_vals_again(args) == expected_vals(args) == (1, 2)
