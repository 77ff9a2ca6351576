"""Email templates: create, list, read, edit (a new version each time), delete, preview for a
record, and render for POST /emails. A template naming an unknown variable is refused when it
is saved (422 per part), so a send never prints a blank (see crm.domain.email_templates)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, cast

from crm.domain.concurrency import Precondition
from crm.domain.email_templates import (
    EmailTemplate,
    RenderFailed,
    TemplateContent,
    TemplateProblems,
    check_template,
    record_context,
    render,
)
from crm.domain.errors import NotFound, ValidationFailed
from crm.domain.pagination import Keyset, Page, PageRequest
from crm.domain.tenants import Principal
from crm.ports import UnitOfWork, UnitOfWorkFactory
from crm.ports.messaging import MessagingUnitOfWork
from crm.services.audit_logs import record_change
from crm.services.idempotency import claim_key
from crm.services.records import may_see
from crm.services.request_context import RequestContext


@dataclass(frozen=True)
class TemplateChanges:
    name: str | None = None
    subject: str | None = None
    html: str | None = None
    text: str | None = None
    clear_html: bool = False
    clear_text: bool = False


def _messaging(uow: UnitOfWork) -> MessagingUnitOfWork:
    return cast(MessagingUnitOfWork, uow)


def _checked(uow: UnitOfWork, content: TemplateContent) -> None:
    if content.html is None and content.text is None:
        raise ValidationFailed(
            "a template needs an HTML or a text body",
            [{"loc": ["body", "html"], "msg": "give html, text or both", "type": "value_error"}],
        )
    keys = [definition.key for definition in uow.custom_fields.all()]
    try:
        check_template(content, keys)
    except TemplateProblems as problems:
        raise ValidationFailed(
            "the template names something it cannot use",
            [{"loc": ["body", part], "msg": message, "type": "value_error"}
             for part, message in problems.problems],
        ) from None  # fmt: skip


def _load(uow: UnitOfWork, template_id: uuid.UUID, *, for_update: bool = False) -> EmailTemplate:
    template = _messaging(uow).email_templates.get(template_id, for_update=for_update)
    if template is None:
        raise NotFound(f"email template {template_id} not found")
    return template


def create_template(
    name: str,
    content: TemplateContent,
    context: RequestContext,
    *,
    unit_of_work: UnitOfWorkFactory,
    idempotency_key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    principal = context.principal
    request = {"name": name, "subject": content.subject, "html": content.html,
               "text": content.text}  # fmt: skip
    with unit_of_work(principal.tenant_id) as uow:
        claim = claim_key(uow, idempotency_key, "email_templates.create", request)
        if claim.replay is not None:
            return claim.replay.body, True
        _checked(uow, content)
        template = EmailTemplate(
            tenant_id=principal.tenant_id, name=name, content=content,
            created_by=principal.user_id,
        )  # fmt: skip
        _messaging(uow).email_templates.add(template)
        record_change(uow, principal, "email_template.created", entity_type="email_template",
                      entity_id=str(template.id), before=None, after={"name": name, "version": 1},
                      meta=context.meta)  # fmt: skip
        body = template.to_dict()
        claim.complete(201, body)
        uow.commit()
    return body, False


def list_templates(
    principal: Principal, page: PageRequest, *, unit_of_work: UnitOfWorkFactory
) -> Page[EmailTemplate]:
    with unit_of_work(principal.tenant_id) as uow:
        rows = _messaging(uow).email_templates.page(page.limit + 1, page.after)
    return Page.from_rows(rows, page.limit, lambda t: Keyset(t.created_at, t.id))


def get_template(
    template_id: uuid.UUID, principal: Principal, *, unit_of_work: UnitOfWorkFactory
) -> dict[str, Any]:
    with unit_of_work(principal.tenant_id) as uow:
        return _load(uow, template_id).to_dict()


def update_template(
    template_id: uuid.UUID,
    changes: TemplateChanges,
    context: RequestContext,
    *,
    unit_of_work: UnitOfWorkFactory,
    precondition: Precondition | None = None,
) -> dict[str, Any]:
    """A new version (the old ones stay: sent emails name theirs)."""
    principal = context.principal
    with unit_of_work(principal.tenant_id) as uow:
        current = _load(uow, template_id, for_update=True)
        if precondition is not None:
            precondition.check(current.version, f"email template {template_id}")
        old = current.content
        content = TemplateContent(
            subject=changes.subject if changes.subject is not None else old.subject,
            html=None if changes.clear_html else (changes.html or old.html),
            text=None if changes.clear_text else (changes.text or old.text),
        )
        _checked(uow, content)
        updated = replace(
            current, name=changes.name or current.name, content=content,
            version=current.version + 1, created_by=principal.user_id,
            updated_at=datetime.now(UTC),
        )  # fmt: skip
        _messaging(uow).email_templates.save_version(updated)
        record_change(uow, principal, "email_template.updated", entity_type="email_template",
                      entity_id=str(template_id), before={"version": current.version},
                      after={"version": updated.version}, meta=context.meta)  # fmt: skip
        body = updated.to_dict()
        uow.commit()
    return body


def delete_template(
    template_id: uuid.UUID,
    context: RequestContext,
    *,
    unit_of_work: UnitOfWorkFactory,
    precondition: Precondition | None = None,
) -> None:
    principal = context.principal
    with unit_of_work(principal.tenant_id) as uow:
        current = _load(uow, template_id, for_update=True)
        if precondition is not None:
            precondition.check(current.version, f"email template {template_id}")
        _messaging(uow).email_templates.delete(template_id)
        record_change(uow, principal, "email_template.deleted", entity_type="email_template",
                      entity_id=str(template_id), before={"name": current.name}, after=None,
                      meta=context.meta)  # fmt: skip
        uow.commit()


# ------------------------------------------------------------------ rendering


def render_context(
    uow: UnitOfWork,
    principal: Principal,
    kind: str,
    record_id: uuid.UUID,
    variables: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The variables of a template for a record the caller can see (404 otherwise)."""
    record: dict[str, Any]
    owner_id: uuid.UUID | None = None
    if kind in ("lead", "contact"):
        found = uow.leads.get(record_id) if kind == "lead" else uow.contacts.get(record_id)
        if found is None or not may_see(principal, found.owner_id):
            raise NotFound(f"{kind} {record_id} not found")
        record, owner_id = found.to_dict(), found.owner_id
    else:
        member = uow.members.get(record_id)
        if member is None:
            raise NotFound(f"user {record_id} not found")
        record = {"id": str(member.id), "name": member.name, "email": member.email}
    owner = uow.members.get(owner_id) if owner_id else None
    sender = uow.members.get(principal.user_id)
    profile = uow.tenant_profile.get()
    return {
        "record": record_context(record),
        "owner": {"name": owner.name, "email": owner.email} if owner else {},
        "tenant": {"name": profile.name if profile else ""},
        "sender": {"name": sender.name, "email": sender.email} if sender else {},
        "vars": dict(variables or {}),
    }


def render_for(
    uow: UnitOfWork, template: EmailTemplate, context: dict[str, Any]
) -> TemplateContent:
    try:
        return render(template.content, context)
    except RenderFailed as error:
        raise ValidationFailed(
            "the template could not be rendered for this record",
            [{"loc": ["body", "variables"], "msg": str(error), "type": "value_error"}],
        ) from None


def load_template(uow: UnitOfWork, template_id: uuid.UUID) -> EmailTemplate:
    return _load(uow, template_id)


def preview_template(
    template_id: uuid.UUID,
    kind: str,
    record_id: uuid.UUID,
    variables: dict[str, Any] | None,
    principal: Principal,
    *,
    unit_of_work: UnitOfWorkFactory,
) -> dict[str, Any]:
    """The template rendered for a record, as it would be sent now; nothing is written."""
    with unit_of_work(principal.tenant_id) as uow:
        template = _load(uow, template_id)
        rendered = render_for(uow, template, render_context(uow, principal, kind, record_id,
                                                            variables))  # fmt: skip
    return {
        "template": {"id": str(template.id), "version": template.version},
        "subject": rendered.subject,
        "html": rendered.html,
        "text": rendered.text,
    }
