"""The ports services depend on. Adapters implement them; only bootstrap.py and tests choose."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

# Domain types appear in annotations only: importing them at run time would load every
# domain module (and the workflow model) into every function's cold start.
if TYPE_CHECKING:
    from crm.domain.admission import Admission
    from crm.domain.api_keys import ApiKey, ApiKeyHolder
    from crm.domain.audit import AuditEntry, AuditRecord, RequestMeta
    from crm.domain.contacts import Contact
    from crm.domain.credentials import (
        FailureOutcome,
        PasswordResetRecord,
        RefreshTokenRecord,
        SessionState,
        UserCredentials,
    )
    from crm.domain.custom_fields import CustomField
    from crm.domain.dead_letters import DeadLetter, DeadLetterStatus, RedriveSelection
    from crm.domain.deals import Deal, DealFilters, DealSort, ForecastGroup, StageStay
    from crm.domain.events import CloudEvent
    from crm.domain.imports import ImportJob, RowError
    from crm.domain.leads import Lead
    from crm.domain.members import Invitation, Member
    from crm.domain.messaging import FailureRecord, InboundMessage
    from crm.domain.notes import Note
    from crm.domain.pagination import Keyset, Page, PageRequest
    from crm.domain.pipelines import Pipeline
    from crm.domain.plans import CounterRow, Limit, Period
    from crm.domain.realtime import ConnectionRow
    from crm.domain.records import HistoryEntry, RecordFilters, RecordKind, RecordSort
    from crm.domain.roles import CustomRole
    from crm.domain.run_inspection import ExecutionInfo, RunDetail, RunFilters, RunRecord
    from crm.domain.taxonomy import Category, Tag
    from crm.domain.tenant_settings import TenantProfile
    from crm.domain.tenants import Tenant, User
    from crm.domain.timeline import AutomationRunRef
    from crm.domain.webhooks import WebhookDelivery, WebhookEndpoint


class TenantRepository(Protocol):
    def add(self, tenant: Tenant) -> None: ...


class UserRepository(Protocol):
    def add(self, user: User, tenant_slug: str) -> None: ...
    def get_by_email(self, email: str) -> User | None: ...


class LeadRepository(Protocol):
    def add(self, lead: Lead) -> None: ...
    def get(
        self, lead_id: uuid.UUID, *, for_update: bool = False, include_deleted: bool = False
    ) -> Lead | None: ...
    def update(self, lead: Lead) -> None: ...
    def find(self, filters: RecordFilters, sort: RecordSort, page: PageRequest) -> Page[Lead]: ...
    def lock_identities(self, keys: Sequence[str]) -> None: ...
    def find_duplicate(
        self, email: str | None, phone_digits: str | None, exclude_id: uuid.UUID | None
    ) -> tuple[uuid.UUID, str] | None:
        """A live lead other than `exclude_id` with this email or phone: (id, field)."""
        ...

    def merged_into(self, lead_id: uuid.UUID) -> list[uuid.UUID]: ...
    def repoint_merged(self, from_id: uuid.UUID, to_id: uuid.UUID) -> None: ...
    def repoint_deals(self, from_id: uuid.UUID, to_id: uuid.UUID) -> None: ...
    def is_active_user(self, user_id: uuid.UUID) -> bool: ...
    def purge_deleted(self, before: datetime, limit: int) -> int: ...
    def add_many(self, leads: Sequence[Lead]) -> None: ...
    def find_every(self, filters: RecordFilters, sort: RecordSort) -> Iterator[list[Lead]]: ...
    def live_by_identity(
        self, emails: Sequence[str], phone_digits: Sequence[str]
    ) -> list[tuple[uuid.UUID, str | None, str | None]]: ...


class ContactRepository(Protocol):
    def add(self, contact: Contact) -> None: ...
    def get(
        self, contact_id: uuid.UUID, *, for_update: bool = False, include_deleted: bool = False
    ) -> Contact | None: ...
    def update(self, contact: Contact) -> None: ...
    def find(
        self, filters: RecordFilters, sort: RecordSort, page: PageRequest
    ) -> Page[Contact]: ...
    def lock_identities(self, keys: Sequence[str]) -> None: ...
    def find_duplicate(
        self, email: str | None, phone_digits: str | None, exclude_id: uuid.UUID | None
    ) -> tuple[uuid.UUID, str] | None: ...
    def purge_deleted(self, before: datetime, limit: int) -> int: ...
    def find_every(self, filters: RecordFilters, sort: RecordSort) -> Iterator[list[Contact]]: ...


class ExpiredRecordsDirectory(Protocol):
    """Across tenants (the housekeeping role): which tenants have records soft-deleted before
    a moment. It sees nothing else of those records."""

    def tenants_with_deletions_before(self, before: datetime) -> list[uuid.UUID]: ...


class RecordHistoryRepository(Protocol):
    def add(self, entries: Sequence[HistoryEntry]) -> None: ...
    def page(
        self,
        kind: RecordKind,
        record_ids: Sequence[uuid.UUID],
        page: PageRequest,
        *,
        newest_first: bool = True,
    ) -> Page[HistoryEntry]: ...
    def newest(
        self, kind: RecordKind, record_ids: Sequence[uuid.UUID], after: Keyset | None, limit: int
    ) -> list[HistoryEntry]: ...


class NoteRepository(Protocol):
    def add(self, note: Note) -> None: ...
    def newest(
        self, kind: RecordKind, record_ids: Sequence[uuid.UUID], after: Keyset | None, limit: int
    ) -> list[Note]: ...


class PersonalDataRepository(Protocol):
    """Copies of a person's data outside the record rows (crm.services.gdpr)."""

    def record_ids_by_email(self, email: str) -> tuple[list[uuid.UUID], list[uuid.UUID]]: ...
    def deal_ids_of(
        self, lead_ids: Sequence[uuid.UUID], contact_ids: Sequence[uuid.UUID]
    ) -> list[uuid.UUID]: ...
    def scrub_history(
        self, lead_ids: Sequence[uuid.UUID], contact_ids: Sequence[uuid.UUID]
    ) -> int: ...
    def scrub_notes(
        self, lead_ids: Sequence[uuid.UUID], contact_ids: Sequence[uuid.UUID]
    ) -> int: ...
    def scrub_events(self, subjects: Sequence[str]) -> int: ...
    def scrub_stored_responses(self, record_ids: Sequence[uuid.UUID]) -> int: ...


