from __future__ import annotations

from crm.domain.audit import REDACTED, diff


def test_diff_lists_changed_fields_only() -> None:
    assert diff({"name": "A", "status": "new"}, {"name": "A", "status": "lost"}) == {
        "status": {"old": "new", "new": "lost"}
    }


def test_diff_of_a_creation_and_a_deletion() -> None:
    assert diff(None, {"name": "A"}) == {"name": {"old": None, "new": "A"}}
    assert diff({"name": "A"}, None) == {"name": {"old": "A", "new": None}}


def test_secrets_never_reach_the_diff() -> None:
    changed = diff({"password_hash": "old-hash"}, {"password_hash": "new-hash", "secret": "s"})
    assert changed == {
        "password_hash": {"old": REDACTED, "new": REDACTED},
        "secret": {"old": None, "new": REDACTED},
    }
