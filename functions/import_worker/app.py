"""Runs a lead import (invoked asynchronously with {tenant_id, import_id}): reads the job's CSV
from S3 and imports it in batches, resuming after the last committed batch when Lambda
retries a failed invocation."""

from __future__ import annotations

import uuid
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.observability import logger, metrics
from crm.services.imports import run_import
from crm.settings import ImportWorkerSettings

settings = ImportWorkerSettings.from_env()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    tenant_id, import_id = uuid.UUID(event["tenant_id"]), uuid.UUID(event["import_id"])
    logger.append_keys(tenant_id=str(tenant_id), import_id=str(import_id))
    job = run_import(
        tenant_id,
        import_id,
        unit_of_work=bootstrap.database(
            settings.database_url, settings.amqp_url, settings.database_pool_size
        ).unit_of_work,
        files=bootstrap.files(settings.imports_bucket),
        batch_size=settings.import_batch_size,
    )
    if job is None:
        return {"import_id": str(import_id), "status": None}
    metrics.add_metric(name="LeadsImported", unit="Count", value=job.created_count)
    metrics.add_metric(name="ImportRowsFailed", unit="Count", value=job.failed_count)
    return {"import_id": str(job.id), "status": job.status.value, "processed": job.processed_rows}