class ImportRepository(Protocol):
    def add(self, job: ImportJob) -> None: ...
    def get(self, import_id: uuid.UUID, *, for_update: bool = False) -> ImportJob | None: ...
    def save(self, job: ImportJob) -> None: ...
    def add_row_errors(self, import_id: uuid.UUID, errors: Sequence[RowError]) -> None: ...
    def row_errors(self, import_id: uuid.UUID, after_row: int, limit: int) -> list[RowError]: ...


class RecordRunRepository(Protocol):
    def newest(
        self, subjects: Sequence[str], after: Keyset | None, limit: int
    ) -> list[AutomationRunRef]:
        """Runs started by events with these subjects (e.g. leads/<id>), newest first."""
        ...


class AutomationRunRecords(Protocol):
    """Reads of automation runs (crm.services.automation_runs) and their cached outcome."""

    def newest(
        self,
        automation_id: uuid.UUID,
        filters: RunFilters,
        after: Keyset | None,
        limit: int,
        *,
        also_running: bool = False,
    ) -> list[RunRecord]: ...
    def get(self, run_id: uuid.UUID) -> RunDetail | None: ...
    def record_outcome(self, run: RunRecord) -> None: ...


class AutomationRunStats(Protocol):
    """Aggregates of automation runs for GET /reports/automations."""

    def counts(
        self, start: datetime, end: datetime
    ) -> list[tuple[uuid.UUID, str, date, str, int]]: ...
    def still_running(self, start: datetime, end: datetime, limit: int) -> list[RunRecord]: ...


class TagRepository(Protocol):
    def all(self) -> list[Tag]: ...
    def existing(self, names: Sequence[str]) -> set[str]: ...
    def add(self, tag: Tag) -> bool: ...
    def get(self, name: str) -> Tag | None: ...
    def delete(self, name: str, *, actor: tuple[str, uuid.UUID | None], at: datetime) -> int | None:
        """Remove the tag from every record (history rows) and delete it; None: no such tag."""
        ...


