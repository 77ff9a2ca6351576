"""Lead imports from CSV, as a background job.

1. POST /leads/import: the mapping and dedup policy are checked and the job is recorded. A
   small CSV can come in the request (it is stored in S3 and the job starts); a large one is
   uploaded by the client to a pre-signed S3 link, then POST /imports/{id}/start queues it.
2. The worker (functions/import_worker, invoked asynchronously) reads the file and imports it
   in batches: one transaction per batch writes its leads (one INSERT), their history rows,
   one crm.lead.imported event with the batch's leads (a bulk import does not emit an event,
   nor start a workflow, per row, unless it asks to: `trigger_automations` adds each created
   lead's crm.lead.created), its rows' errors and the job's counters. A second run of the same job (Lambda retries an async invocation that failed)
   resumes after the last committed batch; two runs at once cannot both write a batch (each
   checks, under the job's row lock, that the batch starts where the job stands).
3. GET /imports/{id}: status, progress and the per-row error report (row number, column, why;
   never the cell's value: that is personal data an erasure could not reach).

Duplicates (an email or phone a live lead has, or an earlier row of the file): `skip` leaves
the row out (counted as skipped), `update` writes the row's non-empty cells onto that lead.
Rows past the plan's lead limit are reported as errors; every other row is imported.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from crm.domain.errors import Conflict, NotFound, PlanLimitExceeded, ValidationFailed
from crm.domain.events import CloudEvent
from crm.domain.imports import (
    INLINE_MAX_BYTES,
    MAX_FILE_BYTES,
    MAX_ROWS,
    DedupPolicy,
    ImportJob,
    ImportStatus,
    RowContext,
    RowError,
    check_mapping,
    missing_columns,
    parse_row,
)
from crm.domain.leads import Lead, LeadStatus, apply_status
from crm.domain.pagination import Keyset, Page, PageRequest
from crm.domain.plans import Metric
from crm.domain.records import Change, RecordKind, body_error, phone_digits
from crm.domain.tenants import Principal, RoleGrant, builtin_role
from crm.ports import UnitOfWork, UnitOfWorkFactory
from crm.services.audit_logs import record_change
from crm.services.idempotency import claim_key
from crm.services.leads import apply_lead_changes
from crm.services.notifications import notify
from crm.services.pipelines import visible_to
from crm.services.plans import ensure_within_limit
from crm.services.records import check_owner, check_tags, may_see, record_values
from crm.services.request_context import RequestContext

BATCH_SIZE = 1000
UPLOAD_LINK_SECONDS = 3600
ERRORS_PAGE = 100


class FileStore(Protocol):
    def put(self, key: str, body: bytes, content_type: str = "text/csv") -> None: ...
    def exists(self, key: str) -> bool: ...
    def read_bytes(self, key: str) -> bytes: ...
    def upload_url(self, key: str, expires_in: int) -> str: ...
    def delete(self, key: str) -> None:
        """Remove the object; nothing to do when it is not there."""
        ...


class JobStarter(Protocol):
    def start(self, payload: dict[str, Any]) -> None: ...


class ImportFailed(Exception):
    """The file cannot be imported at all (not UTF-8, not CSV, a mapped column missing)."""


@dataclass(frozen=True)
class ImportRequest:
    mapping: dict[str, str]
    dedup_policy: DedupPolicy = DedupPolicy.SKIP
    file_name: str | None = None
    owner_id: uuid.UUID | None = None
    assign_to_caller: bool = True  # no owner_id in the request: the caller owns the leads
    tags: list[str] = field(default_factory=list)
    trigger_automations: bool = False
    csv: str | None = None  # a small file in the request itself


def _not_found(import_id: uuid.UUID) -> NotFound:
    return NotFound(f"import {import_id} not found")


def _audit(
    uow: UnitOfWork, context: RequestContext, action: str, job: ImportJob, after: dict[str, Any]
) -> None:
    record_change(
        uow, context.principal, action, entity_type="import", entity_id=str(job.id),
        before=None, after=after, meta=context.meta,
    )  # fmt: skip


def _payload(job: ImportJob) -> dict[str, Any]:
    return {"tenant_id": str(job.tenant_id), "import_id": str(job.id)}


def request_import(
    command: ImportRequest,
    context: RequestContext,
    *,
    unit_of_work: UnitOfWorkFactory,
    files: FileStore,
    jobs: JobStarter,
    request: dict[str, Any],
    idempotency_key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Record an import job; returns (job + upload_url when the file is still to come,
    replayed). With the CSV in the request the job is queued and started at once."""
    principal = context.principal
    if command.csv is not None and len(command.csv.encode()) > INLINE_MAX_BYTES:
        raise ValidationFailed(
            "the CSV is too large for the request body: ask for an upload link instead",
            [body_error("csv", f"at most {INLINE_MAX_BYTES} bytes; omit it to upload the file")],
        )
    with unit_of_work(principal.tenant_id) as uow:
        claim = claim_key(uow, idempotency_key, "leads.import", request)
        if claim.replay is not None:
            return claim.replay.body, True
        check_mapping(command.mapping, uow.custom_fields.for_entity(RecordKind.LEAD))
        owner_id = principal.user_id if command.assign_to_caller else command.owner_id
        check_owner(uow, principal, owner_id, RecordKind.LEAD)
        job_id = uuid.uuid4()
        job = ImportJob(
            tenant_id=principal.tenant_id,
            mapping=dict(command.mapping),
            dedup_policy=command.dedup_policy,
            object_key=f"imports/{principal.tenant_id}/{job_id}.csv",
            file_name=command.file_name,
            owner_id=owner_id,
            default_tags=check_tags(uow, command.tags),
            trigger_automations=command.trigger_automations,
            created_by=principal.user_id,
            id=job_id,
        )
        if command.csv is not None:
            files.put(job.object_key, command.csv.encode())
            job.status = ImportStatus.QUEUED
        uow.imports.add(job)
        _audit(uow, context, "lead.import_requested", job, {"status": job.status.value})
        body = job.to_dict()
        if job.status is ImportStatus.AWAITING_UPLOAD:
            body["upload_url"] = files.upload_url(job.object_key, UPLOAD_LINK_SECONDS)
            body["upload_expires_in"] = UPLOAD_LINK_SECONDS
        claim.complete(201, body)
        uow.commit()
    if job.status is ImportStatus.QUEUED:
        jobs.start(_payload(job))
    return body, False


