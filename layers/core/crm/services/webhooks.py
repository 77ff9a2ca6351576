"""Webhook endpoints of a tenant: create (the signing secret is answered once), list, read,
change, delete, rotate the secret; and the delivery ledger of one endpoint. Each change is
audited without the secret. Another tenant's endpoint is invisible (row-level security): 404.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crm.domain.audit import AuditEntry, diff
from crm.domain.concurrency import Precondition
from crm.domain.errors import NotFound, ValidationFailed
from crm.domain.event_catalog import CATALOG
from crm.domain.pagination import Keyset, Page, PageRequest
from crm.domain.webhooks import (
    TargetPolicy,
    WebhookDelivery,
    WebhookEndpoint,
    address_problems,
    event_type_problems,
    new_secret,
    parse_target,
    secret_context,
    target_addresses,
)
from crm.ports import SecretCipher, WebhooksUnitOfWork
from crm.services.idempotency import claim_key
from crm.services.request_context import RequestContext

Resolver = Callable[[str, int], list[str]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class WebhookSettings:
    """What the webhook use cases need besides the database: the cipher that seals secrets,
    the deployment's target policy and a host resolver (DNS; a fake in unit tests)."""

    cipher: SecretCipher
    policy: TargetPolicy
    resolve: Resolver


@dataclass(frozen=True)
class NewEndpoint:
    url: str
    event_types: list[str]
    description: str | None = None
    active: bool = True


@dataclass(frozen=True)
class EndpointChanges:
    """Only the fields the PATCH named (None: unchanged; description may be cleared)."""

    url: str | None = None
    event_types: list[str] | None = None
    description: str | None = None
    clear_description: bool = False
    active: bool | None = None


def _problem(field: str, msg: str) -> dict[str, Any]:
    return {"loc": ["body", field], "msg": msg, "type": "value_error"}


def validation_problems(
    settings: WebhookSettings, url: str | None, event_types: Iterable[str] | None
) -> list[dict[str, Any]]:
    """Per-field reasons to refuse a URL (shape, scheme, credentials, private addresses) and
    event types (catalogued, or a prefix.* that matches one)."""
    problems: list[dict[str, Any]] = []
    if url is not None:
        target, url_problems = parse_target(url, settings.policy)
        if target is not None:
            addresses = target_addresses(target, settings.resolve)
            url_problems = address_problems(addresses, settings.policy)
        problems += [_problem("url", msg) for msg in url_problems]
    if event_types is not None:
        types = list(event_types)
        if not types:
            problems.append(_problem("event_types", "at least one event type"))
        problems += [_problem("event_types", msg) for msg in event_type_problems(types, CATALOG)]
    return problems


def _check(settings: WebhookSettings, url: str | None, event_types: list[str] | None) -> None:
    problems = validation_problems(settings, url, event_types)
    if problems:
        raise ValidationFailed("the webhook endpoint was rejected", problems)


def _audit(
    uow: WebhooksUnitOfWork,
    context: RequestContext,
    action: str,
    endpoint_id: uuid.UUID,
    changes: dict[str, Any],
) -> None:
    caller = context.principal
    uow.audit.record(
        AuditEntry(
            tenant_id=caller.tenant_id,
            action=action,
            actor_type=caller.actor_type,
            actor_id=caller.actor_id,
            entity_type="webhook_endpoint",
            entity_id=str(endpoint_id),
            changes=changes,
            meta=context.meta,
        )
    )


def _not_found(endpoint_id: uuid.UUID) -> NotFound:
    return NotFound(f"webhook endpoint {endpoint_id} not found")


def _load(uow: WebhooksUnitOfWork, endpoint_id: uuid.UUID, *, for_update: bool) -> WebhookEndpoint:
    endpoint = uow.webhook_endpoints.get(endpoint_id, for_update=for_update)
    if endpoint is None:
        raise _not_found(endpoint_id)
    return endpoint


def _seal(settings: WebhookSettings, secret: str, endpoint_id: uuid.UUID) -> str:
    return settings.cipher.encrypt(secret, context=secret_context(endpoint_id))


def reveal_secret(settings: WebhookSettings, endpoint: WebhookEndpoint) -> str:
    return settings.cipher.decrypt(endpoint.secret_encrypted, context=secret_context(endpoint.id))


def create_endpoint(
    command: NewEndpoint,
    context: RequestContext,
    *,
    unit_of_work: Callable[[uuid.UUID], WebhooksUnitOfWork],
    settings: WebhookSettings,
    request: dict[str, Any],
    idempotency_key: str | None = None,
    clock: Callable[[], datetime] = _utcnow,
) -> tuple[dict[str, Any], bool]:
    """Returns (endpoint with `secret`, replayed). The stored Idempotency-Key response holds
    no secret: a replay reads the endpoint's (sealed) secret again, so the key store never
    keeps one in clear."""
    _check(settings, command.url, command.event_types)
    caller = context.principal
    with unit_of_work(caller.tenant_id) as uow:
        claim = claim_key(uow, idempotency_key, "webhooks.create", request)
        if claim.replay is not None:
            body = dict(claim.replay.body)
            stored = uow.webhook_endpoints.get(uuid.UUID(body["id"]))
            body["secret"] = reveal_secret(settings, stored) if stored is not None else None
            return body, True
        now = clock()
        endpoint_id = uuid.uuid4()
        secret = new_secret()
        endpoint = WebhookEndpoint(
            id=endpoint_id,
            tenant_id=caller.tenant_id,
            url=command.url,
            event_types=tuple(dict.fromkeys(command.event_types)),
            description=command.description,
            active=command.active,
            secret_encrypted=_seal(settings, secret, endpoint_id),
            created_by=caller.user_id,
            created_at=now,
            updated_at=now,
        )
        uow.webhook_endpoints.add(endpoint)
        _audit(uow, context, "webhook.created", endpoint.id, diff(None, endpoint.audit_view()))
        body = endpoint.to_dict()
        claim.complete(201, body)
        uow.commit()
    return {**body, "secret": secret}, False


