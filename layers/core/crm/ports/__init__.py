"""The ports services depend on, one module per bounded context; adapters implement
them and only bootstrap.py and tests choose. Every name is re-exported here so that
`from crm.ports import X` keeps working; new code imports from the context module."""

from __future__ import annotations

from crm.ports.audit import AuditLog, AuditLogUnitOfWork, AuditTrail, IdempotencyStore
from crm.ports.auth import (
    ApiKeyRepository,
    ApiKeysUnitOfWork,
    CredentialRepository,
    LoginDirectory,
    PasswordHasher,
    PasswordResetRepository,
    RecoveryCodeRepository,
    RefreshTokenRepository,
    SecretCipher,
)
from crm.ports.automation import (
    ActionLedger,
    AutomationRepository,
    AutomationRunRecords,
    AutomationRunRepository,
    AutomationRunStats,
    ExecutionInspector,
    WorkflowEngine,
)
from crm.ports.backbone import (
    DeadLetterRepository,
    DeadLettersUnitOfWork,
    EventPublisher,
    FailedMessagePublisher,
    Mailer,
    ProcessedEventLedger,
    Redriver,
)
from crm.ports.deals import DealRepository, DealsUnitOfWork, PipelineRepository
from crm.ports.realtime import RealtimeUnitOfWork, WsConnectionRepository
from crm.ports.records import (
    CategoryRepository,
    ContactRepository,
    CustomFieldRepository,
    ExpiredRecordsDirectory,
    ImportRepository,
    LeadRepository,
    NoteRepository,
    PersonalDataRepository,
    RecordHistoryRepository,
    RecordRunRepository,
    TagRepository,
    TaxonomyUnitOfWork,
)
from crm.ports.search import DealSearchIndex, LeadSearchIndex
from crm.ports.tenancy import (
    CustomRoleRepository,
    InvitationRepository,
    MemberRepository,
    RequestAdmission,
    TenantProfileRepository,
    TenantRepository,
    UsageRepository,
    UserRepository,
)
from crm.ports.transaction import TransactionScope
from crm.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from crm.ports.webhooks import (
    WebhookDeliveryRepository,
    WebhookEndpointRepository,
    WebhookSender,
    WebhooksUnitOfWork,
)

__all__ = [
    "ActionLedger",
    "ApiKeyRepository",
    "ApiKeysUnitOfWork",
    "AuditLog",
    "AuditLogUnitOfWork",
    "AuditTrail",
    "AutomationRepository",
    "AutomationRunRecords",
    "AutomationRunRepository",
    "AutomationRunStats",
    "CategoryRepository",
    "ContactRepository",
    "CredentialRepository",
    "CustomFieldRepository",
    "CustomRoleRepository",
    "DeadLetterRepository",
    "DeadLettersUnitOfWork",
    "DealRepository",
    "DealSearchIndex",
    "DealsUnitOfWork",
    "EventPublisher",
    "ExecutionInspector",
    "ExpiredRecordsDirectory",
    "FailedMessagePublisher",
    "IdempotencyStore",
    "ImportRepository",
    "InvitationRepository",
    "LeadRepository",
    "LeadSearchIndex",
    "LoginDirectory",
    "Mailer",
    "MemberRepository",
    "NoteRepository",
    "PasswordHasher",
    "PasswordResetRepository",
    "PersonalDataRepository",
    "PipelineRepository",
    "ProcessedEventLedger",
    "RealtimeUnitOfWork",
    "RecordHistoryRepository",
    "RecordRunRepository",
    "RecoveryCodeRepository",
    "Redriver",
    "RefreshTokenRepository",
    "RequestAdmission",
    "SecretCipher",
    "TagRepository",
    "TaxonomyUnitOfWork",
    "TenantProfileRepository",
    "TenantRepository",
    "TransactionScope",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UsageRepository",
    "UserRepository",
    "WebhookDeliveryRepository",
    "WebhookEndpointRepository",
    "WebhookSender",
    "WebhooksUnitOfWork",
    "WorkflowEngine",
    "WsConnectionRepository",
]
