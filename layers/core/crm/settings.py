"""Configuration, validated at the edge: each function module builds the settings it needs
from its environment once, at import. Domain and services never read the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from crm.domain.messaging import RetrySchedule


class SettingsError(RuntimeError):
    """A missing or malformed variable; the message names every one of them."""


class _EnvSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        source = os.environ if environ is None else environ
        values: dict[str, Any] = {
            name: source[name.upper()] for name in cls.model_fields if name.upper() in source
        }
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in error.errors()
            )
            raise SettingsError(f"{cls.__name__}: {problems}") from error


class DatabaseSettings(_EnvSettings):
    database_url: str = Field(pattern=r"^postgres(ql)?://")
    database_pool_size: int = Field(default=4, ge=1, le=32)


class BrokerSettings(_EnvSettings):
    amqp_url: str = Field(pattern=r"^amqps?://")


class SearchSettings(_EnvSettings):
    opensearch_url: str = Field(pattern=r"^https?://")


class JwtSettings(_EnvSettings):
    jwt_signing_secret_arn: str = Field(min_length=1)
    jwt_issuer: str = Field(min_length=1)
    jwt_audience: str = Field(min_length=1)


class ApiSettings(DatabaseSettings, BrokerSettings):
    """API functions that write: database plus the broker for the post-commit publish."""


class MailSettings(_EnvSettings):
    mail_from: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", description="a verified SES identity")
    app_base_url: str = Field(pattern=r"^https?://", description="the dashboard, for links")

    @property
    def base_url(self) -> str:
        return self.app_base_url.rstrip("/")


class UsersApiSettings(DatabaseSettings, MailSettings):
    pass


class AuthApiSettings(DatabaseSettings, JwtSettings, MailSettings):
    mfa_encryption_secret_arn: str = Field(min_length=1)


class AuthorizerSettings(DatabaseSettings, JwtSettings):
    """The Lambda authorizer checks the user's or API key's state in the database."""


class AutomationsApiSettings(DatabaseSettings):
    automation_step_function_arn: str = Field(min_length=1)
    # Publishing creates a version's state machine, which runs as this role.
    state_machine_role_arn: str = Field(min_length=1)


class ReportsSettings(DatabaseSettings, SearchSettings):
    pass


class RelaySettings(DatabaseSettings, BrokerSettings):
    relay_database_url: str | None = Field(default=None, pattern=r"^postgres(ql)?://")
    relay_min_age_seconds: float = Field(default=5.0, ge=0)
    outbox_retention_hours: float = Field(default=168, gt=0)
    # Must outlast every redelivery of an event (retries end ~71 minutes after the first).
    processed_events_retention_hours: float = Field(default=336, ge=24)

    @property
    def relay_url(self) -> str:
        return self.relay_database_url or self.database_url


class FilesSettings(_EnvSettings):
    """The bucket of imported CSVs and large exports."""

    imports_bucket: str = Field(min_length=3, max_length=63)


class LeadsApiSettings(ApiSettings, FilesSettings):
    """The leads API: imports go to a worker function, started asynchronously."""

    import_worker_function: str = Field(min_length=1)


class ContactsApiSettings(ApiSettings, FilesSettings):
    pass


class GdprApiSettings(ApiSettings, FilesSettings):
    """GDPR: an erasure deletes the tenant's stored export files."""


class ImportWorkerSettings(DatabaseSettings, BrokerSettings, FilesSettings):
    import_batch_size: int = Field(default=1000, ge=1, le=2000)


class HousekeepingSettings(DatabaseSettings):
    """The purge of expired soft deletions: crm_app per tenant, crm_relay to find tenants."""

    relay_database_url: str = Field(pattern=r"^postgres(ql)?://")
    import_worker_function: str = Field(min_length=1)


class RunSweepSettings(DatabaseSettings):
    """The sweep of running automation runs: crm_relay finds tenants, crm_app reads theirs."""

    relay_database_url: str = Field(pattern=r"^postgres(ql)?://")


class ConsumerSettings(DatabaseSettings, BrokerSettings):
    """Queue workers: the database for the processed-events ledger, the broker for retries."""

    retry_delays_seconds: str = "10,60,600,3600"  # waits between attempts; "1,2" in tests

    @field_validator("retry_delays_seconds")
    @classmethod
    def _a_schedule(cls, value: str) -> str:
        RetrySchedule.parse(value)  # its ValueError names the problem
        return value

    @property
    def retry_schedule(self) -> RetrySchedule:
        return RetrySchedule.parse(self.retry_delays_seconds)


class AnalyticsSettings(ConsumerSettings, SearchSettings):
    pass


class RouterSettings(ConsumerSettings):
    automation_step_function_arn: str = Field(min_length=1)
    state_machine_role_arn: str = Field(min_length=1)


class StepSettings(DatabaseSettings):
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # send_email actions: the sender of automation mails
    mail_from: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", description="a verified SES identity")


class WebhookTargetSettings(_EnvSettings):
    """Where webhooks may go: https to public addresses, unless a local cloud allows plain
    http and private addresses (its receivers listen on 127.0.0.1)."""

    webhook_encryption_secret_arn: str = Field(min_length=1)
    webhook_allow_http: bool = False
    webhook_allow_private_targets: bool = False


class WebhooksApiSettings(DatabaseSettings, WebhookTargetSettings):
    pass


class WebhookWorkerSettings(ConsumerSettings, WebhookTargetSettings):
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=30)


class WebSocketSettings(DatabaseSettings):
    """The WebSocket API's handler ($connect/$disconnect/$default)."""


class RealtimeNotifierSettings(ConsumerSettings):
    # the WebSocket stage's Management API endpoint (https://<api>.execute-api.<region>
    # .amazonaws.com/<stage>); locally the local cloud's gateway URL
    websocket_management_url: str = Field(pattern=r"^https?://")