def list_endpoints(
    context: RequestContext,
    page: PageRequest,
    *,
    unit_of_work: Callable[[uuid.UUID], WebhooksUnitOfWork],
) -> Page[WebhookEndpoint]:
    with unit_of_work(context.principal.tenant_id) as uow:
        rows = uow.webhook_endpoints.page(page.limit + 1, page.after)
    return Page.from_rows(rows, page.limit, lambda e: Keyset(e.created_at, e.id))


def get_endpoint(
    endpoint_id: uuid.UUID,
    context: RequestContext,
    *,
    unit_of_work: Callable[[uuid.UUID], WebhooksUnitOfWork],
) -> dict[str, Any]:
    with unit_of_work(context.principal.tenant_id) as uow:
        return _load(uow, endpoint_id, for_update=False).to_dict()


def update_endpoint(
    endpoint_id: uuid.UUID,
    changes: EndpointChanges,
    context: RequestContext,
    *,
    unit_of_work: Callable[[uuid.UUID], WebhooksUnitOfWork],
    settings: WebhookSettings,
    precondition: Precondition | None = None,
    clock: Callable[[], datetime] = _utcnow,
) -> dict[str, Any]:
    # Judged before the transaction: resolving the host must not hold the row's lock.
    _check(settings, changes.url, changes.event_types)
    with unit_of_work(context.principal.tenant_id) as uow:
        endpoint = _load(uow, endpoint_id, for_update=True)
        if precondition is not None:
            precondition.check(endpoint.version, f"webhook endpoint {endpoint_id}")
        updated = dataclasses.replace(
            endpoint,
            url=changes.url if changes.url is not None else endpoint.url,
            event_types=tuple(dict.fromkeys(changes.event_types))
            if changes.event_types is not None
            else endpoint.event_types,
            description=None
            if changes.clear_description
            else (changes.description if changes.description is not None else endpoint.description),
            active=changes.active if changes.active is not None else endpoint.active,
        )
        changed = diff(endpoint.audit_view(), updated.audit_view())
        if not changed:
            return endpoint.to_dict()
        updated = dataclasses.replace(updated, updated_at=clock(), version=endpoint.version + 1)
        uow.webhook_endpoints.update(updated)
        _audit(uow, context, "webhook.updated", endpoint.id, changed)
        uow.commit()
    return updated.to_dict()


def delete_endpoint(
    endpoint_id: uuid.UUID,
    context: RequestContext,
    *,
    unit_of_work: Callable[[uuid.UUID], WebhooksUnitOfWork],
    precondition: Precondition | None = None,
) -> None:
    """Deletes the endpoint and its delivery ledger; nothing more is sent to it."""
    with unit_of_work(context.principal.tenant_id) as uow:
        endpoint = _load(uow, endpoint_id, for_update=True)
        if precondition is not None:
            precondition.check(endpoint.version, f"webhook endpoint {endpoint_id}")
        uow.webhook_endpoints.delete(endpoint.id)
        _audit(uow, context, "webhook.deleted", endpoint.id, diff(endpoint.audit_view(), None))
        uow.commit()


def rotate_secret(
    endpoint_id: uuid.UUID,
    context: RequestContext,
    *,
    unit_of_work: Callable[[uuid.UUID], WebhooksUnitOfWork],
    settings: WebhookSettings,
    precondition: Precondition | None = None,
    clock: Callable[[], datetime] = _utcnow,
) -> dict[str, Any]:
    """A new signing secret, answered this once; deliveries from now on are signed with it."""
    with unit_of_work(context.principal.tenant_id) as uow:
        endpoint = _load(uow, endpoint_id, for_update=True)
        if precondition is not None:
            precondition.check(endpoint.version, f"webhook endpoint {endpoint_id}")
        secret = new_secret()
        rotated = dataclasses.replace(
            endpoint,
            secret_encrypted=_seal(settings, secret, endpoint.id),
            updated_at=clock(),
            version=endpoint.version + 1,
        )
        uow.webhook_endpoints.update(rotated)
        # The audit row says that it changed, never what it is.
        _audit(uow, context, "webhook.secret_rotated", endpoint.id, {"signing_secret": "rotated"})
        uow.commit()
    return {**rotated.to_dict(), "secret": secret}


def list_deliveries(
    endpoint_id: uuid.UUID,
    status: str | None,
    context: RequestContext,
    page: PageRequest,
    *,
    unit_of_work: Callable[[uuid.UUID], WebhooksUnitOfWork],
) -> Page[WebhookDelivery]:
    with unit_of_work(context.principal.tenant_id) as uow:
        _load(uow, endpoint_id, for_update=False)
        rows = uow.webhook_deliveries.page(endpoint_id, status, page.limit + 1, page.after)
    return Page.from_rows(rows, page.limit, lambda d: Keyset(d.first_attempt_at, d.id))