class CategoryRepository(Protocol):
    def all(self) -> list[Category]: ...
    def exists(self, name: str) -> bool: ...
    def add(self, category: Category) -> bool: ...
    def delete(self, name: str, *, actor: tuple[str, uuid.UUID | None], at: datetime) -> int | None:
        """Clear the category from every record (history rows) and delete it."""
        ...


class CustomFieldRepository(Protocol):
    def for_entity(self, entity: RecordKind) -> list[CustomField]: ...
    def all(self) -> list[CustomField]: ...
    def get(self, field_id: uuid.UUID, *, for_update: bool = False) -> CustomField | None: ...
    def add(self, definition: CustomField) -> bool: ...
    def update(self, definition: CustomField) -> None: ...


class AutomationRepository(Protocol):
    def add(
        self,
        automation_id: uuid.UUID,
        version_id: uuid.UUID,
        name: str,
        trigger_event: str,
        definition: dict[str, Any],
        created_by: uuid.UUID | None,
    ) -> None: ...
    def get(self, automation_id: uuid.UUID) -> dict[str, Any] | None: ...
    def active_for_trigger(self, trigger_event: str) -> list[dict[str, Any]]: ...
    def set_state_machine_arn(self, version_id: uuid.UUID, arn: str) -> None: ...


class AutomationRunRepository(Protocol):
    def add_if_absent(
        self,
        run_id: uuid.UUID,
        automation_id: uuid.UUID,
        version_id: uuid.UUID,
        event_id: uuid.UUID,
        execution_name: str,
    ) -> bool: ...
    def set_execution_arn(self, run_id: uuid.UUID, arn: str) -> None: ...


class ActionLedger(Protocol):
    def claim(self, key: str, run_id: uuid.UUID, step_id: str, kind: str) -> dict[str, Any] | None:
        """Reserve `key`; None when reserved now, the earlier result when it was done before."""
        ...

    def record_result(self, key: str, result: dict[str, Any]) -> None: ...


class IdempotencyStore(Protocol):
    def get(self, key: str) -> tuple[str, int, dict[str, Any]] | None: ...
    def put(
        self, key: str, request_hash: str, status_code: int, response: dict[str, Any]
    ) -> None: ...
    def claim(self, key: str, request_hash: str) -> tuple[str, int, dict[str, Any]] | None:
        """Reserve `key` in this transaction; None when reserved now, else the earlier
        (request_hash, status, response). A concurrent claim of the same key waits for this
        transaction and then sees its outcome."""
        ...

    def complete(self, key: str, status_code: int, response: dict[str, Any]) -> None:
        """Store the response of the request that claimed `key` (same transaction)."""
        ...


class AuditLog(Protocol):
    def record(self, entry: AuditEntry) -> None: ...


class PipelineRepository(Protocol):
    def add(self, pipeline: Pipeline) -> None: ...
    def get(self, pipeline_id: uuid.UUID, *, for_update: bool = False) -> Pipeline | None: ...
    def get_default(self, *, for_update: bool = False) -> Pipeline | None: ...
    def find(self, *, include_archived: bool, page: PageRequest) -> Page[Pipeline]: ...
    def save(self, pipeline: Pipeline, removed_stage_ids: Sequence[uuid.UUID] = ()) -> None:
        """Write the pipeline row and its stages; 409 when a removed stage still has deals."""
        ...

    def stages_with_deals(self, stage_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]: ...


