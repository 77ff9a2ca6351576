"""Ports: the unit of work with every repository, and its factory. Narrow units of work for one
use-case family live in their context's module (crm.ports.records.TaxonomyUnitOfWork, ...):
a service takes the narrowest that names what it touches."""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager
from typing import Protocol

from crm.domain.events import CloudEvent
from crm.ports.audit import AuditLog, AuditLogUnitOfWork, AuditTrail, IdempotencyStore
from crm.ports.auth import (
    ApiKeyRepository,
    ApiKeysUnitOfWork,
    CredentialRepository,
    PasswordResetRepository,
    RecoveryCodeRepository,
    RefreshTokenRepository,
)
from crm.ports.automation import (
    ActionLedger,
    AutomationRepository,
    AutomationRunRecords,
    AutomationRunRepository,
    AutomationRunStats,
)
from crm.ports.automation_effects import AutomationChains, EventArchive, OwnerRotations
from crm.ports.automation_lifecycle import RunControlRepository
from crm.ports.automation_webhooks import AutomationWebhookSecrets
from crm.ports.backbone import (
    DeadLetterRepository,
    DeadLettersUnitOfWork,
    ProcessedEventLedger,
)
from crm.ports.deals import DealRepository, DealsUnitOfWork, PipelineRepository
from crm.ports.realtime import RealtimeUnitOfWork, WsConnectionRepository
from crm.ports.records import (
    CategoryRepository,
    ContactRepository,
    CustomFieldRepository,
    ImportRepository,
    LeadRepository,
    NoteRepository,
    PersonalDataRepository,
    RecordHistoryRepository,
    RecordRunRepository,
    TagRepository,
    TaxonomyUnitOfWork,
)
from crm.ports.tenancy import (
    CustomRoleRepository,
    InvitationRepository,
    MemberRepository,
    TenantProfileRepository,
    TenantRepository,
    UsageRepository,
    UserRepository,
)
from crm.ports.webhooks import (
    WebhookDeliveryRepository,
    WebhookEndpointRepository,
    WebhooksUnitOfWork,
)


class UnitOfWork(
    TaxonomyUnitOfWork,
    DealsUnitOfWork,
    RealtimeUnitOfWork,
    WebhooksUnitOfWork,
    ApiKeysUnitOfWork,
    AuditLogUnitOfWork,
    DeadLettersUnitOfWork,
    Protocol,
):
    """Every repository in one transaction. A service that needs only some takes a narrow
    unit of work (TaxonomyUnitOfWork, DealsUnitOfWork, ...): its signature says what it
    touches. Members are read-only, so an adapter's concrete repositories satisfy them."""

    @property
    def tenant_id(self) -> uuid.UUID: ...
    @property
    def tenants(self) -> TenantRepository: ...
    @property
    def users(self) -> UserRepository: ...
    @property
    def leads(self) -> LeadRepository: ...
    @property
    def automations(self) -> AutomationRepository: ...
    @property
    def runs(self) -> AutomationRunRepository: ...
    @property
    def run_control(self) -> RunControlRepository: ...
    @property
    def actions(self) -> ActionLedger: ...
    @property
    def idempotency(self) -> IdempotencyStore: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def members(self) -> MemberRepository: ...
    @property
    def invitations(self) -> InvitationRepository: ...
    @property
    def custom_roles(self) -> CustomRoleRepository: ...
    @property
    def tenant_profile(self) -> TenantProfileRepository: ...
    @property
    def usage(self) -> UsageRepository: ...
    @property
    def audit_trail(self) -> AuditTrail: ...
    @property
    def pipelines(self) -> PipelineRepository: ...
    @property
    def deals(self) -> DealRepository: ...
    @property
    def processed_events(self) -> ProcessedEventLedger: ...
    @property
    def dead_letters(self) -> DeadLetterRepository: ...
    @property
    def contacts(self) -> ContactRepository: ...
    @property
    def history(self) -> RecordHistoryRepository: ...
    @property
    def notes(self) -> NoteRepository: ...
    @property
    def record_runs(self) -> RecordRunRepository: ...
    @property
    def run_records(self) -> AutomationRunRecords: ...
    @property
    def run_stats(self) -> AutomationRunStats: ...
    @property
    def personal_data(self) -> PersonalDataRepository: ...
    @property
    def imports(self) -> ImportRepository: ...
    @property
    def tags(self) -> TagRepository: ...
    @property
    def categories(self) -> CategoryRepository: ...
    @property
    def custom_fields(self) -> CustomFieldRepository: ...
    @property
    def credentials(self) -> CredentialRepository: ...
    @property
    def refresh_tokens(self) -> RefreshTokenRepository: ...
    @property
    def password_resets(self) -> PasswordResetRepository: ...
    @property
    def recovery_codes(self) -> RecoveryCodeRepository: ...
    @property
    def api_keys(self) -> ApiKeyRepository: ...
    @property
    def webhook_endpoints(self) -> WebhookEndpointRepository: ...
    @property
    def webhook_deliveries(self) -> WebhookDeliveryRepository: ...
    @property
    def ws_connections(self) -> WsConnectionRepository: ...
    @property
    def owner_rotations(self) -> OwnerRotations: ...
    @property
    def automation_webhook_secrets(self) -> AutomationWebhookSecrets: ...
    @property
    def automation_chains(self) -> AutomationChains: ...
    @property
    def event_archive(self) -> EventArchive: ...

    def dry_run(self) -> AbstractContextManager[None]:
        """Everything written inside is undone on exit; the transaction goes on."""
        ...

    def caused_by(self, event: CloudEvent) -> None:
        """Events added from now on were caused by a run `event` triggered (chain depth + 1)."""
        ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, tenant_id: uuid.UUID) -> UnitOfWork: ...
