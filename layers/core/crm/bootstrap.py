"""The one place that builds real adapters. Functions call these once per container (they
are cached); tests build their own adapters and pass them to the same services.

Each factory imports its adapter itself: a function pays at cold start only for the clients
it uses (boto3, opensearch-py, pika and argon2 each cost tens to hundreds of ms to import).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crm.adapters.opensearch.leads_index import OpenSearchLeadIndex
    from crm.adapters.passwords import Argon2PasswordHasher
    from crm.adapters.postgres.connection import ConnectionPool
    from crm.adapters.postgres.relay_store import PostgresOutboxRelayStore
    from crm.adapters.postgres.unit_of_work import PostgresDatabase
    from crm.adapters.rabbitmq.publisher import RabbitMqPublisher
    from crm.adapters.sfn.engine import StepFunctionsEngine
    from crm.adapters.webhooks.sender import Urllib3WebhookSender
    from crm.services.tokens import TokenService


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


def relay_store(relay_database_url: str) -> PostgresOutboxRelayStore:
    from crm.adapters.postgres.relay_store import PostgresOutboxRelayStore

    return PostgresOutboxRelayStore(connection_pool(relay_database_url, 2))


@cache
def lead_index(opensearch_url: str) -> OpenSearchLeadIndex:
    from crm.adapters.opensearch.leads_index import (
        OpenSearchLeadIndex,
        client_for,
        ensure_index_template,
    )

    client = client_for(opensearch_url)
    ensure_index_template(client)  # idempotent; once per container
    return OpenSearchLeadIndex(client)


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
def webhook_sender(timeout_seconds: float) -> Urllib3WebhookSender:
    from crm.adapters.webhooks.sender import Urllib3WebhookSender

    return Urllib3WebhookSender(timeout_seconds)