class DealRepository(Protocol):
    def add(self, deal: Deal) -> None: ...
    def get(
        self, deal_id: uuid.UUID, *, for_update: bool = False, include_deleted: bool = False
    ) -> Deal | None: ...
    def update(self, deal: Deal) -> None: ...
    def find(self, filters: DealFilters, sort: DealSort, page: PageRequest) -> Page[Deal]: ...
    def board(
        self, pipeline_id: uuid.UUID, *, visible_to: uuid.UUID | None, limit: int
    ) -> dict[uuid.UUID, Page[Deal]]:
        """The first `limit` deals of every stage (newest first)."""
        ...

    def stage_totals(
        self, pipeline_id: uuid.UUID, *, visible_to: uuid.UUID | None
    ) -> list[tuple[uuid.UUID, str, int, Decimal]]:
        """(stage id, currency, deal count, value) of the live deals of a pipeline."""
        ...

    def forecast_groups(
        self, pipeline_id: uuid.UUID, *, visible_to: uuid.UUID | None
    ) -> list[ForecastGroup]: ...
    def add_stage_stay(self, stay: StageStay) -> None: ...
    def close_stage_stay(self, deal_id: uuid.UUID, at: datetime) -> None: ...
    def stage_history(self, deal_id: uuid.UUID, page: PageRequest) -> Page[StageStay]: ...
    def tenant_currency(self) -> str | None: ...
    def is_active_user(self, user_id: uuid.UUID) -> bool: ...


class WsConnectionRepository(Protocol):
    """Open WebSocket connections of the unit of work's tenant (crm.services.realtime)."""

    def add(
        self,
        connection_id: str,
        user_id: uuid.UUID,
        api_key_id: uuid.UUID | None,
        scopes: Collection[str] | None,
        at: datetime,
    ) -> None: ...
    def remove(self, connection_id: str) -> bool: ...
    def touch(self, connection_id: str, at: datetime) -> bool: ...
    def listeners(self) -> list[ConnectionRow]: ...