def _load(uow: UnitOfWork, import_id: uuid.UUID, principal: Principal, **kw: Any) -> ImportJob:
    """An import is the caller's tenant's, and a role limited to its own records sees only
    the imports it made."""
    job = uow.imports.get(import_id, **kw)
    if job is None or not may_see(principal, job.created_by):
        raise _not_found(import_id)
    return job


def start_import(
    import_id: uuid.UUID,
    context: RequestContext,
    *,
    unit_of_work: UnitOfWorkFactory,
    files: FileStore,
    jobs: JobStarter,
) -> dict[str, Any]:
    """Queue an uploaded import and start it. Starting a queued one again starts it again (a
    lost start); a running or finished one is left as it is."""
    with unit_of_work(context.principal.tenant_id) as uow:
        job = _load(uow, import_id, context.principal, for_update=True)
        if job.status is ImportStatus.AWAITING_UPLOAD:
            if not files.exists(job.object_key):
                raise Conflict("upload the file to the import's upload_url first", field="file")
            job.status = ImportStatus.QUEUED
            uow.imports.save(job)
            _audit(uow, context, "lead.import_started", job, {"status": job.status.value})
        body = job.to_dict()
        uow.commit()
    if job.status is ImportStatus.QUEUED:
        jobs.start(_payload(job))
    return body


def list_imports(
    principal: Principal, page: PageRequest, *, unit_of_work: UnitOfWorkFactory
) -> Page[ImportJob]:
    """The tenant's imports, newest first; a role limited to its own records sees the imports
    it made."""
    with unit_of_work(principal.tenant_id) as uow:
        rows = uow.imports.page(page.limit + 1, page.after, created_by=visible_to(principal))
    return Page.from_rows(rows, page.limit, lambda job: Keyset(job.created_at, job.id))


def get_import(
    import_id: uuid.UUID,
    principal: Principal,
    *,
    unit_of_work: UnitOfWorkFactory,
    errors_after: int = 0,
    errors_limit: int = ERRORS_PAGE,
) -> tuple[ImportJob, list[RowError]]:
    """The job and up to `errors_limit` + 1 row errors after row `errors_after`."""
    with unit_of_work(principal.tenant_id) as uow:
        job = _load(uow, import_id, principal)
        return job, uow.imports.row_errors(import_id, errors_after, errors_limit + 1)


