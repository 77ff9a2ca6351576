"""Scheduled: notifies the assignees of open tasks due within the next few minutes (or
overdue) that were not reminded yet, once per task and due moment."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.observability import logger, metrics
from crm.services.notifications import remind_all_due_tasks
from crm.settings import TaskReminderSettings

settings = TaskReminderSettings.from_env()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    db = bootstrap.database(
        settings.database_url, settings.amqp_url, pool_size=settings.database_pool_size
    )
    reminded = remind_all_due_tasks(
        bootstrap.due_tasks(settings.relay_database_url),
        unit_of_work=db.unit_of_work,
        window=timedelta(minutes=settings.task_reminder_window_minutes),
    )
    metrics.add_metric(name="TaskReminders", unit="Count", value=reminded)
    return {"reminded": reminded}
