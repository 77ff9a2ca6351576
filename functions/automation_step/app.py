"""Invoked by the automation state machines' Task states: runs one action exactly once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.observability import logger
from crm.services.automation_runtime import execute_step
from crm.settings import StepSettings

settings = StepSettings.from_env()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(
        tenant_id=event.get("tenant_id"), run_id=event.get("run_id"), step_id=event.get("step_id")
    )
    db = bootstrap.database(settings.database_url, pool_size=settings.database_pool_size)
    return execute_step(
        event,
        unit_of_work=db.unit_of_work,
        webhooks=bootstrap.webhook_transport(
            settings.webhook_allow_http,
            settings.webhook_allow_private_targets,
            settings.webhook_timeout_seconds,
            settings.webhook_hosts_file,
        ),
        mailer=bootstrap.mailer(settings.mail_from),
        cipher=bootstrap.field_cipher(settings.webhook_encryption_secret_arn),
        sms=bootstrap.sms_sender(),
    )
