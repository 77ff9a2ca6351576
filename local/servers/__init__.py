"""One module per project-owned server, each with ``start(sup)``: adopt this profile's server
left running, or start it as a child of the :class:`local.supervisor.Supervisor` and wait until
it is healthy. Register a new server in ``STARTERS`` (and in ``local.supervisor.SERVICES`` /
``URL_ENV`` / ``START_TIMEOUT``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from local.servers import mailpit, opensearch, postgres, rabbitmq

if TYPE_CHECKING:
    from local.supervisor import Supervisor

STARTERS: dict[str, Callable[[Supervisor], None]] = {
    "postgres": postgres.start,
    "rabbitmq": rabbitmq.start,
    "opensearch": opensearch.start,
    "mailpit": mailpit.start,
}
