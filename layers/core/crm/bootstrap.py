"""The one place that builds real adapters. Functions call these once per container (they
are cached); tests build their own adapters and pass them to the same services.

Each factory imports its adapter itself: a function pays at cold start only for the clients
it uses (boto3, opensearch-py, pika and argon2 each cost tens to hundreds of ms to import).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crm.adapters.apigw.management import ManagementApiSender
    from crm.adapters.aws_lambda.invoker import LambdaJobStarter
    from crm.adapters.opensearch.deals_index import OpenSearchDealIndex
    from crm.adapters.opensearch.leads_index import OpenSearchLeadIndex
    from crm.adapters.passwords import Argon2PasswordHasher
    from crm.adapters.postgres.connection import ConnectionPool
    from crm.adapters.postgres.housekeeping import PostgresDueTasks, PostgresExpiredRecords
    from crm.adapters.postgres.relay_store import PostgresOutboxRelayStore
    from crm.adapters.postgres.tenancy import PostgresRequestAdmission
    from crm.adapters.postgres.unit_of_work import PostgresDatabase
    from crm.adapters.rabbitmq.publisher import RabbitMqPublisher
    from crm.adapters.rabbitmq.retry import RabbitMqFailedMessages, RabbitMqRedriver
    from crm.adapters.s3.files import S3Files
    from crm.adapters.secrets.field_cipher import SecretsManagerFieldCipher
    from crm.adapters.secrets.jwt_keys import SecretsManagerKeySetStore
    from crm.adapters.secrets.values import SecretsManagerValues
    from crm.adapters.ses.mailer import SesMailer
    from crm.adapters.sfn.engine import StepFunctionsEngine
    from crm.adapters.sfn.executions import StepFunctionsExecutions
    from crm.adapters.smtp.mailer import SmtpCredentials
    from crm.adapters.sns.sms import SnsSmsSender
    from crm.adapters.webhooks.signed import PinnedWebhookSender
    from crm.ports.messaging import EmailTransport
    from crm.services.consuming import Consumer
    from crm.services.tokens import TokenService
    from crm.settings import ConsumerSettings, MailTransportSettings


@cache
def connection_pool(database_url: str, size: int = 4) -> ConnectionPool:
    from crm.adapters.postgres.connection import ConnectionPool

    return ConnectionPool(database_url, size=size)


@cache
def publisher(amqp_url: str) -> RabbitMqPublisher:
    from crm.adapters.rabbitmq.publisher import RabbitMqPublisher

    return RabbitMqPublisher(amqp_url)


def database(
    database_url: str, amqp_url: str | None = None, pool_size: int = 4
) -> PostgresDatabase:
    from crm.adapters.postgres.unit_of_work import PostgresDatabase

    return PostgresDatabase(
        connection_pool(database_url, pool_size),
        publisher(amqp_url) if amqp_url else None,
    )


@cache
def failed_messages(amqp_url: str) -> RabbitMqFailedMessages:
    from crm.adapters.rabbitmq.channel import ConfirmedChannel
    from crm.adapters.rabbitmq.retry import RabbitMqFailedMessages

    return RabbitMqFailedMessages(ConfirmedChannel(amqp_url))


@cache
def redriver(amqp_url: str) -> RabbitMqRedriver:
    from crm.adapters.rabbitmq.channel import ConfirmedChannel
    from crm.adapters.rabbitmq.retry import RabbitMqRedriver

    return RabbitMqRedriver(ConfirmedChannel(amqp_url))


def consumer(name: str, settings: ConsumerSettings) -> Consumer:
    """A queue worker on the consumer framework: ledger in the database, retries and dead
    letters through the broker."""
    from crm.adapters.transient import is_transient
    from crm.services.consuming import Consumer

    db = database(settings.database_url, pool_size=settings.database_pool_size)
    return Consumer(
        name=name,
        unit_of_work=db.unit_of_work,
        failures=failed_messages(settings.amqp_url),
        schedule=settings.retry_schedule,
        is_transient=is_transient,
    )


def transient_errors() -> Callable[[BaseException], bool]:
    """Which failures are worth a retry (a database or broker away) rather than a dead
    letter, for a worker that handles its failures itself."""
    from crm.adapters.transient import is_transient

    return is_transient


def request_admission(database_url: str, pool_size: int = 4) -> PostgresRequestAdmission:
    from crm.adapters.postgres.tenancy import PostgresRequestAdmission

    return PostgresRequestAdmission(connection_pool(database_url, pool_size))


@cache
def mailer(sender: str) -> SesMailer:
    import boto3

    from crm.adapters.ses.mailer import SesMailer

    return SesMailer(boto3.client("sesv2"), sender)


def email_transport(settings: MailTransportSettings) -> EmailTransport:
    """The deployment's transport of the email pipeline (MAIL_TRANSPORT)."""
    if settings.mail_transport == "smtp":
        return _smtp_transport(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_starttls,
            settings.smtp_secret_arn,
            settings.smtp_timeout_seconds,
        )
    return _ses_transport(settings.mail_from, settings.ses_configuration_set)


@cache
def _ses_transport(sender: str, configuration_set: str) -> EmailTransport:
    import boto3

    from crm.adapters.ses.mailer import SesMailer

    return SesMailer(boto3.client("sesv2"), sender, configuration_set or None)


@cache
def _smtp_transport(
    host: str, port: int, starttls: bool, secret_arn: str, timeout_seconds: float
) -> EmailTransport:
    from crm.adapters.smtp.mailer import SmtpMailer

    def credentials() -> SmtpCredentials | None:
        # no secret, or one left with an empty username: a server that wants no login
        if not secret_arn:
            return None
        found = _smtp_credentials(secret_arn)
        return found if found.username else None

    return SmtpMailer(
        host, port, starttls=starttls, credentials=credentials, timeout_seconds=timeout_seconds
    )