# ------------------------------------------------------------------ the worker


def run_import(
    tenant_id: uuid.UUID,
    import_id: uuid.UUID,
    *,
    unit_of_work: UnitOfWorkFactory,
    files: FileStore,
    batch_size: int = BATCH_SIZE,
) -> ImportJob | None:
    """Import the job's file, resuming after its last committed batch. Returns the job as
    it ends (None: no such job). A file that cannot be imported fails the job; any other
    error (database, S3) propagates, for the invocation to be retried.

    Once the job has ended its file is deleted: it holds personal data that nothing needs any
    more (the error report has no cell values), and that an erasure could not reach. A retry
    of an ended job deletes it again, so a failed delete is not left behind."""
    job = _run_import(tenant_id, import_id, unit_of_work, files, batch_size)
    if job is not None and job.status.ended:
        files.delete(job.object_key)
    return job


def _run_import(
    tenant_id: uuid.UUID,
    import_id: uuid.UUID,
    unit_of_work: UnitOfWorkFactory,
    files: FileStore,
    batch_size: int,
) -> ImportJob | None:
    with unit_of_work(tenant_id) as uow:
        job = uow.imports.get(import_id, for_update=True)
        if job is None or job.status not in (ImportStatus.QUEUED, ImportStatus.RUNNING):
            return job
        job.status = ImportStatus.RUNNING
        job.started_at = job.started_at or datetime.now(UTC)
        job.attempts += 1
        uow.imports.save(job)
        uow.commit()
    try:
        data = files.read_bytes(job.object_key)
    except Exception:
        # Another run may have finished the job, and deleted its file, since this one began.
        with unit_of_work(tenant_id) as uow:
            current = uow.imports.get(import_id)
        if current is not None and current.status.ended:
            return current
        raise
    try:
        header, records = _read(data)
        missing = missing_columns(job.mapping, header)
        if missing:
            raise ImportFailed(f"the file has no column {', '.join(repr(c) for c in missing)}")
    except ImportFailed as error:
        return _fail(unit_of_work, job, str(error))
    importer = _Importer(job, header, records, unit_of_work)
    for start in range(job.processed_rows, len(records), batch_size):
        if not importer.batch(start, min(start + batch_size, len(records))):
            return None  # another run is ahead of this one
    return importer.finish()


