"""Consumes q.automation: starts one Step Functions execution per triggered automation, in
the transaction that records the event as handled (see crm.services.consuming)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.adapters.rabbitmq.lambda_events import inbound_messages
from crm.domain.events import CloudEvent
from crm.observability import logger, metrics
from crm.ports import UnitOfWork
from crm.services.automation_runtime import route_event
from crm.services.consuming import consume_batch
from crm.settings import RouterSettings

settings = RouterSettings.from_env()


def route(event: CloudEvent, uow: UnitOfWork) -> None:
    started = route_event(
        event,
        uow,
        engine=bootstrap.workflow_engine(settings.state_machine_role_arn),
        step_function_arn=settings.automation_step_function_arn,
        executions=bootstrap.workflow_executions(),
    )
    metrics.add_metric(name="AutomationRunsStarted", unit="Count", value=len(started))


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    metrics.add_dimension(name="consumer", value="automation")
    consumer = bootstrap.consumer("automation", settings)
    return consume_batch(inbound_messages(event), consumer, route).as_dict()