@cache
def _smtp_credentials(secret_arn: str) -> SmtpCredentials:
    import json

    import boto3

    from crm.adapters.smtp.mailer import SmtpCredentials

    secret = boto3.client("secretsmanager").get_secret_value(SecretId=secret_arn)
    values = json.loads(secret["SecretString"])
    return SmtpCredentials(str(values["username"]), str(values["password"]))


@cache
def sms_sender() -> SnsSmsSender:
    import boto3

    from crm.adapters.sns.sms import SnsSmsSender

    return SnsSmsSender(boto3.client("sns"))


@cache
def files(bucket: str) -> S3Files:
    import boto3

    from crm.adapters.s3.files import S3Files

    return S3Files(boto3.client("s3"), bucket)


@cache
def job_starter(function_name: str) -> LambdaJobStarter:
    import boto3

    from crm.adapters.aws_lambda.invoker import LambdaJobStarter

    return LambdaJobStarter(boto3.client("lambda"), function_name)


def expired_records(relay_database_url: str) -> PostgresExpiredRecords:
    from crm.adapters.postgres.housekeeping import PostgresExpiredRecords

    return PostgresExpiredRecords(connection_pool(relay_database_url, 1))


def due_tasks(relay_database_url: str) -> PostgresDueTasks:
    from crm.adapters.postgres.housekeeping import PostgresDueTasks

    return PostgresDueTasks(connection_pool(relay_database_url, 1))


def relay_store(relay_database_url: str) -> PostgresOutboxRelayStore:
    from crm.adapters.postgres.relay_store import PostgresOutboxRelayStore

    return PostgresOutboxRelayStore(connection_pool(relay_database_url, 2))


@cache
def lead_index(
    opensearch_url: str, auth: str = "none", region: str | None = None
) -> OpenSearchLeadIndex:
    from crm.adapters.opensearch.leads_index import (
        OpenSearchLeadIndex,
        client_for,
        ensure_index_template,
    )

    client = client_for(opensearch_url, auth=auth, region=region)
    ensure_index_template(client)  # idempotent; once per container
    return OpenSearchLeadIndex(client)


@cache
def deal_index(
    opensearch_url: str, auth: str = "none", region: str | None = None
) -> OpenSearchDealIndex:
    from crm.adapters.opensearch.deals_index import OpenSearchDealIndex, ensure_deals_template
    from crm.adapters.opensearch.leads_index import client_for

    client = client_for(opensearch_url, auth=auth, region=region)
    ensure_deals_template(client)  # idempotent; once per container
    return OpenSearchDealIndex(client)


@cache
def field_cipher(secret_arn: str) -> SecretsManagerFieldCipher:
    import boto3

    from crm.adapters.secrets.field_cipher import SecretsManagerFieldCipher

    return SecretsManagerFieldCipher(boto3.client("secretsmanager"), secret_arn)


@cache
def password_hasher() -> Argon2PasswordHasher:
    from crm.adapters.passwords import Argon2PasswordHasher

    return Argon2PasswordHasher()


@cache
def token_service(secret_arn: str, issuer: str, audience: str) -> TokenService:
    import boto3

    from crm.adapters.secrets.jwt_keys import SecretsManagerKeySource
    from crm.services.tokens import TokenService

    key_source = SecretsManagerKeySource(boto3.client("secretsmanager"), secret_arn)
    return TokenService(key_source=key_source, issuer=issuer, audience=audience)


@cache
def workflow_engine(role_arn: str) -> StepFunctionsEngine:
    import boto3

    from crm.adapters.sfn.engine import StepFunctionsEngine

    return StepFunctionsEngine(boto3.client("stepfunctions"), role_arn)


@cache
def workflow_executions() -> StepFunctionsExecutions:
    import boto3

    from crm.adapters.sfn.executions import StepFunctionsExecutions

    return StepFunctionsExecutions(boto3.client("stepfunctions"))


def target_resolver(hosts_file: str | None = None) -> Callable[[str, int], list[str]]:
    """DNS for outbound targets; a local cloud may put a hosts-style file in front of it
    (WebhookTargetSettings refuses that file outside the local stage)."""
    from crm.adapters.webhooks.signed import HostsFileResolver, resolve_host

    return HostsFileResolver(Path(hosts_file)) if hosts_file else resolve_host


@cache
def webhook_transport(
    allow_http: bool,
    allow_private: bool,
    timeout_seconds: float,
    hosts_file: str | None = None,
) -> PinnedWebhookSender:
    """The one sender of outbound HTTP on a tenant's behalf (subscriptions and automation
    webhook actions), behind the target policy."""
    from crm.adapters.webhooks.signed import PinnedWebhookSender
    from crm.domain.webhooks import TargetPolicy

    return PinnedWebhookSender(
        TargetPolicy(allow_http, allow_private),
        timeout_seconds,
        resolve=target_resolver(hosts_file),
    )


@cache
def connection_sender(endpoint_url: str) -> ManagementApiSender:
    """Posts to WebSocket connections through the API Gateway Management API."""
    from crm.adapters.apigw.management import ManagementApiSender, management_client

    return ManagementApiSender(management_client(endpoint_url))


def jwt_key_set_store(secret_arn: str) -> SecretsManagerKeySetStore:
    """The signing key set as a whole: created on deploy, rotated on a schedule."""
    import boto3

    from crm.adapters.secrets.jwt_keys import SecretsManagerKeySetStore

    return SecretsManagerKeySetStore(boto3.client("secretsmanager"), secret_arn)


def secret_values() -> SecretsManagerValues:
    import boto3

    from crm.adapters.secrets.values import SecretsManagerValues

    return SecretsManagerValues(boto3.client("secretsmanager"))
