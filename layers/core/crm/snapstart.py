"""Lambda SnapStart (template.yaml: SnapStart on published versions): the runtime snapshots a
function after its init phase and resumes copies of that snapshot. What init leaves behind must
not be shared by those copies, so on restore:

- the `random` module is reseeded (each copy would otherwise draw the same sequence; `secrets`,
  `uuid4` and `os.urandom` read the kernel and need nothing);
- the clients and connections crm.bootstrap caches are dropped: a pooled database or broker
  connection opened during init would be dead or shared, and a boto3 client keeps the
  credentials it resolved (the restored environment has fresh ones). Init opens none of them
  today (bootstrap builds them on first use), so this is a guard for code that someday does.

Outside Lambda (or without SnapStart) `snapshot_restore_py` is absent and nothing is
registered.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any


def after_restore() -> None:
    random.seed()
    from crm import bootstrap

    for name in dir(bootstrap):
        cached = getattr(bootstrap, name)
        clear: Callable[[], None] | None = getattr(cached, "cache_clear", None)
        if clear is not None:
            clear()


def register(hooks: Any = None) -> bool:
    """Registers after_restore with the runtime's hooks module; False when there is none."""
    if hooks is None:
        try:
            import snapshot_restore_py as hooks  # type: ignore[no-redef]
        except ImportError:
            return False
    hooks.register_after_restore(after_restore)
    return True
