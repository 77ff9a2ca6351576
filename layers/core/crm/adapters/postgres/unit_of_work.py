"""The Postgres unit of work: one transaction, one tenant, outbox rows in the same commit.

BEGIN -> set_config('app.tenant_id', ..., is_local=true) -> repositories -> COMMIT. The setting
is transaction-local, so a pooled connection never carries a tenant into the next transaction.
After COMMIT the events are published (best effort, with confirms) and their outbox rows marked;
whatever that misses, the outbox relay sweeps.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import Self

import pg8000.native

from crm.adapters.postgres.auth_repositories import (
    PostgresApiKeyRepository,
    PostgresCredentialRepository,
    PostgresPasswordResetRepository,
    PostgresRecoveryCodeRepository,
    PostgresRefreshTokenRepository,
)
from crm.adapters.postgres.automation_chains import PostgresAutomationChains
from crm.adapters.postgres.automation_run_control import PostgresRunControl
from crm.adapters.postgres.automation_run_stats import PostgresAutomationRunStats
from crm.adapters.postgres.automation_runs import PostgresAutomationRunRecords
from crm.adapters.postgres.automation_secrets import PostgresAutomationWebhookSecrets
from crm.adapters.postgres.automations import PostgresAutomationRepository
from crm.adapters.postgres.connection import BROKEN_CONNECTION_ERRORS, ConnectionPool
from crm.adapters.postgres.contacts import PostgresContactRepository
from crm.adapters.postgres.dead_letters import PostgresDeadLetters
from crm.adapters.postgres.deals import PostgresDealRepository
from crm.adapters.postgres.email_templates import PostgresEmailTemplates
from crm.adapters.postgres.emails import PostgresEmails, PostgresSuppressions
from crm.adapters.postgres.event_archive import PostgresEventArchive
from crm.adapters.postgres.gdpr import PostgresPersonalData
from crm.adapters.postgres.history import (
    PostgresNotes,
    PostgresRecordHistory,
    PostgresRecordRuns,
)
from crm.adapters.postgres.imports import PostgresImports
from crm.adapters.postgres.leads import PostgresLeadRepository
from crm.adapters.postgres.notifications import PostgresNotifications
from crm.adapters.postgres.owner_rotations import PostgresOwnerRotations
from crm.adapters.postgres.pipelines import PostgresPipelineRepository
from crm.adapters.postgres.processed_events import PostgresProcessedEvents
from crm.adapters.postgres.repositories import (
    PostgresActionLedger,
    PostgresAuditLog,
    PostgresAutomationRunRepository,
    PostgresIdempotencyStore,
    PostgresLoginDirectory,
    PostgresOutbox,
    PostgresTenantRepository,
    PostgresUserRepository,
)
from crm.adapters.postgres.tasks import PostgresTasks
from crm.adapters.postgres.taxonomy import PostgresCategories, PostgresCustomFields, PostgresTags
from crm.adapters.postgres.tenancy import tenancy_repositories
from crm.adapters.postgres.webhooks import PostgresWebhookDeliveries, PostgresWebhookEndpoints
from crm.adapters.postgres.ws_connections import PostgresWsConnections
from crm.domain.errors import TenantNotSet
from crm.domain.event_catalog import validate_event
from crm.domain.events import CloudEvent
from crm.observability import logger
from crm.ports import EventPublisher


def begin_for_tenant(conn: pg8000.native.Connection, tenant_id: uuid.UUID) -> None:
    """Open a transaction scoped to `tenant_id`, or raise: never run tenant SQL unscoped.

    BEGIN and the setting go in one simple-protocol query (one round trip instead of two);
    the tenant id is inlined as the canonical text of a UUID (hex digits and dashes only)."""
    tenant = str(uuid.UUID(str(tenant_id)))
    try:
        rows = conn.run(f"BEGIN; SELECT set_config('app.tenant_id', '{tenant}', true)")
    except BROKEN_CONNECTION_ERRORS:
        raise  # the pool drops the connection
    except Exception as error:
        conn.run("ROLLBACK")
        raise TenantNotSet(f"could not scope the transaction to tenant {tenant_id}") from error
    if not rows or rows[0][0] != str(tenant_id):
        conn.run("ROLLBACK")
        raise TenantNotSet(f"could not scope the transaction to tenant {tenant_id}")


class PostgresUnitOfWork:
    def __init__(
        self,
        pool: ConnectionPool,
        tenant_id: uuid.UUID,
        publisher: EventPublisher | None = None,
    ) -> None:
        if not isinstance(tenant_id, uuid.UUID):
            raise TenantNotSet(f"tenant id must be a UUID, got {type(tenant_id).__name__}")
        self._pool = pool
        self.tenant_id = tenant_id
        self._publisher = publisher
        self._events: list[CloudEvent] = []
        self._cause: CloudEvent | None = None
        self._committed = False
        self._lease: AbstractContextManager[pg8000.native.Connection] | None = None
        self._conn: pg8000.native.Connection | None = None

    def __enter__(self) -> Self:
        self._lease = self._pool.connection()
        conn = self._lease.__enter__()
        try:
            begin_for_tenant(conn, self.tenant_id)
        except BaseException as error:
            self._lease.__exit__(type(error), error, error.__traceback__)
            raise
        self._conn = conn
        self._outbox = PostgresOutbox(conn)
        self.tenants = PostgresTenantRepository(conn)
        self.users = PostgresUserRepository(conn)
        self.leads = PostgresLeadRepository(conn)
        self.automations = PostgresAutomationRepository(conn, self.tenant_id)
        self.runs = PostgresAutomationRunRepository(conn, self.tenant_id)
        self.run_control = PostgresRunControl(conn, self.tenant_id)
        self.actions = PostgresActionLedger(conn, self.tenant_id)
        self.idempotency = PostgresIdempotencyStore(conn, self.tenant_id)
        self.audit = PostgresAuditLog(conn)
        (self.members, self.invitations, self.custom_roles, self.tenant_profile, self.usage,
         self.audit_trail) = tenancy_repositories(conn, self.tenant_id)  # fmt: skip
        self.pipelines = PostgresPipelineRepository(conn)
        self.deals = PostgresDealRepository(conn)
        self.processed_events = PostgresProcessedEvents(conn, self.tenant_id)
        self.dead_letters = PostgresDeadLetters(conn)
        self.credentials = PostgresCredentialRepository(conn)
        self.refresh_tokens = PostgresRefreshTokenRepository(conn, self.tenant_id)
        self.password_resets = PostgresPasswordResetRepository(conn, self.tenant_id)
        self.recovery_codes = PostgresRecoveryCodeRepository(conn, self.tenant_id)
        self.api_keys = PostgresApiKeyRepository(conn)
        self.contacts = PostgresContactRepository(conn)
        self.history = PostgresRecordHistory(conn)
        self.notes = PostgresNotes(conn)
        self.record_runs = PostgresRecordRuns(conn)
        self.run_records = PostgresAutomationRunRecords(conn)
        self.run_stats = PostgresAutomationRunStats(conn)
        self.personal_data = PostgresPersonalData(conn)
        self.imports = PostgresImports(conn)
        self.tags = PostgresTags(conn)
        self.categories = PostgresCategories(conn)
        self.custom_fields = PostgresCustomFields(conn)
        self.webhook_endpoints = PostgresWebhookEndpoints(conn)
        self.webhook_deliveries = PostgresWebhookDeliveries(conn, self.tenant_id)
        self.automation_webhook_secrets = PostgresAutomationWebhookSecrets(conn, self.tenant_id)
        self.ws_connections = PostgresWsConnections(conn, self.tenant_id)
        self.owner_rotations = PostgresOwnerRotations(conn, self.tenant_id)
        self.emails = PostgresEmails(conn)
        self.suppressions = PostgresSuppressions(conn, self.tenant_id)
        self.email_templates = PostgresEmailTemplates(conn)
        self.tasks = PostgresTasks(conn)
        self.automation_chains = PostgresAutomationChains(conn, self.tenant_id)
        self.notifications = PostgresNotifications(conn, self.tenant_id)
        self.event_archive = PostgresEventArchive(conn)
        return self

    @contextmanager
    def dry_run(self) -> Iterator[None]:
        """Whatever is written inside is undone on exit (a savepoint rolled back), leaving the
        transaction usable: many dry runs in one transaction (backtests) stay apart."""
        assert self._conn is not None
        self._conn.run("SAVEPOINT dry_run")
        pending = len(self._events)
        try:
            yield
        finally:
            self._conn.run("ROLLBACK TO SAVEPOINT dry_run")
            del self._events[pending:]

    def caused_by(self, event: CloudEvent) -> None:
        """Every event added from now on was caused by an automation run that `event`
        triggered: it carries `event`'s chain depth + 1 (and `event` as its cause)."""
        self._cause = event

    def add_event(self, event: CloudEvent) -> None:
        if self._cause is not None:
            event = self._cause.caused(event)
        if event.tenant_id != self.tenant_id:
            raise TenantNotSet("an event of another tenant cannot join this transaction")
        validate_event(event)  # only catalogued types, with data matching their model
        sequence = self._outbox.add(event.to_dict())
        self._events.append(dataclasses.replace(event, sequence=sequence))

    def add_events(self, events: list[CloudEvent]) -> None:
        """add_event() for many events, each about its own aggregate (the leads an import
        creates), written in one statement."""
        if self._cause is not None:
            events = [self._cause.caused(event) for event in events]
        for event in events:
            if event.tenant_id != self.tenant_id:
                raise TenantNotSet("an event of another tenant cannot join this transaction")
            validate_event(event)
        sequences = self._outbox.add_many([event.to_dict() for event in events])
        self._events += [
            dataclasses.replace(event, sequence=sequence)
            for event, sequence in zip(events, sequences, strict=True)
        ]

    def commit(self) -> None:
        assert self._conn is not None, "commit outside the unit of work"
        self._conn.run("COMMIT")
        self._committed = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._lease is not None and self._conn is not None
        try:
            if not self._committed:
                self._rollback_quietly()
            elif self._events and self._publisher is not None:
                self._publish_committed_events()
        finally:
            self._lease.__exit__(exc_type, exc, tb)

    def _rollback_quietly(self) -> None:
        assert self._conn is not None
        try:
            self._conn.run("ROLLBACK")
        except Exception:  # the connection is broken; the pool discards it on release
            logger.warning("rollback failed; discarding the connection")

    def _publish_committed_events(self) -> None:
        assert self._conn is not None and self._publisher is not None
        try:
            self._publisher.publish(self._events)
            begin_for_tenant(self._conn, self.tenant_id)
            self._outbox.mark_published([event.id for event in self._events])
            self._conn.run("COMMIT")
        except Exception:
            # Committed data is safe in the outbox; the relay's sweep will publish it.
            logger.exception("post-commit publish failed; left for the outbox relay")
            self._rollback_quietly()


class PostgresDatabase:
    """Entry point the services get: units of work per tenant and the unscoped login lookup."""

    def __init__(self, pool: ConnectionPool, publisher: EventPublisher | None = None) -> None:
        self._pool = pool
        self._publisher = publisher

    def unit_of_work(self, tenant_id: uuid.UUID) -> PostgresUnitOfWork:
        return PostgresUnitOfWork(self._pool, tenant_id, self._publisher)

    @contextmanager
    def login_directory(self) -> Iterator[PostgresLoginDirectory]:
        with self._pool.connection() as conn:
            yield PostgresLoginDirectory(conn)
