"""Supervisor for the project-owned servers: PostgreSQL, RabbitMQ, OpenSearch and Mailpit.

Used by ``make dev`` (profile ``dev``) and by the test fixtures (profile ``test``, through
:func:`ensure_test_services`). Each server runs as a child process in its own process group,
with its data under ``<root>/.local/<profile>/`` and on the profile's own ports; the supervisor
owns their lifetimes. ``DATABASE_URL`` / ``AMQP_URL`` / ``OPENSEARCH_URL`` replace the matching
server with an external one.

When run as root, PostgreSQL and OpenSearch (which refuse to run as root) run as the
unprivileged user ``crm`` (created by ``scripts/setup.sh``; override with ``CRM_SERVICE_USER``).
RabbitMQ runs as the calling user, with its own node name, epmd port and distribution port; the
supervisor starts that epmd itself so it never outlives the broker.

Mailpit (a real SMTP server with a web UI and an HTTP API, `.local/bin/mailpit`, installed by
``scripts/setup.sh``) receives the email pipeline's SMTP transport; ``MAILPIT_URL`` (its HTTP
address) with ``MAILPIT_SMTP`` (host:port) names an external one instead.

This module holds what is common to all servers (profiles and ports, pid files and adoption,
the lock, privilege drop, spawning, health waits, stopping); each server's own start-up is in
``local/servers/<name>.py`` (registered in ``local.servers.STARTERS``).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import fcntl
import json
import os
import pwd
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from local.health import CHECKS, healthy
from local.processes import (
    MARKER_ENV,
    alive,
    bindable,
    cmdline,
    group_members,
    last_line,
    listening,
    marked_pids,
    signal_group,
    signal_pid,
    wait_gone,
    write_json,
)

SERVICES = ("postgres", "rabbitmq", "opensearch", "mailpit")
URL_ENV = {
    "postgres": "DATABASE_URL",
    "rabbitmq": "AMQP_URL",
    "opensearch": "OPENSEARCH_URL",
    "mailpit": "MAILPIT_URL",
}
START_TIMEOUT = {"postgres": 60.0, "rabbitmq": 90.0, "opensearch": 180.0, "mailpit": 30.0}
MAILPIT_SMTP_ENV = "MAILPIT_SMTP"  # host:port of an external Mailpit's SMTP server
STOP_TIMEOUT = 20.0


# A port held only by a connection in TIME-WAIT (a client of a server stopped a moment ago, such
# as an earlier benchmark's) frees itself within a minute: wait for it rather than fail.
TIME_WAIT_SECONDS = 65.0


def _wait_bindable(port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if bindable(port):
            return True
    return False


class ServiceError(RuntimeError):
    """A server could not be started or reached. The message is one line, with a hint."""


@dataclass(frozen=True)
class Endpoints:
    admin_database_url: str  # postgresql://postgres:postgres@127.0.0.1:PORT/crm
    amqp_url: str  # amqp://guest:guest@127.0.0.1:PORT/%2F
    opensearch_url: str  # http://127.0.0.1:PORT
    mailpit_url: str = ""  # http://127.0.0.1:PORT: Mailpit's web UI and API (/api/v1/...)
    smtp_address: str = ""  # 127.0.0.1:PORT: Mailpit's SMTP server

    @property
    def smtp_host(self) -> str:
        return self.smtp_address.rpartition(":")[0]

    @property
    def smtp_port(self) -> int:
        return int(self.smtp_address.rpartition(":")[2])


@dataclass(frozen=True)
class Ports:
    postgres: int
    amqp: int
    opensearch: int
    amqp_dist: int  # Erlang distribution port of the RabbitMQ node
    epmd: int  # Erlang port mapper daemon (ERL_EPMD_PORT)
    opensearch_transport: int
    mailpit_smtp: int = 0
    mailpit_http: int = 0


PROFILES: dict[str, Ports] = {
    "dev": Ports(
        postgres=55432,
        amqp=55672,
        opensearch=59200,
        amqp_dist=55673,
        epmd=55369,
        opensearch_transport=59300,
        mailpit_smtp=55025,
        mailpit_http=55026,
    ),
    "test": Ports(
        postgres=56432,
        amqp=56672,
        opensearch=59210,
        amqp_dist=56673,
        epmd=56369,
        opensearch_transport=59310,
        mailpit_smtp=56025,
        mailpit_http=56026,
    ),
    "bench": Ports(
        postgres=57432,
        amqp=57672,
        opensearch=59220,
        amqp_dist=57673,
        epmd=57369,
        opensearch_transport=59320,
        mailpit_smtp=57025,
        mailpit_http=57026,
    ),
}

# Shifts every port of a profile, so that several checkouts (git worktrees) on one machine can
# each run their own test servers side by side: CRM_PORT_OFFSET=100 make test.
PORT_OFFSET_ENV = "CRM_PORT_OFFSET"


def _offset(ports: Ports, raw: str) -> Ports:
    if not raw.strip():
        return ports
    try:
        offset = int(raw)
    except ValueError:
        raise ServiceError(f"{PORT_OFFSET_ENV}={raw!r} is not an integer") from None
    if not 0 <= offset <= 5000:
        raise ServiceError(f"{PORT_OFFSET_ENV}={offset} is outside 0..5000")
    return Ports(*(port + offset for port in dataclasses.astuple(ports)))


# --------------------------------------------------------------------------------------------
# the supervisor


@dataclass
class _Child:
    service: str  # postgres | rabbitmq | epmd | opensearch
    pid: int
    popen: subprocess.Popen[bytes] | None  # None when adopted from a pid file
    stop_signal: int
    pidfile: Path


@dataclass
class _RunAs:
    user: str | None  # None: the calling user
    uid: int = field(default_factory=os.getuid)
    gid: int = field(default_factory=os.getgid)
    home: str = ""


class Supervisor:
    """Starts (or adopts, or uses external) PostgreSQL, RabbitMQ and OpenSearch for a profile.

    ``detached=True`` (used by :func:`ensure_test_services`) leaves the servers running when
    this process exits, so later runs reuse them; ``stop()`` still stops them.
    """

    def __init__(
        self,
        root: Path,
        profile: str = "dev",
        env: Mapping[str, str] = os.environ,
        *,
        ports: Ports | None = None,
        detached: bool = False,
    ) -> None:
        if ports is None:
            if profile not in PROFILES:
                raise ServiceError(f"unknown profile {profile!r}: use one of {sorted(PROFILES)}")
            ports = _offset(PROFILES[profile], os.environ.get(PORT_OFFSET_ENV, ""))
        self.root = Path(root).resolve()
        self.profile = profile
        self.ports = ports
        self.env = dict(env)
        self.detached = detached
        self.dir = self.root / ".local" / profile
        self.log_dir = self.dir / "logs"
        self.timings: dict[str, float] = {}  # seconds from start() to healthy, per service
        self.adopted: set[str] = set()
        self._children: list[_Child] = []
        self._closed = False
        self._atexit = False

    # -- public API -----------------------------------------------------------------------

    def services(self) -> tuple[str, ...]:
        """The servers of this supervisor: Mailpit only when it has ports (a profile's Ports
        built by hand without them, as some benchmarks do, runs no Mailpit)."""
        if self.ports.mailpit_http or self.external("mailpit"):
            return SERVICES
        return tuple(service for service in SERVICES if service != "mailpit")

    def external(self, service: str) -> str | None:
        return self.env.get(URL_ENV[service]) or None

    def endpoints(self) -> Endpoints:
        p = self.ports
        return Endpoints(
            admin_database_url=self.external("postgres")
            or f"postgresql://postgres:postgres@127.0.0.1:{p.postgres}/crm",
            amqp_url=self.external("rabbitmq") or f"amqp://guest:guest@127.0.0.1:{p.amqp}/%2F",
            opensearch_url=self.external("opensearch") or f"http://127.0.0.1:{p.opensearch}",
            mailpit_url=self.external("mailpit")
            or (f"http://127.0.0.1:{p.mailpit_http}" if p.mailpit_http else ""),
            smtp_address=(
                self.env.get(MAILPIT_SMTP_ENV, "")
                if self.external("mailpit")
                else (f"127.0.0.1:{p.mailpit_smtp}" if p.mailpit_smtp else "")
            ),
        )

    def start(self) -> Endpoints:
        self._closed = False
        t0 = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(exist_ok=True)
        if not self.detached and not self._atexit:
            atexit.register(self.stop)
            self._atexit = True
        errors: dict[str, BaseException] = {}

        def run(service: str, fn: Callable[[], None]) -> None:
            try:
                fn()
                self.timings[service] = time.monotonic() - t0
            except BaseException as e:
                errors[service] = e

        with self._lock():
            threads = []
            for service in self.services():
                if self.external(service):
                    fn = self._external_starter(service)
                else:
                    fn = self._starter(service)
                th = threading.Thread(target=run, args=(service, fn), name=f"start-{service}")
                th.start()
                threads.append(th)
            for th in threads:
                th.join()
        self.timings["total"] = time.monotonic() - t0
        if errors:
            if not self.detached:
                self.stop()
            else:  # keep what came up (it is reused next time), stop only the failed ones
                for service in errors:
                    self._stop_service(service)
            msgs = [
                str(e) if isinstance(e, ServiceError) else f"{s}: {type(e).__name__}: {e}"
                for s, e in errors.items()
            ]
            raise ServiceError("; ".join(m.replace("\n", " ") for m in msgs))
        return self.endpoints()

    def stop(self) -> None:
        """Stops every server this supervisor started or adopted. Idempotent, no orphans."""
        self._closed = True
        if self._atexit:
            atexit.unregister(self.stop)
            self._atexit = False
        children, self._children = self._children, []
        services = {c.service for c in children}
        if not children:
            return
        threads = [
            threading.Thread(
                target=self._stop_children, args=([c for c in children if c.service == s],)
            )
            for s in services
            if s != "epmd"
        ]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self._stop_children([c for c in children if c.service == "epmd"])
        self._sweep()
        self.adopted.clear()

    def stop_detached(self) -> list[str]:
        """Stops the servers recorded in this profile's pid files (e.g. detached test servers)."""
        stopped = []
        for service in ("postgres", "rabbitmq", "opensearch", "mailpit", "epmd"):
            child = self._adoptable(service)
            if child is not None:
                self._children.append(child)
                stopped.append(service)
        self.stop()
        self._sweep()
        for service in ("postgres", "rabbitmq", "opensearch", "mailpit", "epmd"):
            self._pidfile(service).unlink(missing_ok=True)
        return stopped

    def stop_service(self, service: str) -> None:
        """Stop one server this supervisor runs (fault tests); start_service() restarts it
        on the same data and ports."""
        if self.external(service):
            raise ServiceError(f"{service} is external ({URL_ENV[service]}): not ours to stop")
        self._stop_service(service)

    def start_service(self, service: str) -> None:
        if service not in SERVICES:
            raise ServiceError(f"unknown service {service!r}: one of {', '.join(SERVICES)}")
        self._starter(service)()

    def __enter__(self) -> Endpoints:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _starter(self, service: str) -> Callable[[], None]:
        from local.servers import STARTERS  # the server modules import this one

        start = STARTERS[service]
        return lambda: start(self)

    # -- bookkeeping ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        with (self.dir / ".lock").open("w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _pidfile(self, service: str) -> Path:
        return self.dir / f"{service}.pid"

    def _adoptable(self, service: str) -> _Child | None:
        """A live process recorded in our pid file, started from this profile dir."""
        pf = self._pidfile(service)
        try:
            data = json.loads(pf.read_text())
            pid = int(data["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if alive(pid) and str(self.dir) in data.get("marker", "") and self._is_ours(pid):
            return _Child(service, pid, None, int(data["stop_signal"]), pf)
        pf.unlink(missing_ok=True)
        return None

    def _is_ours(self, pid: int) -> bool:
        if str(self.dir) in cmdline(pid):
            return True
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            return False
        return f"{MARKER_ENV}={self.dir}".encode() in env

    def run_as(self, service: str) -> _RunAs:
        if service in ("postgres", "opensearch") and os.geteuid() == 0:
            name = self.env.get("CRM_SERVICE_USER", "crm")
            try:
                pw = pwd.getpwnam(name)
            except KeyError:
                raise ServiceError(
                    f"user {name} does not exist ({service} refuses to run as root): "
                    "run `make setup` or set CRM_SERVICE_USER"
                ) from None
            self._check_reachable(name, pw.pw_uid, pw.pw_gid)
            return _RunAs(name, pw.pw_uid, pw.pw_gid, pw.pw_dir)
        return _RunAs(None, home=str(Path.home()))

    def _check_reachable(self, user: str, uid: int, gid: int) -> None:
        d = self.dir.parent
        for p in [d, *d.parents]:
            st = p.stat()
            mode = st.st_mode
            ok = (
                (st.st_uid == uid and mode & 0o100)
                or (st.st_gid == gid and mode & 0o010)
                or mode & 0o001
            )
            if not ok:
                raise ServiceError(
                    f"user {user} cannot enter {p} (PostgreSQL/OpenSearch run as {user}): "
                    f"chmod o+x {p} or put the repo elsewhere"
                )

    def mkdir(self, path: Path, run_as: _RunAs, mode: int = 0o755) -> Path:
        """Creates path (owned by the user the server runs as)."""
        path.mkdir(parents=True, exist_ok=True)
        self.chown(path, run_as)
        path.chmod(mode)
        return path

    def chown(self, path: Path, run_as: _RunAs, recursive: bool = False) -> None:
        if run_as.user is None:
            return
        paths = [path]
        if recursive:
            paths += list(path.rglob("*"))
        for q in paths:
            if q.lstat().st_uid != run_as.uid:
                os.lchown(q, run_as.uid, run_as.gid)

    def child_env(self, run_as: _RunAs, home: Path | None = None, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in self.env.items() if k not in URL_ENV.values()}
        env["HOME"] = str(home) if home else (run_as.home or str(self.dir))
        env.setdefault("LANG", "C.UTF-8")
        env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        env[MARKER_ENV] = str(self.dir)
        if run_as.user is not None:
            env["USER"] = env["LOGNAME"] = run_as.user
        env.update(extra)
        return env

    def spawn(
        self,
        service: str,
        argv: list[str],
        run_as: _RunAs,
        env: dict[str, str],
        cwd: Path,
        stop_signal: int = signal.SIGTERM,
    ) -> _Child:
        if self._closed:
            raise ServiceError(f"{service}: supervisor was stopped during start-up")
        log_path = self.log_dir / f"{service}.log"
        with log_path.open("ab") as log:
            log.write(f"\n=== {time.strftime('%F %T')} starting: {' '.join(argv)}\n".encode())
            log.flush()
            kwargs: dict[str, Any] = {}
            if run_as.user is not None:
                kwargs.update(user=run_as.uid, group=run_as.gid, extra_groups=[])
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env,
                start_new_session=True,  # own process group: stop() kills the whole tree
                close_fds=True,
                **kwargs,
            )
        pf = self._pidfile(service)
        write_json(
            pf,
            {
                "pid": popen.pid,
                "stop_signal": int(stop_signal),
                "marker": str(self.dir),
                "argv": argv,
            },
        )
        child = _Child(service, popen.pid, popen, int(stop_signal), pf)
        self._children.append(child)
        if self._closed:  # stop() ran while we were spawning
            self._stop_children([child])
            raise ServiceError(f"{service}: supervisor was stopped during start-up")
        return child

    def wait_healthy(
        self, service: str, url: str, port: int, child: _Child | None, log: Path
    ) -> None:
        timeout = float(self.env.get("CRM_SERVICES_TIMEOUT", START_TIMEOUT[service]))
        deadline = time.monotonic() + timeout
        while True:
            if self._closed:
                raise ServiceError(f"{service}: supervisor was stopped during start-up")
            if child is not None:
                rc = child.popen.poll() if child.popen else (None if alive(child.pid) else -1)
                if rc is not None:
                    raise ServiceError(
                        f"{service} exited with code {rc} during start-up: see {log}"
                        f" (last line: {last_line(log)!r})"
                    )
            if listening(port) and healthy(service, url):
                return
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"{service} did not become healthy within {timeout:.0f} s: see {log}"
                    f" (last line: {last_line(log)!r})"
                )
            time.sleep(0.25)

    def check_ports_free(self, service: str, ports: list[tuple[int, str]]) -> None:
        for port, what in ports:
            if listening(port):
                raise ServiceError(
                    f"port {port} ({what}) is busy: set {URL_ENV[service]} to use your own "
                    "server or free the port"
                )
            if not bindable(port) and not _wait_bindable(port, TIME_WAIT_SECONDS):
                raise ServiceError(
                    f"port {port} ({what}) is held by a TCP connection (nothing listens; often a "
                    "TIME-WAIT left by connect() to the closed port, gone within 60 s): retry "
                    f"shortly, or set {URL_ENV[service]} to use your own server"
                )

    def adopt(self, service: str, url: str, port: int, extra: tuple[str, ...] = ()) -> bool:
        """Reuses our own server of this profile left running (detached, or by a crash)."""
        child = self._adoptable(service)
        if child is None:
            return False
        children = [child]
        for name in extra:
            c = self._adoptable(name)
            if c is not None:
                children.append(c)
        self._children.extend(children)
        self.adopted.add(service)
        self.wait_healthy(service, url, port, child, self.log_dir / f"{service}.log")
        return True

    def _external_starter(self, service: str) -> Callable[[], None]:
        url = self.external(service)
        assert url is not None

        def check() -> None:
            deadline = time.monotonic() + 10
            while True:
                try:
                    CHECKS[service](url)
                    return
                except Exception as e:
                    if time.monotonic() > deadline:
                        raise ServiceError(
                            f"{URL_ENV[service]} is set but {service} is not reachable there: "
                            f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                        ) from None
                    time.sleep(0.5)

        return check

    def _stop_service(self, service: str) -> None:
        names = {service, "epmd"} if service == "rabbitmq" else {service}
        mine = [c for c in self._children if c.service in names]
        self._children = [c for c in self._children if c.service not in names]
        order = sorted(mine, key=lambda c: c.service == "epmd")
        for c in order:
            self._stop_children([c])

    def _stop_children(self, children: list[_Child]) -> None:
        for c in children:
            pgid = c.pid  # the leader of its own session / process group
            signal_pid(c.pid, c.stop_signal)

            def leader_alive(c: _Child = c) -> bool:
                if c.popen is not None:
                    return c.popen.poll() is None
                return alive(c.pid)

            if not wait_gone(leader_alive, STOP_TIMEOUT):
                signal_group(pgid, signal.SIGKILL)
                wait_gone(leader_alive, 5)

            # stragglers of the group (backends, erl_child_setup, ...)
            def group_alive(pgid: int = pgid) -> bool:
                return bool(group_members(pgid))

            if group_alive():
                signal_group(pgid, signal.SIGTERM)
                if not wait_gone(group_alive, 5):
                    signal_group(pgid, signal.SIGKILL)
                    wait_gone(group_alive, 5)
            if c.popen is not None:
                with contextlib.suppress(Exception):
                    c.popen.wait(timeout=1)
            with contextlib.suppress(OSError):
                data = json.loads(c.pidfile.read_text())
                if int(data["pid"]) == c.pid:
                    c.pidfile.unlink()

    def _sweep(self) -> None:
        """Kills anything left that carries our marker (e.g. an epmd -daemon some erl spawned)."""
        pids = marked_pids(str(self.dir))
        for pid in pids:
            signal_pid(pid, signal.SIGTERM)
        if pids and not wait_gone(lambda: any(alive(p) for p in pids), 5):
            for pid in pids:
                signal_pid(pid, signal.SIGKILL)


