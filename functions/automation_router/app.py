"""Consumes q.automation: starts one Step Functions execution per triggered automation."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.adapters.rabbitmq.lambda_events import cloud_events
from crm.observability import logger, metrics
from crm.services.automation_runtime import route_event
from crm.settings import RouterSettings

settings = RouterSettings.from_env()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    db = bootstrap.database(settings.database_url, pool_size=settings.database_pool_size)
    engine = bootstrap.workflow_engine(settings.state_machine_role_arn)
    started = 0
    for cloud_event in cloud_events(event):
        logger.append_keys(
            tenant_id=str(cloud_event.tenant_id),
            event_id=str(cloud_event.id),
            correlation_id=cloud_event.correlation_id,
        )
        started += len(
            route_event(
                cloud_event,
                unit_of_work=db.unit_of_work,
                engine=engine,
                step_function_arn=settings.automation_step_function_arn,
            )
        )
    metrics.add_metric(name="AutomationRunsStarted", unit="Count", value=started)
    return {"started": started}
