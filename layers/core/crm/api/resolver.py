"""Builds the Powertools resolver every API function uses: validation on, one error map."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from crm.api.problems import register_error_handlers


def build_resolver() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)
    register_error_handlers(app)
    return app
