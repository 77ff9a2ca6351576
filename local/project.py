"""The one place the local cloud knows this project's app: migrate the database (the
functions get the crm_app / crm_relay URLs), declare the broker topology, seed the JWT key set.
Used by `python -m local dev|invoke`, the benchmarks and the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from local.cloud import LocalCloud
from local.services import Endpoints

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"


def project_cloud(
    endpoints: Endpoints,
    *,
    profile: str,
    declare_topology: bool = True,
    **cloud_options: Any,
) -> LocalCloud:
    """A LocalCloud (not started) for template.yaml against `endpoints`."""
    from crm.adapters.postgres.migrations import run_migrations
    from crm.adapters.rabbitmq import topology
    from crm.adapters.secrets.jwt_keys import new_keyset_json

    migrated = run_migrations(endpoints.admin_database_url)
    if declare_topology:
        topology.declare_topology(endpoints.amqp_url)
    return LocalCloud(
        TEMPLATE,
        endpoints=endpoints,
        app_database_url=migrated.app_url,
        extra_environment={"RELAY_DATABASE_URL": migrated.relay_url},
        profile_dir=ROOT / ".local" / profile,
        secret_seeders={"JwtSigningKeySecret": new_keyset_json},
        **cloud_options,
    )
