"""Writes docs/events.md from the event catalog (crm/domain/event_catalog.py).

    .venv/bin/python scripts/event_catalog.py          # rewrite docs/events.md
    .venv/bin/python scripts/event_catalog.py --check  # exit 1 when it is stale

tests/unit/test_event_catalog.py fails while the file is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "core"))

from crm.domain.event_catalog import render_markdown  # noqa: E402

DOC = ROOT / "docs" / "events.md"


def main(argv: list[str]) -> int:
    expected = render_markdown()
    if "--check" in argv:
        if not DOC.exists() or DOC.read_text() != expected:
            sys.stderr.write(f"{DOC} is stale: run python scripts/event_catalog.py\n")
            return 1
        return 0
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(expected)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