class ProcessedEventLedger(Protocol):
    def claim(self, consumer: str, event_id: uuid.UUID) -> bool:
        """True the first time `consumer` handles the event in a committed transaction;
        False for a duplicate (which is counted)."""
        ...

    def handled(self, consumer: str, event_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        """Those of `event_ids` that `consumer` has handled."""
        ...

    def record(self, consumer: str, deliveries: Mapping[uuid.UUID, int]) -> set[uuid.UUID]:
        """Record events as handled, each delivered `deliveries[id]` times in this batch;
        returns those recorded for the first time (every other delivery is a duplicate)."""
        ...


class DeadLetterRepository(Protocol):
    def add(self, letter: DeadLetter) -> bool: ...
    def get(self, letter_id: uuid.UUID) -> DeadLetter | None: ...
    def page(
        self,
        *,
        status: DeadLetterStatus,
        consumer: str | None,
        event_type: str | None,
        page: PageRequest,
    ) -> Page[DeadLetter]: ...
    def lock_for_redrive(self, selection: RedriveSelection, limit: int) -> list[DeadLetter]: ...
    def count_open(self, selection: RedriveSelection) -> int: ...
    def statuses(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, DeadLetterStatus]: ...
    def mark_redriven(self, ids: list[uuid.UUID], by: uuid.UUID | None) -> None: ...
    def delete(self, letter_id: uuid.UUID) -> None: ...


class MemberRepository(Protocol):
    """The tenant's users as administrators manage them (crm.services.users)."""

    def get(self, user_id: uuid.UUID) -> Member | None: ...
    def get_for_update(self, user_id: uuid.UUID) -> Member | None: ...
    def find(self, *, role: str | None, status: str | None, page: PageRequest) -> Page[Member]: ...
    def update(
        self, user_id: uuid.UUID, *, name: str, role: str, status: str, expected_version: int
    ) -> Member | None: ...
    def activate(self, user_id: uuid.UUID, *, name: str, password_hash: str) -> Member | None: ...
    def lock_active_owners(self) -> list[uuid.UUID]: ...
    def count_with_role(self, role: str) -> int: ...


class InvitationRepository(Protocol):
    def add(self, invitation: Invitation) -> None: ...
    def get_by_token_hash(self, token_hash: str) -> Invitation | None: ...
    def mark_accepted(self, invitation_id: uuid.UUID) -> bool: ...
    def revoke_open(self, user_id: uuid.UUID) -> int: ...


class CustomRoleRepository(Protocol):
    def all(self) -> list[CustomRole]: ...
    def get(self, key: str, *, for_update: bool = False) -> CustomRole | None: ...
    def add(
        self,
        key: str,
        name: str,
        description: str,
        permissions: frozenset[str],
        own_records_only: bool,
    ) -> CustomRole | None: ...
    def update(
        self,
        key: str,
        *,
        name: str,
        description: str,
        permissions: frozenset[str],
        own_records_only: bool,
        expected_version: int,
    ) -> CustomRole | None: ...


class TenantProfileRepository(Protocol):
    def get(self, *, for_update: bool = False) -> TenantProfile | None: ...
    def update(
        self, *, name: str, settings: dict[str, Any], plan: str, expected_version: int
    ) -> TenantProfile | None: ...


class UsageRepository(Protocol):
    """Plans, limits and usage counters (crm.services.plans)."""

    def plan_exists(self, plan: str) -> bool: ...
    def limits(self, plan: str) -> dict[str, Limit]: ...
    def lock_level(self, metric: str) -> tuple[int, int | None, str]: ...
    def consume(self, metric: str, amount: int) -> tuple[bool, int, int | None, str, datetime]: ...
    def counters(self, plan: str, period_starts: dict[Period, datetime]) -> list[CounterRow]: ...


class AuditTrail(Protocol):
    """Reads the audit log (writing is AuditLog)."""

    def search(
        self,
        *,
        actor_id: uuid.UUID | None,
        action: str | None,
        entity_type: str | None,
        entity_id: str | None,
        since: datetime | None,
        until: datetime | None,
        page: PageRequest,
    ) -> Page[AuditRecord]: ...


class CredentialRepository(Protocol):
    """Authentication state of the tenant's users (password, lockout, MFA)."""

    def by_email(self, email: str) -> UserCredentials | None: ...
    def by_id(self, user_id: uuid.UUID) -> UserCredentials | None: ...
    def session_state(
        self, user_id: uuid.UUID, session_id: uuid.UUID | None = None
    ) -> SessionState | None:
        """The user's state for the authorizer; with `session_id`, whether that session (the
        access token's refresh-token family) has ended."""
        ...

    def tenant_requires_mfa(self) -> bool: ...
    def count_failure(self, user_id: uuid.UUID) -> int:
        """Add one consecutive failure (atomically, row-locked); the new count."""
        ...

    def set_lockout(self, user_id: uuid.UUID, outcome: FailureOutcome) -> None: ...
    def clear_failures(self, user_id: uuid.UUID) -> None: ...
    def set_password(self, user_id: uuid.UUID, password_hash: str, changed_at: datetime) -> None:
        """New hash; access tokens issued before `changed_at` stop working; lockout cleared."""
        ...

    def set_pending_mfa_secret(self, user_id: uuid.UUID, encrypted: str) -> None: ...
    def enable_mfa(self, user_id: uuid.UUID, encrypted: str, used_step: int) -> None: ...
    def disable_mfa(self, user_id: uuid.UUID) -> None: ...
    def use_totp_step(self, user_id: uuid.UUID, step: int) -> bool:
        """Record `step` as used; False when it (or a later one) was used already."""
        ...


class RefreshTokenRepository(Protocol):
    def start_family(
        self,
        family_id: uuid.UUID,
        user_id: uuid.UUID,
        amr: tuple[str, ...],
        expires_at: datetime,
        meta: RequestMeta,
    ) -> None: ...
    def add(
        self, token_id: uuid.UUID, family_id: uuid.UUID, digest: str, expires_at: datetime
    ) -> None: ...
    def get_for_update(self, token_id: uuid.UUID) -> RefreshTokenRecord | None:
        """The token and its family, both row-locked until the transaction ends."""
        ...

    def mark_used(self, token_id: uuid.UUID, replaced_by: uuid.UUID, at: datetime) -> None: ...
    def revoke_family(self, family_id: uuid.UUID, reason: str, at: datetime) -> None: ...
    def revoke_all_for_user(self, user_id: uuid.UUID, reason: str, at: datetime) -> int: ...


class PasswordResetRepository(Protocol):
    def add(
        self, reset_id: uuid.UUID, user_id: uuid.UUID, digest: str, expires_at: datetime
    ) -> None: ...
    def count_since(self, user_id: uuid.UUID, since: datetime) -> int: ...
    def get_for_update(self, reset_id: uuid.UUID) -> PasswordResetRecord | None: ...
    def use_all_for_user(self, user_id: uuid.UUID, at: datetime) -> None: ...


class RecoveryCodeRepository(Protocol):
    def replace(self, user_id: uuid.UUID, digests: Sequence[str]) -> None: ...
    def use(self, user_id: uuid.UUID, digest: str, at: datetime) -> bool:
        """Mark an unused code used; False when there is no such unused code."""
        ...

    def delete_all(self, user_id: uuid.UUID) -> None: ...


class ApiKeyRepository(Protocol):
    def add(self, key: ApiKey) -> None: ...
    def page(self, limit: int, after: Keyset | None) -> list[ApiKey]:
        """Newest first, after the (created_at, id) keyset of the previous page's last key."""
        ...

    def get(self, key_id: uuid.UUID) -> ApiKey | None: ...
    def holder(self, key_id: uuid.UUID) -> ApiKeyHolder | None: ...
    def revoke(self, key_id: uuid.UUID, by: uuid.UUID, at: datetime) -> None: ...
    def touch(self, key_id: uuid.UUID, at: datetime) -> None:
        """Note a use (at most about once a minute per key: it costs a write)."""
        ...


class WebhookEndpointRepository(Protocol):
    def add(self, endpoint: WebhookEndpoint) -> None: ...
    def get(
        self, endpoint_id: uuid.UUID, *, for_update: bool = False
    ) -> WebhookEndpoint | None: ...

    def page(self, limit: int, after: Keyset | None) -> list[WebhookEndpoint]:
        """Newest first, after the (created_at, id) keyset of the previous page's last one."""
        ...

    def active(self) -> list[WebhookEndpoint]: ...
    def update(self, endpoint: WebhookEndpoint) -> None:
        """Writes every field and the secret; the caller bumped the version."""
        ...

    def delete(self, endpoint_id: uuid.UUID) -> None: ...


class WebhookDeliveryRepository(Protocol):
    def open(
        self, endpoint_id: uuid.UUID, event_id: uuid.UUID, event_type: str, at: datetime
    ) -> WebhookDelivery:
        """The (endpoint, event) row, inserted as pending when it is the first attempt."""
        ...

    def record_attempt(
        self,
        delivery_id: uuid.UUID,
        *,
        at: datetime,
        status_code: int | None,
        error: str | None,
        delivered: bool,
        give_up: bool,
    ) -> None: ...
    def page(
        self, endpoint_id: uuid.UUID, status: str | None, limit: int, after: Keyset | None
    ) -> list[WebhookDelivery]:
        """Newest first (first_attempt_at, id)."""
        ...


class SecretCipher(Protocol):
    """Authenticated encryption of secrets the code must read back (TOTP seeds). `context`
    binds a ciphertext to its owner: one user's ciphertext does not decrypt as another's."""

    def encrypt(self, plaintext: str, *, context: str) -> str: ...
    def decrypt(self, ciphertext: str, *, context: str) -> str: ...


class RequestAdmission(Protocol):
    """Once per authenticated API request, outside any unit of work: count it in the tenant's
    rate-limit window and read the caller's current role and status, and whether the
    credential (API key `api_key_id`, or an access token issued at `issued_at`, epoch seconds,
    in session `session_id`) has been revoked since."""

    def admit(
        self,
        tenant_id: uuid.UUID,
        user_id: uuid.UUID,
        *,
        api_key_id: uuid.UUID | None = None,
        issued_at: int | None = None,
        session_id: uuid.UUID | None = None,
    ) -> Admission: ...


class Mailer(Protocol):
    def send(self, to: str, subject: str, text: str, html: str | None = None) -> str:
        """Hand one message to the mail service; returns its message id, raises on failure."""
        ...


class UnitOfWork(Protocol):
    """One transaction scoped to one tenant. Events added here reach the outbox atomically."""

    tenants: TenantRepository
    users: UserRepository
    leads: LeadRepository
    automations: AutomationRepository
    runs: AutomationRunRepository
    actions: ActionLedger
    idempotency: IdempotencyStore
    audit: AuditLog
    members: MemberRepository
    invitations: InvitationRepository
    custom_roles: CustomRoleRepository
    tenant_profile: TenantProfileRepository
    usage: UsageRepository
    audit_trail: AuditTrail
    pipelines: PipelineRepository
    deals: DealRepository
    processed_events: ProcessedEventLedger
    dead_letters: DeadLetterRepository
    contacts: ContactRepository
    history: RecordHistoryRepository
    notes: NoteRepository
    record_runs: RecordRunRepository
    run_records: AutomationRunRecords
    run_stats: AutomationRunStats
    personal_data: PersonalDataRepository
    imports: ImportRepository
    tags: TagRepository
    categories: CategoryRepository
    custom_fields: CustomFieldRepository
    credentials: CredentialRepository
    refresh_tokens: RefreshTokenRepository
    password_resets: PasswordResetRepository
    recovery_codes: RecoveryCodeRepository
    api_keys: ApiKeyRepository
    webhook_endpoints: WebhookEndpointRepository
    webhook_deliveries: WebhookDeliveryRepository
    ws_connections: WsConnectionRepository

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def add_event(self, event: CloudEvent) -> None: ...
    def add_events(self, events: list[CloudEvent]) -> None:
        """Many events at once, each about its own aggregate."""
        ...

    def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, tenant_id: uuid.UUID) -> UnitOfWork: ...


