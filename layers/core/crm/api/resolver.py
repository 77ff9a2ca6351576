"""Builds the Powertools resolver every API function uses: validation on, one error map, and
the API gate (rate limit, current role, route permission) in front of every authenticated
route."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from crm.api.gate import AdmissionSource, GatedResolver
from crm.api.problems import register_error_handlers

if TYPE_CHECKING:  # crm.ports imports every domain module: not at cold start
    from crm.ports import RequestAdmission


def build_resolver(admission: AdmissionSource | None = None) -> APIGatewayRestResolver:
    app = GatedResolver(admission or request_admission_from_env, enable_validation=True)
    register_error_handlers(app)
    return app


@cache
def request_admission_from_env() -> RequestAdmission:
    """Every API function has DATABASE_URL: the gate wires itself on the first authenticated
    request, so no function can forget it (and public-only ones never connect for it)."""
    from crm import bootstrap
    from crm.settings import DatabaseSettings

    settings = DatabaseSettings.from_env()
    return bootstrap.request_admission(settings.database_url, settings.database_pool_size)
