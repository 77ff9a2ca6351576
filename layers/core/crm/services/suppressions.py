"""The tenant's suppression list (GET/POST/DELETE /suppressions) and the public one-click
unsubscribe of marketing emails (POST /unsubscribe?token=..., RFC 8058). Every send checks
the list (crm.services.emails); SES hard bounces and complaints add to it
(crm.services.email_events)."""

from __future__ import annotations

from typing import Any, cast

from crm.domain.emails import Suppression, is_address, parse_unsubscribe_token
from crm.domain.errors import Conflict, NotFound, ValidationFailed
from crm.domain.pagination import Keyset, Page, PageRequest
from crm.domain.tenants import Principal
from crm.observability import logger
from crm.ports import UnitOfWork, UnitOfWorkFactory
from crm.ports.messaging import MessagingUnitOfWork
from crm.services.audit_logs import record_change
from crm.services.request_context import RequestContext


def _m(uow: UnitOfWork) -> MessagingUnitOfWork:
    return cast(MessagingUnitOfWork, uow)


def list_suppressions(
    principal: Principal, page: PageRequest, *, unit_of_work: UnitOfWorkFactory
) -> Page[Suppression]:
    with unit_of_work(principal.tenant_id) as uow:
        rows = _m(uow).suppressions.page(page.limit + 1, page.after)
    return Page.from_rows(rows, page.limit, lambda s: Keyset(s.created_at, s.id))


def suppress(address: str, context: RequestContext, *, unit_of_work: UnitOfWorkFactory) -> None:
    """Add an address by hand; 409 when it is on the list already."""
    address = address.strip().lower()
    if not is_address(address):
        raise ValidationFailed(
            "not an email address",
            [{"loc": ["body", "address"], "msg": "not an email address", "type": "value_error"}],
        )
    principal = context.principal
    with unit_of_work(principal.tenant_id) as uow:
        if not _m(uow).suppressions.add(address, "manual", None):
            raise Conflict(f"{address} is on the suppression list already", field="address")
        record_change(uow, principal, "email.suppressed", entity_type="email_suppression",
                      entity_id=address, before=None, after={"reason": "manual"},
                      meta=context.meta)  # fmt: skip
        uow.commit()


def unsuppress(address: str, context: RequestContext, *, unit_of_work: UnitOfWorkFactory) -> None:
    """Take an address off the list (emails to it are sent again); 404 when it is not on it."""
    principal = context.principal
    with unit_of_work(principal.tenant_id) as uow:
        if not _m(uow).suppressions.remove(address.strip().lower()):
            raise NotFound(f"{address} is not on the suppression list")
        record_change(uow, principal, "email.unsuppressed", entity_type="email_suppression",
                      entity_id=address.lower(), before={"suppressed": True}, after=None,
                      meta=context.meta)  # fmt: skip
        uow.commit()


def unsubscribe(token: str, *, unit_of_work: UnitOfWorkFactory) -> dict[str, Any]:
    """One-click unsubscribe from a marketing email: its address goes on the tenant's
    suppression list (reason unsubscribe: the recipient's withdrawn consent, dated), so no
    later email reaches it, automations included. Idempotent; 404 for an unknown token."""
    parsed = parse_unsubscribe_token(token)
    if parsed is None:
        raise NotFound("this unsubscribe link is not valid")
    tenant_id, email_id = parsed
    with unit_of_work(tenant_id) as uow:
        email = _m(uow).emails.get(email_id)
        if email is None or not email.marketing:
            raise NotFound("this unsubscribe link is not valid")
        added = _m(uow).suppressions.add(email.to.address, "unsubscribe", email.id)
        uow.commit()
    logger.info("unsubscribed", extra={"tenant_id": str(tenant_id), "email_id": str(email_id),
                                       "new": added})  # fmt: skip
    return {"unsubscribed": True}
