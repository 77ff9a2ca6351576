"""SES notifications (delivery, bounce, complaint) of the pipeline's configuration set, through
SNS: the email's status moves on; a hard bounce or a complaint suppresses the address
(crm.services.email_events)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.observability import logger, metrics
from crm.services.email_events import apply_sns_event
from crm.settings import DatabaseSettings

settings = DatabaseSettings.from_env()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    db = bootstrap.database(settings.database_url, pool_size=settings.database_pool_size)
    applied = apply_sns_event(event, unit_of_work=db.unit_of_work)
    metrics.add_metric(name="EmailNotificationsApplied", unit="Count", value=applied)
    return {"applied": applied}