def ensure_test_services(root: Path) -> Endpoints:
    """Endpoints for pytest: reuses the running `test` servers, or starts them detached.

    Honours DATABASE_URL / AMQP_URL / OPENSEARCH_URL. Detached servers stay up after pytest
    exits so the next run starts in well under a second; `make stop` stops them.
    """
    return Supervisor(root, "test", detached=True).start()


# --------------------------------------------------------------------------------------------
# command line (wired as `python -m local services ...`)


def _print_endpoints(sup: Supervisor, ep: Endpoints, out: TextIO) -> None:
    for service in SERVICES:
        how = (
            "external"
            if sup.external(service)
            else "reused"
            if service in sup.adopted
            else f"started in {sup.timings.get(service, 0):.1f} s"
        )
        out.write(f"{service:<10} {how}\n")
    out.write(f"DATABASE_URL={ep.admin_database_url}\n")
    out.write(f"AMQP_URL={ep.amqp_url}\n")
    out.write(f"OPENSEARCH_URL={ep.opensearch_url}\n")
    out.write(f"MAILPIT_URL={ep.mailpit_url}   (SMTP {ep.smtp_address})\n")
    out.flush()


def main(argv: list[str] | None = None, root: Path | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local services")
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name, text in (
        ("start", "start the servers in the foreground (Ctrl-C stops them)"),
        ("stop", "stop servers left running (e.g. the detached test servers)"),
        ("status", "show which servers of the profile are running"),
    ):
        sp = sub.add_parser(name, help=text)
        sp.add_argument("--profile", default="dev", choices=sorted(PROFILES))
    sub.choices["start"].add_argument(
        "--detach", action="store_true", help="start, print endpoints and leave them running"
    )
    args = parser.parse_args(argv)
    root = root or Path(__file__).resolve().parent.parent
    out = sys.stdout

    if args.cmd == "stop":
        stopped = Supervisor(root, args.profile).stop_detached()
        out.write(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}\n")
        return 0

    if args.cmd == "status":
        sup = Supervisor(root, args.profile)
        ep = sup.endpoints()
        urls = {
            "postgres": ep.admin_database_url,
            "rabbitmq": ep.amqp_url,
            "opensearch": ep.opensearch_url,
            "mailpit": ep.mailpit_url,
        }
        rc = 0
        for service in SERVICES:
            port = {
                "postgres": sup.ports.postgres,
                "rabbitmq": sup.ports.amqp,
                "mailpit": sup.ports.mailpit_http,
            }.get(service, sup.ports.opensearch)
            up = (sup.external(service) is not None or listening(port)) and healthy(
                service, urls[service]
            )
            rc |= 0 if up else 1
            out.write(f"{service:<10} {'up' if up else 'down'}  {urls[service]}\n")
        return rc

    sup = Supervisor(root, args.profile, detached=args.detach)
    try:
        ep = sup.start()
    except ServiceError as e:
        sys.stderr.write(f"error: {e}\n")
        return 1
    _print_endpoints(sup, ep, out)
    if args.detach:
        return 0

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    out.write("servers running; Ctrl-C stops them\n")
    out.flush()
    rc = 0
    try:
        while True:
            time.sleep(1)
            dead = [
                c
                for c in sup._children
                if (c.popen.poll() is not None if c.popen else not alive(c.pid))
            ]
            if dead:
                log = sup.log_dir / f"{dead[0].service}.log"
                sys.stderr.write(f"error: {dead[0].service} exited unexpectedly: see {log}\n")
                rc = 1
                break
    except KeyboardInterrupt:
        pass
    finally:
        out.write("stopping servers ...\n")
        out.flush()
        sup.stop()
        signal.signal(signal.SIGTERM, previous)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
