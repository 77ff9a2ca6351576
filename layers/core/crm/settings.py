"""Configuration, validated at the edge: each function module builds the settings it needs
from its environment once, at import. Domain and services never read the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from crm.domain.messaging import RetrySchedule
from crm.domain.webhooks import TargetPolicy


class SettingsError(RuntimeError):
    """A missing or malformed variable; the message names every one of them."""


class _EnvSettings(BaseModel):
    # defer_build: a function validates one settings class; the schemas of the others, which
    # every function imports with this module, are never built (~150 ms of cold import)
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

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
    # "sigv4": requests signed with the function role's credentials (Amazon OpenSearch Service,
    # whose access policy names the roles); "none": unsigned (the local node)
    opensearch_auth: Literal["none", "sigv4"] = "none"
    aws_region: str | None = None  # set by Lambda; the SigV4 signing region


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


class UsersApiSettings(ApiSettings, MailSettings):
    pass


class AuthApiSettings(ApiSettings, JwtSettings, MailSettings):
    mfa_encryption_secret_arn: str = Field(min_length=1)


class AuthorizerSettings(DatabaseSettings, JwtSettings):
    """The Lambda authorizer checks the user's or API key's state in the database."""


# The stages in which the outbound target policy may be relaxed: only the local cloud (it
# runs every function with STAGE=local). Any deployed stage (dev, staging, prod: the
# template's Stage parameter, passed to every function as STAGE) refuses to start with a
# relaxation set, and so does a function whose STAGE is missing.
RELAXABLE_STAGES: frozenset[str] = frozenset({"local"})


class WebhookTargetSettings(_EnvSettings):
    """Where outbound requests on a tenant's behalf (webhook subscriptions, automation webhook
    actions) may go: https to public addresses. A local cloud may allow plain http and private
    addresses (its receivers listen on 127.0.0.1) and resolve names from a hosts-style file;
    link-local and metadata addresses stay refused whatever is set."""

    webhook_encryption_secret_arn: str = Field(min_length=1)
    stage: str | None = None
    webhook_allow_http: bool = False
    webhook_allow_private_targets: bool = False
    webhook_hosts_file: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _relaxed_only_locally(self) -> Self:
        relaxed = [
            name
            for name, on in (
                ("WEBHOOK_ALLOW_HTTP", self.webhook_allow_http),
                ("WEBHOOK_ALLOW_PRIVATE_TARGETS", self.webhook_allow_private_targets),
                ("WEBHOOK_HOSTS_FILE", self.webhook_hosts_file is not None),
            )
            if on
        ]
        if relaxed and self.stage not in RELAXABLE_STAGES:
            raise ValueError(
                f"{', '.join(relaxed)} relax the outbound target policy and are refused in "
                f"stage {self.stage!r}: only {', '.join(sorted(RELAXABLE_STAGES))} allows them"
            )
        if self.webhook_hosts_file is not None and not self.webhook_allow_private_targets:
            raise ValueError("WEBHOOK_HOSTS_FILE needs WEBHOOK_ALLOW_PRIVATE_TARGETS")
        return self

    @property
    def target_policy(self) -> TargetPolicy:
        return TargetPolicy(self.webhook_allow_http, self.webhook_allow_private_targets)


class AutomationsApiSettings(DatabaseSettings, WebhookTargetSettings):
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


class StepSettings(DatabaseSettings, WebhookTargetSettings):
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # send_email actions: the sender of automation mails
    mail_from: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", description="a verified SES identity")


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


class MailTransportSettings(_EnvSettings):
    """How this deployment sends email: SES v2 (the default) or an SMTP server. SMTP insists on
    STARTTLS unless SMTP_STARTTLS is explicitly false (a local Mailpit); its login, when the
    server wants one, is the JSON {"username", "password"} of the SMTP_SECRET_ARN secret."""

    mail_from: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", description="the sender of every email")
    mail_transport: Literal["ses", "smtp"] = "ses"
    ses_configuration_set: str = ""
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = True
    smtp_secret_arn: str = ""
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    @model_validator(mode="after")
    def _smtp_needs_a_host(self) -> Self:
        if self.mail_transport == "smtp" and not self.smtp_host:
            raise ValueError("SMTP_HOST is required when MAIL_TRANSPORT is smtp")
        return self


class EmailWorkerSettings(ConsumerSettings, MailTransportSettings):
    """The email worker (q.email). UNSUBSCRIBE_URL: the API's public POST /unsubscribe, put
    in the List-Unsubscribe header of marketing emails."""

    unsubscribe_url: str = Field(default="", pattern=r"^(https?://\S+)?$")


class EmailsApiSettings(ApiSettings):
    mail_from: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", description="the sender of every email")


class NotificationWorkerSettings(ConsumerSettings):
    """The notification consumer (q.notification): its notifications' events are published
    right after commit (the broker), for the WebSocket push."""


class TaskReminderSettings(DatabaseSettings, BrokerSettings):
    """The due-soon reminder: crm_relay finds the tenants with tasks due soon."""

    relay_database_url: str = Field(pattern=r"^postgres(ql)?://")
    task_reminder_window_minutes: float = Field(default=15, gt=0, le=1440)


class JwtKeysSettings(_EnvSettings):
    """functions/jwt_keys: creates the signing key set on deploy, rotates it on a schedule."""

    jwt_signing_secret_arn: str = Field(min_length=1)


class MigrationsSettings(DatabaseSettings):
    """infra/db/custom_resource.py: migrates as the owner, at DATABASE_URL's endpoint with its
    TLS settings (RDS Proxy, verify-full), the owner's credentials replacing the app's."""

    database_owner_secret_arn: str = Field(min_length=1)
    database_app_secret_arn: str = Field(min_length=1)
    database_relay_secret_arn: str = Field(min_length=1)
