"""SnapStart's restore hook: the random sequence is reseeded and bootstrap's cached clients
and connections are dropped, so copies resumed from one snapshot share neither."""

from __future__ import annotations

import random
from typing import Any

from crm import bootstrap, snapstart


class _Hooks:
    def __init__(self) -> None:
        self.after_restore: list[Any] = []

    def register_after_restore(self, hook: Any) -> None:
        self.after_restore.append(hook)


def test_registers_with_the_runtime_hooks_and_not_without_them() -> None:
    hooks = _Hooks()
    assert snapstart.register(hooks) is True
    assert hooks.after_restore == [snapstart.after_restore]
    assert snapstart.register() is False  # no snapshot_restore_py outside Lambda


def test_restore_reseeds_random_and_drops_cached_clients() -> None:
    pool = bootstrap.connection_pool("postgresql://u:p@127.0.0.1:1/crm", 1)
    assert bootstrap.connection_pool("postgresql://u:p@127.0.0.1:1/crm", 1) is pool
    random.seed(1234)
    snapshot_state = random.getstate()
    snapstart.after_restore()
    assert random.getstate() != snapshot_state
    assert bootstrap.connection_pool("postgresql://u:p@127.0.0.1:1/crm", 1) is not pool
