"""``python -m local``: the local cloud's command line.

    dev       servers + migrations + topology + the local cloud (+ a demo tenant); Ctrl-C stops
    invoke    runs one handler once with an event file, like ``sam local invoke``
    services  start|stop|status the project's servers (see local/supervisor.py)

The application modules (``crm.*``) are imported inside the commands, after the layer is put
on ``sys.path``, so that this module imports without them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import requests

from local.cloud import LocalCloud
from local.project import ROOT, TEMPLATE, project_cloud
from local.registry import UnknownFunctionError, add_layer_paths
from local.template import read_template
from local.websocket import WEBSOCKET_PATH

DEMO_OWNER = {
    "email": "demo@crm.example.com",
    "password": "pipeline-ready-2026",
    "name": "Demo Owner",
}
DEMO_TENANT: dict[str, Any] = {"name": "Demo Co", "slug": "demo", "owner": DEMO_OWNER}
QUIET_LOGGERS = ("botocore", "boto3", "urllib3", "pika", "werkzeug", "opensearch")

log = logging.getLogger("local")


class CommandError(Exception):
    """Ends a command with a one-line message and exit code 1."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description="The local cloud.")
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="run the whole product on this machine")
    dev.add_argument("--port", type=int, default=8765, help="API gateway port (default 8765)")
    dev.add_argument("--moto-port", type=int, default=55050, help="embedded moto port")
    dev.add_argument("--profile", default="dev", help="servers' profile and .local/<profile>")
    dev.add_argument("--no-demo", action="store_true", help="do not create the demo tenant")
    dev.add_argument(
        "--schedule-interval",
        type=float,
        metavar="SECONDS",
        help="fire every schedule this often instead of on its expression",
    )

    invoke = commands.add_parser("invoke", help="invoke one function once, like sam local invoke")
    invoke.add_argument("function", help="logical id in template.yaml, e.g. TenantsApiFunction")
    invoke.add_argument("--event", type=Path, help="event JSON file (default: {})")
    invoke.add_argument("--profile", default="dev", help="whose running servers to use")

    services = commands.add_parser("services", help="start|stop|status the servers", add_help=False)
    services.add_argument("rest", nargs=argparse.REMAINDER)

    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["services"]:
        from local.services import main as services_main

        return services_main(argv[1:])
    args = parser.parse_args(argv)
    _configure_logging()
    try:
        if args.command == "dev":
            return run_dev(args)
        return run_invoke(args)
    except CommandError as error:
        sys.stderr.write(f"error: {error}\n")
        return 1


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


# ------------------------------------------------------------------ dev


class _Stop(Exception):
    """Raised in the main thread by SIGINT/SIGTERM."""


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`_Stop` once; during the clean-up they are ignored."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise _Stop(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_dev(args: argparse.Namespace) -> int:
    from local.services import ServiceError, Supervisor

    add_layer_paths(read_template(TEMPLATE).layer_dirs)
    supervisor = Supervisor(ROOT, args.profile)
    cloud: LocalCloud | None = None
    with _stop_on_signals():
        try:
            endpoints = supervisor.start()
            cloud = project_cloud(
                endpoints,
                profile=args.profile,
                gateway_port=args.port,
                moto_port=args.moto_port,
                schedule_interval=args.schedule_interval,
            ).start()
            demo = "" if args.no_demo else _create_demo_tenant(cloud.url)
            print(f"\nCRM local cloud: {cloud.url}   (moto: {cloud.moto.url})")
            print(
                f"Mailpit (sent email): {endpoints.mailpit_url}   (SMTP {endpoints.smtp_address})"
            )
            print(f"  dashboard: {cloud.url}/app/")
            if demo:
                print(demo)
            websocket = cloud.url.replace("http://", "ws://", 1) + WEBSOCKET_PATH
            print(f"WebSocket: {websocket}?token=<access token or API key>")
            print("Ready. Ctrl-C to stop", flush=True)
            while True:
                time.sleep(3600)
        except _Stop as stop:
            log.info("%s received: stopping", stop)
        except ServiceError as error:
            raise CommandError(str(error)) from error
        except OSError as error:
            raise CommandError(f"cannot start: {error}") from error
        finally:
            if cloud is not None:
                cloud.stop()
            supervisor.stop()
    return 0


def _create_demo_tenant(url: str) -> str:
    response = requests.post(f"{url}/tenants", json=DEMO_TENANT, timeout=30)
    if response.status_code not in (200, 201, 409):
        log.warning("demo tenant not created: %s %s", response.status_code, response.text[:300])
        return ""
    return (
        f"Demo tenant '{DEMO_TENANT['slug']}': "
        f"log in with {DEMO_OWNER['email']} / {DEMO_OWNER['password']}"
    )


# ------------------------------------------------------------------ invoke


def run_invoke(args: argparse.Namespace) -> int:
    from local.services import Supervisor

    template = read_template(TEMPLATE)
    if args.function not in template.functions:
        known = ", ".join(sorted(template.functions))
        raise CommandError(f"no function {args.function!r} in template.yaml; one of: {known}")
    event = _read_event(args.event)
    endpoints = Supervisor(ROOT, args.profile).endpoints()
    down = [
        url
        for url in (endpoints.admin_database_url, endpoints.amqp_url, endpoints.opensearch_url)
        if not _reachable(url)
    ]
    if down:
        raise CommandError(
            f"servers not reachable ({', '.join(_host_port(u) for u in down)}): start them with "
            f"`python -m local services start --profile {args.profile}` or set DATABASE_URL, "
            "AMQP_URL and OPENSEARCH_URL"
        )
    add_layer_paths(template.layer_dirs)
    cloud = project_cloud(endpoints, profile=args.profile, declare_topology=False, serve=False)
    with cloud:
        return _invoke_once(lambda: cloud.registry.invoke(args.function, event))


def _invoke_once(invoke: Callable[[], Any]) -> int:
    """Runs the handler with its output (logs, prints) on stderr; the result goes to stdout."""
    stdout = sys.stdout
    try:
        with contextlib.redirect_stdout(sys.stderr):
            result = invoke()
    except UnknownFunctionError as error:
        raise CommandError(f"unknown function {error}") from error
    except Exception as error:
        stack = getattr(error, "stack_trace", None)  # the handler's, from its environment
        sys.stderr.write("".join(stack) if stack else traceback.format_exc())
        error_type = getattr(error, "error_type", type(error).__name__)
        failure = {"errorType": error_type, "errorMessage": str(error)}
        stdout.write(json.dumps(failure, indent=2) + "\n")
        return 1
    stdout.write(json.dumps(result, indent=2, default=str) + "\n")
    return 0


def _read_event(path: Path | None) -> Any:
    if path is None:
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CommandError(f"cannot read event {path}: {error}") from error


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    if parts.hostname is None or parts.port is None:
        return False
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=2) as sock:
            # Nothing listening on a port of the ephemeral range can yield a self-connection.
            return bool(sock.getsockname() != sock.getpeername())
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