def _read(data: bytes) -> tuple[list[str], list[list[str]]]:
    if len(data) > MAX_FILE_BYTES:
        raise ImportFailed(f"the file is larger than {MAX_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportFailed("the file is not UTF-8 text") from error
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as error:
        raise ImportFailed(f"the file is not valid CSV: {error}") from error
    if not rows:
        raise ImportFailed("the file is empty")
    header, records = [cell.strip() for cell in rows[0]], rows[1:]
    if len(records) > MAX_ROWS:
        raise ImportFailed(f"the file has more than {MAX_ROWS} rows")
    return header, records


def _fail(unit_of_work: UnitOfWorkFactory, job: ImportJob, reason: str) -> ImportJob:
    with unit_of_work(job.tenant_id) as uow:
        current = uow.imports.get(job.id, for_update=True)
        assert current is not None
        current.status, current.failure = ImportStatus.FAILED, reason
        current.finished_at = datetime.now(UTC)
        uow.imports.save(current)
        notify(uow, [current.created_by], kind="import_finished",
               title=f"Your import failed: {reason}", link=f"imports/{current.id}",
               source_key=str(current.id))  # fmt: skip
        uow.commit()
    return current


class _Importer:
    """One run of a job: its file's rows and what is known of the tenant while it runs."""

    def __init__(
        self,
        job: ImportJob,
        header: list[str],
        records: list[list[str]],
        unit_of_work: UnitOfWorkFactory,
    ) -> None:
        self.job, self.header, self.records = job, header, records
        self.unit_of_work = unit_of_work
        with unit_of_work(job.tenant_id) as uow:
            self.principal = _importer(uow, job)
            self.context = RowContext(
                tags=frozenset(tag.name for tag in uow.tags.all()),
                categories=frozenset(category.name for category in uow.categories.all()),
                definitions={d.key: d for d in uow.custom_fields.for_entity(RecordKind.LEAD)},
                default_tags=tuple(job.default_tags),
            )
        self.request = RequestContext(self.principal, correlation_id=f"import-{job.id}")

    def batch(self, start: int, end: int) -> bool:
        with self.unit_of_work(self.job.tenant_id) as uow:
            job = uow.imports.get(self.job.id, for_update=True)
            if job is None or job.status is not ImportStatus.RUNNING:
                return False
            if job.processed_rows != start:
                return False
            job.total_rows = len(self.records)
            errors = self._write(uow, job, start, end)
            uow.imports.add_row_errors(job.id, errors)
            job.failed_count += len(errors)
            job.processed_rows = end
            uow.imports.save(job)
            uow.commit()
        self.job = job
        return True

    def _write(self, uow: UnitOfWork, job: ImportJob, start: int, end: int) -> list[RowError]:
        errors: list[RowError] = []
        parsed: list[tuple[int, dict[str, Any]]] = []
        for index in range(start, end):
            row_number = index + 1
            cells = self.records[index]
            if not any(cell.strip() for cell in cells):
                job.skipped_count += 1  # a blank line
                continue
            fields, problems = parse_row(dict(zip(self.header, cells, strict=False)),
                                         job.mapping, self.context)  # fmt: skip
            if problems:
                errors.append(RowError(row_number, problems))
            else:
                parsed.append((row_number, fields))
        keys = [key for _, fields in parsed for key in _identity_keys(fields)]
        uow.leads.lock_identities(keys)
        existing = _existing(uow, parsed)
        now = datetime.now(UTC)
        new: list[tuple[int, Lead]] = []
        updates: list[tuple[int, uuid.UUID, dict[str, Any]]] = []
        for row_number, fields in parsed:
            match = next((existing[k] for k in _identity_keys(fields) if k in existing), None)
            if match is not None:
                if job.dedup_policy is DedupPolicy.SKIP:
                    job.skipped_count += 1
                else:
                    updates.append((row_number, match, fields))
                continue
            lead = self._lead(fields, now)
            new.append((row_number, lead))
            for key in _identity_keys(fields):
                existing[key] = lead.id  # a later row of the file is its duplicate
        new = self._within_plan(uow, new, errors)
        uow.leads.add_many([lead for _, lead in new])
        change_rows = []
        for _, lead in new:
            change = Change.by(self.principal, RecordKind.LEAD, lead.id, now)
            change.record("created", None, None, record_values(lead.to_dict()))
            change_rows += change.entries
        uow.history.add(change_rows)
        if new:
            uow.add_event(
                CloudEvent(
                    type="crm.lead.imported",
                    tenant_id=job.tenant_id,
                    subject=f"imports/{job.id}",
                    data={"import_id": str(job.id), "leads": [lead.to_dict() for _, lead in new]},
                    correlation_id=self.request.correlation_id,
                )
            )
        if job.trigger_automations and new:
            uow.add_events([lead.created_event(self.request.correlation_id) for _, lead in new])
        job.created_count += len(new)
        for row_number, lead_id, fields in updates:
            problem = self._update(uow, lead_id, fields)
            if problem is None:
                job.updated_count += 1
            else:
                errors.append(RowError(row_number, [problem]))
        errors.sort(key=lambda error: error.row)
        return errors

    def _lead(self, fields: dict[str, Any], now: datetime) -> Lead:
        job = self.job
        lead = Lead(
            tenant_id=job.tenant_id,
            name=fields["name"],
            email=fields.get("email"),
            phone=fields.get("phone"),
            company=fields.get("company"),
            source=fields.get("source", "import"),
            owner_id=job.owner_id,
            created_by=job.created_by,
            tags=list(fields.get("tags", [])),
            category=fields.get("category"),
            score=fields.get("score"),
            custom_fields=dict(fields.get("custom_fields", {})),
            created_at=now,
            updated_at=now,
        )
        apply_status(
            lead, {"status": fields.get("status", LeadStatus.NEW),
                   "lost_reason": fields.get("lost_reason")}
        )  # fmt: skip
        return lead

    def _within_plan(
        self, uow: UnitOfWork, new: list[tuple[int, Lead]], errors: list[RowError]
    ) -> list[tuple[int, Lead]]:
        """The rows the plan has room for; the others are row errors."""
        if not new:
            return new
        try:
            ensure_within_limit(uow, Metric.LEADS, adding=len(new))
            return new
        except PlanLimitExceeded as exceeded:
            room = max(0, exceeded.limit - exceeded.usage)
            past = {
                "column": "",
                "field": "",
                "msg": f"the {exceeded.plan} plan allows {exceeded.limit} leads:"
                " this row is past the limit",
            }
        errors += [RowError(row_number, [past]) for row_number, _ in new[room:]]
        return new[:room]

    def _update(
        self, uow: UnitOfWork, lead_id: uuid.UUID, fields: dict[str, Any]
    ) -> dict[str, str] | None:
        lead = uow.leads.get(lead_id, for_update=True)
        if lead is None or not may_see(self.principal, lead.owner_id):
            return {
                "column": "",
                "field": "",
                "msg": "a lead you cannot change has this email or phone",
            }
        changes = {k: v for k, v in fields.items() if k not in ("tags", "custom_fields")}
        if "tags" in fields:
            changes["tags"] = list(dict.fromkeys([*lead.tags, *fields["tags"]]))
        if "custom_fields" in fields:
            changes["custom_fields"] = fields["custom_fields"]
        try:
            apply_lead_changes(uow, lead, changes, self.request)
        except (ValidationFailed, Conflict) as error:
            return {"column": "", "field": "", "msg": error.detail}
        return None

    def finish(self) -> ImportJob:
        with self.unit_of_work(self.job.tenant_id) as uow:
            job = uow.imports.get(self.job.id, for_update=True)
            assert job is not None
            if job.status is ImportStatus.RUNNING:
                job.status = ImportStatus.COMPLETED
                job.total_rows = len(self.records)
                job.finished_at = datetime.now(UTC)
                uow.imports.save(job)
                counts = {k: v for k, v in job.to_dict().items()
                          if k in ("total_rows", "created", "updated", "skipped", "failed")}  # fmt: skip
                _audit(uow, self.request, "lead.import_completed", job, counts)
                notify(uow, [job.created_by], kind="import_finished",
                       title=f"Your import finished: {job.created_count} created, "
                       f"{job.updated_count} updated, {job.skipped_count} skipped, "
                       f"{job.failed_count} failed",
                       link=f"imports/{job.id}", source_key=str(job.id))  # fmt: skip
            uow.commit()
        return job


def _identity_keys(fields: Mapping[str, Any]) -> list[str]:
    digits = phone_digits(fields.get("phone"))
    return ([f"email:{fields['email']}"] if fields.get("email") else []) + (
        [f"phone:{digits}"] if digits else []
    )


def _existing(uow: UnitOfWork, parsed: list[tuple[int, dict[str, Any]]]) -> dict[str, uuid.UUID]:
    emails = [fields["email"] for _, fields in parsed if fields.get("email")]
    digits = [d for _, fields in parsed if (d := phone_digits(fields.get("phone")))]
    found: dict[str, uuid.UUID] = {}
    for lead_id, email, phone in uow.leads.live_by_identity(emails, digits):
        if email:
            found.setdefault(f"email:{email}", lead_id)
        if phone:
            found.setdefault(f"phone:{phone}", lead_id)
    return found


def _importer(uow: UnitOfWork, job: ImportJob) -> Principal:
    """Who the worker acts as: the user who asked for the import, with their current role
    (a seller's import updates only leads a seller may change)."""
    assert job.created_by is not None, "every import names who asked for it"
    member = uow.members.get(job.created_by)
    role = member.role if member else "viewer"
    grant = None
    if builtin_role(role) is None:
        custom = uow.custom_roles.get(role)
        grant = custom.grant if custom else RoleGrant(frozenset())
    return Principal(job.tenant_id, job.created_by, role, custom_grant=grant)


class StalledImports(Protocol):
    def stalled_imports(self, before: datetime) -> list[tuple[uuid.UUID, uuid.UUID]]: ...


STALE_AFTER = timedelta(minutes=10)


def resume_stalled_imports(directory: StalledImports, jobs: JobStarter, *, now: datetime) -> int:
    """Start again the imports no run has moved for STALE_AFTER (a start that never reached
    the worker, a worker that died): a run resumes after the last committed batch, and a run
    that is in fact alive keeps going while the new one finds nothing to do. Scheduled with
    the purge (functions/records_purge)."""
    stalled = directory.stalled_imports(now - STALE_AFTER)
    for tenant_id, import_id in stalled:
        jobs.start({"tenant_id": str(tenant_id), "import_id": str(import_id)})
    return len(stalled)