class LoginDirectory(Protocol):
    def tenants_for(self, email: str) -> list[tuple[uuid.UUID, str, uuid.UUID]]: ...


class EventPublisher(Protocol):
    def publish(self, events: Sequence[CloudEvent]) -> None:
        """Publish with broker confirms; raises if any event was not confirmed."""
        ...


class FailedMessagePublisher(Protocol):
    """Where a consumer sends a message it failed on (publisher confirms; raises if not
    confirmed)."""

    def retry(self, message: InboundMessage, failure: FailureRecord, delay_seconds: float) -> None:
        """Back to `message.queue` after `delay_seconds`, carrying `failure` in its headers."""
        ...

    def dead_letter(self, message: InboundMessage, failure: FailureRecord) -> None:
        """To the dead-letter queue of `message.queue`, carrying `failure` in its headers."""
        ...


class Redriver(Protocol):
    def redrive(self, deliveries: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Publish each (queue, CloudEvent envelope) straight to that queue, as a first
        delivery; raises unless the broker confirmed them all."""
        ...


class LeadSearchIndex(Protocol):
    def index_leads(
        self, leads: Sequence[tuple[uuid.UUID, dict[str, Any]]]
    ) -> list[Exception | None]:
        """One bulk write; per lead, None when indexed (or already at that version or newer),
        else why it was rejected. Raises when the index is unavailable."""
        ...

    # visible_owner: only leads this user owns or nobody owns (a seller's view)
    def count_by_status(
        self, tenant_id: uuid.UUID, visible_owner: uuid.UUID | None = None
    ) -> dict[str, int]: ...
    def average_days_to_convert(
        self, tenant_id: uuid.UUID, visible_owner: uuid.UUID | None = None
    ) -> float | None: ...


class DealSearchIndex(Protocol):
    def index_deals(
        self, deals: Sequence[tuple[uuid.UUID, dict[str, Any]]]
    ) -> list[Exception | None]:
        """As LeadSearchIndex.index_leads, for deal snapshots."""
        ...

    def pipeline_aggregations(
        self,
        tenant_id: uuid.UUID,
        *,
        start: date,
        end: date,
        pipeline_id: uuid.UUID | None = None,
        visible_owner: uuid.UUID | None = None,
    ) -> dict[str, Any]:
        """The `by_pipeline` terms aggregation (see crm.adapters.opensearch.deals_index)."""
        ...


class WorkflowEngine(Protocol):
    def ensure_state_machine(self, name: str, definition: dict[str, Any]) -> str: ...
    def start(
        self, state_machine_arn: str, execution_name: str, payload: dict[str, Any]
    ) -> str: ...


class ExecutionInspector(Protocol):
    """Reads executions back from the workflow engine."""

    def describe(self, execution_arn: str) -> ExecutionInfo | None: ...
    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        """Every history event of the execution, oldest first (all pages)."""
        ...


class WebhookSender(Protocol):
    def send(
        self, url: str, body: dict[str, Any], *, message_id: str, headers: dict[str, str]
    ) -> int:
        """POST `body`; returns the HTTP status; raises on transport errors and non-2xx."""
        ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...
    def verify(self, password_hash: str, password: str) -> bool: ...
