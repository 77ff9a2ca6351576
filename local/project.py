"""The one place the local cloud knows this project's app: migrate the database (the
functions get the crm_app / crm_relay URLs), declare the broker topology, seed the JWT key set.
Used by `python -m local dev|invoke`, the benchmarks and the tests."""

from __future__ import annotations

import os
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
    from crm.domain.messaging import RetrySchedule

    migrated = run_migrations(endpoints.admin_database_url)
    environment = {"RELAY_DATABASE_URL": migrated.relay_url}
    # RETRY_DELAYS_SECONDS (e.g. "1,2" in the fault tests) replaces the retry schedule for
    # both the broker's delay queues and the consumers.
    retry_delays = os.environ.get("RETRY_DELAYS_SECONDS")
    if retry_delays:
        environment["RETRY_DELAYS_SECONDS"] = retry_delays
    # A local cloud's webhook receivers listen on 127.0.0.1 over plain http; in AWS both stay
    # refused (the settings default to false). Set either to "false" to try the AWS rules.
    for name in ("WEBHOOK_ALLOW_HTTP", "WEBHOOK_ALLOW_PRIVATE_TARGETS"):
        environment[name] = os.environ.get(name, "true")
    # A hosts-style file in front of DNS for webhook targets (tests re-point names with it);
    # the functions refuse it unless the stage is local and private targets are allowed.
    if os.environ.get("WEBHOOK_HOSTS_FILE"):
        environment["WEBHOOK_HOSTS_FILE"] = os.environ["WEBHOOK_HOSTS_FILE"]
    environment.update(mail_environment(endpoints, cloud_options.get("gateway_port", 0)))
    if declare_topology:
        topology.declare_topology(
            endpoints.amqp_url,
            retry_delays_seconds=RetrySchedule.parse(retry_delays).delays_seconds
            if retry_delays
            else None,
        )
    return LocalCloud(
        TEMPLATE,
        endpoints=endpoints,
        app_database_url=migrated.app_url,
        extra_environment=environment,
        profile_dir=ROOT / ".local" / profile,
        secret_seeders={"JwtSigningKeySecret": new_keyset_json},
        **cloud_options,
    )


def mail_environment(endpoints: Endpoints, gateway_port: int = 0) -> dict[str, str]:
    """The email worker's transport locally: SMTP to the supervisor's Mailpit, without TLS or
    login (Mailpit offers neither here); MAIL_TRANSPORT=ses sends through embedded moto's SES
    instead. No SES configuration set exists in moto. Marketing emails' List-Unsubscribe
    points at the gateway's POST /unsubscribe (when its port is known before it starts)."""
    environment = {"SES_CONFIGURATION_SET": "", "SMTP_SECRET_ARN": "", "UNSUBSCRIBE_URL": ""}
    if gateway_port:
        environment["UNSUBSCRIBE_URL"] = f"http://127.0.0.1:{gateway_port}/unsubscribe"
    transport = os.environ.get("MAIL_TRANSPORT") or ("smtp" if endpoints.smtp_address else "ses")
    environment["MAIL_TRANSPORT"] = transport
    if endpoints.smtp_address:
        environment.update(
            SMTP_HOST=endpoints.smtp_host,
            SMTP_PORT=str(endpoints.smtp_port),
            SMTP_STARTTLS="false",
        )
    return environment
