"""Compatibility name for the supervisor of the project-owned servers.

The supervisor now lives in :mod:`local.supervisor` and each server's start-up in
``local/servers/<name>.py``; this module re-exports what callers used from here
(tests/conftest.py, the Makefile's ``local.services.main``, benches).
"""

from __future__ import annotations

import sys

from local.processes import MARKER_ENV
from local.servers.opensearch import OPENSEARCH_JAVA_OPTS, OPENSEARCH_VERSION
from local.supervisor import (
    PORT_OFFSET_ENV,
    PROFILES,
    SERVICES,
    START_TIMEOUT,
    STOP_TIMEOUT,
    URL_ENV,
    Endpoints,
    Ports,
    ServiceError,
    Supervisor,
    ensure_test_services,
    main,
)

__all__ = [
    "MARKER_ENV",
    "OPENSEARCH_JAVA_OPTS",
    "OPENSEARCH_VERSION",
    "PORT_OFFSET_ENV",
    "PROFILES",
    "SERVICES",
    "START_TIMEOUT",
    "STOP_TIMEOUT",
    "URL_ENV",
    "Endpoints",
    "Ports",
    "ServiceError",
    "Supervisor",
    "ensure_test_services",
    "main",
]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
