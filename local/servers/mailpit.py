"""Mailpit for the supervisor: the binary `go install` put under ``.local/bin`` (or one on
PATH), an SMTP server and a web UI/API on the profile's ports, its database under the
profile dir."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from local.supervisor import ServiceError

if TYPE_CHECKING:
    from local.supervisor import Supervisor

MAILPIT_VERSION = "v1.33.1"


def _binary(sup: Supervisor) -> Path:
    local = sup.root / ".local" / "bin" / "mailpit"
    found = local if local.exists() else shutil.which("mailpit")
    if not found:
        raise ServiceError(
            f"Mailpit not found at {local}: run `make setup` (go install "
            f"github.com/axllent/mailpit@{MAILPIT_VERSION}) or set MAILPIT_URL and MAILPIT_SMTP"
        )
    return Path(found)


def start(sup: Supervisor) -> None:
    p = sup.ports
    url = sup.endpoints().mailpit_url
    if sup.adopt("mailpit", url, p.mailpit_http):
        return
    sup.check_ports_free(
        "mailpit", [(p.mailpit_smtp, "mailpit smtp"), (p.mailpit_http, "mailpit web/api")]
    )
    binary = _binary(sup)
    run_as = sup.run_as("mailpit")
    base = sup.mkdir(sup.dir / "mailpit", run_as)
    argv = [
        str(binary),
        "--smtp", f"127.0.0.1:{p.mailpit_smtp}",
        "--listen", f"127.0.0.1:{p.mailpit_http}",
        "--database", str(base / "mailpit.db"),
        "--max", "20000",  # tests and benchmarks send thousands; the default keeps 500
        "--disable-version-check",
        "--smtp-disable-rdns",
        "--quiet",
    ]  # fmt: skip
    child = sup.spawn("mailpit", argv, run_as, sup.child_env(run_as), base)
    sup.wait_healthy("mailpit", url, p.mailpit_http, child, sup.log_dir / "mailpit.log")
