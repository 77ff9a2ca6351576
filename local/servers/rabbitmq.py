"""RabbitMQ for the supervisor: its own node name, epmd (started here, so it never outlives
the broker) and distribution port."""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

from local.processes import listening
from local.supervisor import ServiceError

if TYPE_CHECKING:
    from local.supervisor import Supervisor


_RABBIT_KEYS = {
    "RABBITMQ_NODENAME",
    "RABBITMQ_NODE_IP_ADDRESS",
    "RABBITMQ_NODE_PORT",
    "RABBITMQ_DIST_PORT",
    "RABBITMQ_CONF_ENV_FILE",
    "RABBITMQ_CONFIG_FILE",
    "RABBITMQ_ADVANCED_CONFIG_FILE",
    "RABBITMQ_ENABLED_PLUGINS_FILE",
    "RABBITMQ_MNESIA_BASE",
    "RABBITMQ_LOG_BASE",
    "RABBITMQ_LOGS",
    "RABBITMQ_PID_FILE",
    "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
}


def _rabbit_paths(sup: Supervisor) -> tuple[Path, Path]:
    server = Path(sup.env.get("RABBITMQ_SERVER", "/usr/lib/rabbitmq/bin/rabbitmq-server"))
    epmd = shutil.which("epmd") or "/usr/lib/erlang/bin/epmd"
    if not server.exists() or not Path(epmd).exists():
        raise ServiceError(
            f"RabbitMQ not found ({server}, epmd): run `make setup` (apt rabbitmq-server) "
            "or set AMQP_URL"
        )
    return server, Path(epmd)


def start(sup: Supervisor) -> None:
    p = sup.ports
    url = sup.endpoints().amqp_url
    if sup.adopt("rabbitmq", url, p.amqp, extra=("epmd",)):
        return
    sup.check_ports_free(
        "rabbitmq",
        [(p.amqp, "rabbitmq"), (p.amqp_dist, "rabbitmq distribution"), (p.epmd, "epmd")],
    )
    server, epmd_bin = _rabbit_paths(sup)
    run_as = sup.run_as("rabbitmq")
    base = sup.mkdir(sup.dir / "rabbitmq", run_as)
    home = sup.mkdir(base / "home", run_as, 0o700)
    log = sup.log_dir / "rabbitmq.log"
    node = f"crm-{sup.profile}@localhost"
    conf = base / "rabbitmq.conf"
    conf.write_text(
        "loopback_users.guest = true\n"
        "log.file = false\n"
        "log.console = true\n"
        "log.console.level = info\n"
        "disk_free_limit.absolute = 50MB\n"
    )
    (base / "enabled_plugins").write_text("[].\n")
    (base / "rabbitmq-env.conf").write_text("")
    env = sup.child_env(
        run_as,
        home=home,  # the Erlang cookie lives in $HOME/.erlang.cookie
        ERL_EPMD_PORT=str(p.epmd),
        ERL_EPMD_ADDRESS="127.0.0.1",
        RABBITMQ_NODENAME=node,
        RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
        RABBITMQ_NODE_PORT=str(p.amqp),
        RABBITMQ_DIST_PORT=str(p.amqp_dist),
        RABBITMQ_CONF_ENV_FILE=str(base / "rabbitmq-env.conf"),
        RABBITMQ_CONFIG_FILE=str(conf),
        RABBITMQ_ADVANCED_CONFIG_FILE=str(base / "advanced.config"),
        RABBITMQ_ENABLED_PLUGINS_FILE=str(base / "enabled_plugins"),
        RABBITMQ_MNESIA_BASE=str(base / "mnesia"),
        RABBITMQ_LOG_BASE=str(sup.log_dir),
        RABBITMQ_LOGS="-",
        RABBITMQ_PID_FILE=str(base / "rabbitmq.pid"),
        ERL_CRASH_DUMP=str(sup.log_dir / "erl_crash.dump"),
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=(
            "-start_epmd false -kernel inet_dist_use_interface {127,0,0,1}"
        ),
    )
    for k in [k for k in env if k.startswith("RABBITMQ_") and k not in _RABBIT_KEYS]:
        del env[k]
    # our own epmd, as a child in its own process group: it never outlives the broker
    epmd = sup.spawn(
        "epmd",
        [str(epmd_bin), "-port", str(p.epmd), "-address", "127.0.0.1"],
        run_as,
        env,
        base,
    )
    deadline = time.monotonic() + 10
    while not listening(p.epmd):
        if epmd.popen is not None and epmd.popen.poll() is not None:
            raise ServiceError(f"epmd exited during start-up: see {sup.log_dir / 'epmd.log'}")
        if time.monotonic() > deadline:
            raise ServiceError(f"epmd did not listen on port {p.epmd}: see {sup.log_dir}")
        time.sleep(0.05)
    child = sup.spawn("rabbitmq", [str(server)], run_as, env, base, signal.SIGTERM)
    sup.wait_healthy("rabbitmq", url, p.amqp, child, log)
