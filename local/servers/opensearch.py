"""OpenSearch for the supervisor: the distribution under ``.local/opensearch-<version>``, a
single node with its config, data and logs under the profile dir."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path
from typing import TYPE_CHECKING

from local.supervisor import ServiceError

if TYPE_CHECKING:
    from local.supervisor import Supervisor


OPENSEARCH_VERSION = "2.19.6"
# C1 only: ~1.5 s faster start-up on 2 cores; plenty for development and test loads.
# Override with CRM_OPENSEARCH_JAVA_OPTS.
OPENSEARCH_JAVA_OPTS = "-Xms384m -Xmx512m -XX:TieredStopAtLevel=1"


def _java_home(sup: Supervisor) -> str:
    for key in ("OPENSEARCH_JAVA_HOME", "JAVA_HOME"):
        if sup.env.get(key):
            return sup.env[key]
    java = shutil.which("java")
    if not java:
        raise ServiceError(
            "java not found (OpenSearch needs Java 17): run `make setup` or set OPENSEARCH_URL"
        )
    return str(Path(java).resolve().parent.parent)


def start(sup: Supervisor) -> None:
    p = sup.ports
    url = sup.endpoints().opensearch_url
    if sup.adopt("opensearch", url, p.opensearch):
        return
    sup.check_ports_free(
        "opensearch",
        [(p.opensearch, "opensearch"), (p.opensearch_transport, "opensearch transport")],
    )
    home = sup.root / ".local" / f"opensearch-{OPENSEARCH_VERSION}"
    binary = home / "bin" / "opensearch"
    if not binary.exists():
        raise ServiceError(
            f"OpenSearch not found at {binary}: run `make setup` or set OPENSEARCH_URL"
        )
    java_home = _java_home(sup)
    run_as = sup.run_as("opensearch")
    base = sup.mkdir(sup.dir / "opensearch", run_as)
    conf = base / "config"
    if not (conf / "log4j2.properties").exists():
        shutil.copytree(home / "config", conf, dirs_exist_ok=True)
    logs = sup.mkdir(base / "logs", run_as)
    sup.mkdir(base / "data", run_as)
    sup.mkdir(base / "tmp", run_as)
    (conf / "jvm.options").write_text(
        "\n".join(
            [
                "-XX:+UseG1GC",
                "-Djava.io.tmpdir=${OPENSEARCH_TMPDIR}",
                f"-XX:ErrorFile={logs}/hs_err_pid%p.log",
                "18-:-Djava.security.manager=allow",
                "20-:--add-modules=jdk.incubator.vector",
                "-Djava.util.concurrent.ForkJoinPool.common.threadFactory="
                "org.opensearch.secure_sm.SecuredForkJoinWorkerThreadFactory",
                "",
            ]
        )
    )
    (conf / "opensearch.yml").write_text(f"cluster.name: crm-{sup.profile}\n")
    sup.chown(conf, run_as, recursive=True)
    log = sup.log_dir / "opensearch.log"
    env = sup.child_env(
        run_as,
        home=base,
        OPENSEARCH_JAVA_HOME=java_home,
        OPENSEARCH_PATH_CONF=str(conf),
        OPENSEARCH_TMPDIR=str(base / "tmp"),
        OPENSEARCH_JAVA_OPTS=sup.env.get("CRM_OPENSEARCH_JAVA_OPTS", OPENSEARCH_JAVA_OPTS),
    )
    env.pop("JAVA_TOOL_OPTIONS", None)
    env.pop("JAVA_OPTS", None)
    settings = {
        "node.name": f"crm-{sup.profile}",
        "http.port": str(p.opensearch),
        "transport.port": str(p.opensearch_transport),
        "network.host": "127.0.0.1",
        "discovery.type": "single-node",
        "path.data": str(base / "data"),
        "path.logs": str(logs),
        "node.store.allow_mmap": "false",  # no vm.max_map_count requirement
        "bootstrap.memory_lock": "false",
        "cluster.routing.allocation.disk.threshold_enabled": "false",
        "action.destructive_requires_name": "false",
    }
    argv = [str(binary)] + [f"-E{k}={v}" for k, v in settings.items()]
    child = sup.spawn("opensearch", argv, run_as, env, base, signal.SIGTERM)
    sup.wait_healthy("opensearch", url, p.opensearch, child, log)
