"""PostgreSQL for the supervisor: initdb once under ``<profile>/pg``, then ``postgres`` on the
profile's port (TCP, plus a Unix socket when its path fits), and the ``crm`` database."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local.processes import last_line
from local.supervisor import ServiceError

if TYPE_CHECKING:
    from local.supervisor import Supervisor


def _pg_bindir(sup: Supervisor) -> Path:
    if sup.env.get("PG_BINDIR"):
        bindir = Path(sup.env["PG_BINDIR"])
        if not (bindir / "postgres").exists():
            raise ServiceError(
                f"PostgreSQL server binaries not found in PG_BINDIR={bindir}: "
                "fix PG_BINDIR or set DATABASE_URL"
            )
        return bindir
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    found = shutil.which("postgres")
    if found:
        return Path(found).parent
    raise ServiceError(
        "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin or PATH): "
        "run `make setup` or set DATABASE_URL"
    )


def start(sup: Supervisor) -> None:
    port = sup.ports.postgres
    url = sup.endpoints().admin_database_url
    if sup.adopt("postgres", url, port):
        return
    sup.check_ports_free("postgres", [(port, "postgres")])
    bindir = _pg_bindir(sup)
    run_as = sup.run_as("postgres")
    data = sup.dir / "pg"
    run = sup.mkdir(sup.dir / "run", run_as)
    log = sup.log_dir / "postgres.log"
    marker = sup.dir / "pg.initialised"
    env = sup.child_env(run_as, home=sup.dir)
    if not marker.exists():
        if data.exists():
            shutil.rmtree(data)  # an interrupted initdb: start over
        sup.mkdir(data, run_as, 0o700)
        pwfile = run / "initdb.pw"
        pwfile.write_text("postgres\n")
        if run_as.user is not None:
            os.chown(pwfile, run_as.uid, run_as.gid)
        pwfile.chmod(0o600)
        try:
            argv = [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ]
            kwargs: dict[str, Any] = {}
            if run_as.user is not None:
                kwargs.update(user=run_as.uid, group=run_as.gid, extra_groups=[])
            with log.open("ab") as f:
                f.write(f"\n=== {time.strftime('%F %T')} {' '.join(argv)}\n".encode())
                f.flush()
                rc = subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=f,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=sup.dir,
                    check=False,
                    **kwargs,
                ).returncode
        finally:
            pwfile.unlink(missing_ok=True)
        if rc != 0:
            raise ServiceError(
                f"postgres initdb failed (exit {rc}): see {log} (last line: {last_line(log)!r})"
            )
    sock = str(run)
    if len(sock) + len(f"/.s.PGSQL.{port}") > 100:  # sun_path limit: TCP only then
        sock = ""
    durable = sup.profile == "dev"
    settings = {
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": sock,
        "max_connections": "200",
        "logging_collector": "off",
        "synchronous_commit": "off",
        "fsync": "on" if durable else "off",
        "full_page_writes": "on" if durable else "off",
    }
    argv = [str(bindir / "postgres"), "-D", str(data), "-p", str(port)]
    for k, v in settings.items():
        argv += ["-c", f"{k}={v}"]
    child = sup.spawn("postgres", argv, run_as, env, sup.dir, signal.SIGINT)
    # the crm database is created once, right after the first start
    sup.wait_healthy("postgres", url.rsplit("/", 1)[0] + "/postgres", port, child, log)
    if not marker.exists():
        _create_database(sup, url)
        marker.write_text("ok\n")
    sup.wait_healthy("postgres", url, port, child, log)


def _create_database(sup: Supervisor, url: str) -> None:
    import pg8000.dbapi

    conn = pg8000.dbapi.connect(
        user="postgres",
        password="postgres",  # noqa: S106 (local development server)
        host="127.0.0.1",
        port=sup.ports.postgres,
        database="postgres",
        timeout=10,
    )
    try:
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SELECT 1 FROM pg_database WHERE datname = 'crm'")
        if not cur.fetchall():
            cur.execute("CREATE DATABASE crm")
    finally:
        conn.close()
