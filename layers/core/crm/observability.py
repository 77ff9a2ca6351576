"""Logger and Metrics, created once for the whole process (Powertools). The Tracer lives in
crm.tracing: importing the X-Ray SDK costs ~0.5 s of cold start, so only functions that trace
pay for it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics

from crm import snapstart

logger = Logger()
metrics = Metrics(namespace="crm")

# every function imports this module: its SnapStart restore hook is registered here
snapstart.register()


def bind_api_event(event: dict[str, Any]) -> None:
    """Once per API invocation: every log line then carries the tenant and correlation id."""
    context = event.get("requestContext") or {}
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    logger.append_keys(
        tenant_id=(context.get("authorizer") or {}).get("tenant_id"),
        correlation_id=headers.get("x-correlation-id") or context.get("requestId"),
    )
