"""Users of a tenant: list, read, invite (pending user + emailed single-use token), accept an
invitation (set the password), and change name, role or status.

Rules: nobody grants a role above their own, nor changes a user whose role is above theirs;
the last active owner can be neither demoted nor deactivated; active and invited users count
against the plan's user limit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from crm.domain.audit import RequestMeta
from crm.domain.concurrency import Precondition
from crm.domain.email_templates import default_template, render
from crm.domain.emails import Recipient
from crm.domain.errors import (
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    ValidationFailed,
)
from crm.domain.members import (
    Invitation,
    Member,
    invitation_token_hash,
    new_invitation_token,
    tenant_of_token,
)
from crm.domain.pagination import Page, PageRequest
from crm.domain.password_policy import password_problems
from crm.domain.permissions import BUILTIN_GRANTS, may_grant
from crm.domain.plans import Metric
from crm.domain.tenant_settings import TenantSettings
from crm.domain.tenants import Principal, Role, RoleGrant, User, UserStatus, builtin_role
from crm.ports import PasswordHasher, UnitOfWork, UnitOfWorkFactory
from crm.ports.messaging import EmailRequests, MessagingUnitOfWork
from crm.services.audit_logs import record_change
from crm.services.idempotency import claim_key
from crm.services.plans import ensure_within_limit

# What an invited user has instead of a password hash until they accept: no password matches.
INVITED_HASH = "!invited"


@dataclass(frozen=True)
class Invite:
    email: str
    name: str
    role: str


def list_users(
    principal: Principal,
    page: PageRequest,
    *,
    unit_of_work: UnitOfWorkFactory,
    role: str | None = None,
    status: str | None = None,
) -> Page[Member]:
    """Oldest first (created_at, id): the order people joined the tenant."""
    with unit_of_work(principal.tenant_id) as uow:
        return uow.members.find(role=role, status=status, page=page)


def get_user(
    user_id: uuid.UUID, principal: Principal, *, unit_of_work: UnitOfWorkFactory
) -> dict[str, Any]:
    with unit_of_work(principal.tenant_id) as uow:
        member = uow.members.get(user_id)
    if member is None:
        raise NotFound(f"user {user_id} not found")
    return member.to_dict()


def invite_user(
    command: Invite,
    principal: Principal,
    *,
    unit_of_work: UnitOfWorkFactory,
    mail: EmailRequests,
    mail_from: str,
    accept_url: str,
    meta: RequestMeta,
    idempotency_key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """A pending user and an invitation mailed to them. Inviting the email of a user who is
    still pending sends a fresh invitation (the earlier ones stop working). Returns (user,
    replayed): a retry with the same Idempotency-Key gets the first answer and no second mail.

    The mail is queued through the email pipeline (`mail`, crm.services.emails.enqueue_email)
    in the transaction that creates the invitation: both commit or neither does, and the email
    worker sends it.
    """
    email = command.email.lower()
    with unit_of_work(principal.tenant_id) as uow:
        request = {"email": email, "name": command.name, "role": command.role}
        claim = claim_key(uow, idempotency_key, "users.invite", request)
        if claim.replay is not None:
            return claim.replay.body, True
        grant = _grant_of_role(uow, command.role, loc=["body", "role"])
        _ensure_may_grant(principal, grant, "invite someone with a role above your own")
        profile = uow.tenant_profile.get()
        assert profile is not None
        before, member = _pending_user(uow, principal, email, command, profile.slug)
        token = new_invitation_token(principal.tenant_id)
        invitation = Invitation(
            tenant_id=principal.tenant_id,
            user_id=member.id,
            token_hash=invitation_token_hash(token),
            created_by=principal.user_id,
        )
        uow.invitations.add(invitation)
        record_change(
            uow,
            principal,
            "user.invited",
            entity_type="user",
            entity_id=str(member.id),
            before=before,
            after=member.audited(),
            meta=meta,
        )
        locale = TenantSettings.stored(profile.settings).locale
        subject, text = invitation_email(
            profile.name, member, f"{accept_url}?token={token}", locale
        )
        body = {**member.to_dict(), "invitation_expires_at": invitation.expires_at.isoformat()}
        claim.complete(201, body)
        mail(
            cast(MessagingUnitOfWork, uow),
            to=Recipient(member.email, "user", member.id, member.name),
            subject=subject,
            text=text,
            html=None,
            purpose="invitation",
            from_address=mail_from,
            sensitive=True,
            created_by=principal.user_id,
        )
        uow.commit()
    return body, False


def _pending_user(
    uow: UnitOfWork, principal: Principal, email: str, command: Invite, tenant_slug: str
) -> tuple[dict[str, Any] | None, Member]:
    """The invitee as a pending user: created (within the plan's user limit), or an existing
    pending user updated, their open invitations revoked. Returns (audited before, member)."""
    # The users counter is locked first: concurrent invitations of one email serialise.
    ensure_within_limit(uow, Metric.USERS, adding=0)
    existing = uow.users.get_by_email(email)
    if existing is not None and existing.status != UserStatus.PENDING:
        raise Conflict(f"{email} is already a user of this tenant", field="email")
    if existing is None:
        ensure_within_limit(uow, Metric.USERS)
        user = User(
            tenant_id=principal.tenant_id,
            email=email,
            name=command.name,
            password_hash=INVITED_HASH,
            role=command.role,
            status=UserStatus.PENDING,
        )
        uow.users.add(user, tenant_slug=tenant_slug)
        created = uow.members.get(user.id)
        assert created is not None
        return None, created
    # Re-inviting changes that user: their current role bounds the caller too.
    current_grant = _grant_of_role(uow, existing.role, loc=["body", "email"])
    _ensure_may_grant(principal, current_grant, "change a user whose role is above your own")
    current = uow.members.get_for_update(existing.id)
    assert current is not None
    uow.invitations.revoke_open(existing.id)
    updated = uow.members.update(
        existing.id,
        name=command.name,
        role=command.role,
        status=UserStatus.PENDING,
        expected_version=current.version,
    )
    assert updated is not None, "the row is locked"
    return current.audited(), updated


def invitation_email(
    tenant_name: str, member: Member, link: str, locale: str | None = None
) -> tuple[str, str]:
    """Subject and text of an invitation, in the tenant's language (pt-BR or English)."""
    content = render(
        default_template("invitation", locale),
        {"record": {"name": member.name, "email": member.email}, "tenant": {"name": tenant_name},
         "vars": {"role": member.role, "link": link}},
    )  # fmt: skip
    return content.subject, content.text or ""


def accept_invitation(
    token: str,
    password: str,
    name: str | None,
    *,
    unit_of_work: UnitOfWorkFactory,
    hasher: PasswordHasher,
    meta: RequestMeta,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Public: the token is the credential. Unknown token -> 404; used -> 409; expired or
    revoked -> 410."""
    problems = password_problems(password, loc=("body", "password"))
    if problems:
        raise ValidationFailed("the password was rejected", problems)
    tenant_id = tenant_of_token(token)
    if tenant_id is None:
        raise NotFound("invitation not found")
    # Hashed before the transaction: argon2 takes tens of ms and would hold row locks.
    password_hash = hasher.hash(password)
    now = now or datetime.now(UTC)
    with unit_of_work(tenant_id) as uow:
        invitation = uow.invitations.get_by_token_hash(invitation_token_hash(token))
        if invitation is None:
            raise NotFound("invitation not found")
        if invitation.accepted_at is not None:
            raise Conflict("this invitation was already accepted; log in instead")
        if invitation.revoked_at is not None:
            raise Gone("this invitation was replaced or withdrawn; ask for a new one")
        if invitation.expires_at <= now:
            raise Gone("this invitation has expired; ask for a new one")
        before = uow.members.get(invitation.user_id)
        assert before is not None
        member = uow.members.activate(
            invitation.user_id, name=name or before.name, password_hash=password_hash
        )
        if member is None:
            raise Gone("this invitation can no longer be used; ask for a new one")
        uow.invitations.mark_accepted(invitation.id)
        invitee = Principal(tenant_id=tenant_id, user_id=member.id, role=member.role)
        record_change(
            uow,
            invitee,
            "user.invitation_accepted",
            entity_type="user",
            entity_id=str(member.id),
            before={**before.audited(), "password": None},
            after={**member.audited(), "password": "set"},
            meta=meta,
        )
        uow.commit()
    return {**member.to_dict(), "tenant_id": str(tenant_id)}


def update_user(
    user_id: uuid.UUID,
    changes: dict[str, Any],
    principal: Principal,
    *,
    unit_of_work: UnitOfWorkFactory,
    meta: RequestMeta,
    precondition: Precondition | None = None,
) -> dict[str, Any]:
    """`changes`: any of name, role, status ("active" or "deactivated")."""
    with unit_of_work(principal.tenant_id) as uow:
        # Owners are locked before the target, always in the same order, so two requests
        # demoting two owners serialise instead of deadlocking or leaving no owner.
        active_owners = uow.members.lock_active_owners()
        target = uow.members.get_for_update(user_id)
        if target is None:
            raise NotFound(f"user {user_id} not found")
        if precondition is not None:
            precondition.check(target.version, f"user {user_id}")
        name = changes.get("name") or target.name
        role = changes.get("role") or target.role
        status = changes.get("status") or target.status
        if (name, role, status) == (target.name, target.role, target.status):
            return target.to_dict()
        _ensure_may_grant(
            principal,
            _grant_of_role(uow, target.role, loc=["path", "id"]),
            "change a user whose role is above your own",
        )
        if role != target.role:
            new_grant = _grant_of_role(uow, role, loc=["body", "role"])
            _ensure_may_grant(principal, new_grant, "grant a role above your own")
        _check_status_change(uow, target, status)
        stays_owner = role == Role.OWNER and status == UserStatus.ACTIVE
        if active_owners == [target.id] and not stays_owner:
            raise Conflict(
                "this is the tenant's last active owner: make someone else owner first",
                reason="last_owner",
            )
        updated = uow.members.update(
            user_id, name=name, role=role, status=status, expected_version=target.version
        )
        assert updated is not None, "the row is locked"
        if status == UserStatus.DEACTIVATED and target.status == UserStatus.PENDING:
            uow.invitations.revoke_open(user_id)
        _audit_user_changes(uow, principal, target, updated, meta)
        uow.commit()
    return updated.to_dict()


def _check_status_change(uow: UnitOfWork, target: Member, status: str) -> None:
    if status == target.status:
        return
    if status not in (UserStatus.ACTIVE, UserStatus.DEACTIVATED):
        raise ValidationFailed(
            "the status was rejected",
            [{"loc": ["body", "status"], "msg": "active or deactivated", "type": "value_error"}],
        )
    if status == UserStatus.ACTIVE and target.status == UserStatus.PENDING:
        raise ValidationFailed(
            "an invited user becomes active by accepting the invitation",
            [{"loc": ["body", "status"], "msg": "user has not accepted", "type": "value_error"}],
        )
    if status == UserStatus.ACTIVE:  # reactivation counts against the plan again
        ensure_within_limit(uow, Metric.USERS)


def _audit_user_changes(
    uow: UnitOfWork, principal: Principal, before: Member, after: Member, meta: RequestMeta
) -> None:
    """One row per kind of change, so role changes and deactivations can be filtered."""
    for field_name, action in (
        ("role", "user.role_changed"),
        ("status", "user.deactivated" if after.status == "deactivated" else "user.reactivated"),
        ("name", "user.updated"),
    ):
        old, new = getattr(before, field_name), getattr(after, field_name)
        if old != new:
            record_change(
                uow,
                principal,
                action,
                entity_type="user",
                entity_id=str(after.id),
                before={field_name: old},
                after={field_name: new},
                meta=meta,
            )


def _grant_of_role(uow: UnitOfWork, role: str, *, loc: list[str]) -> RoleGrant:
    builtin = builtin_role(role)
    if builtin is not None:
        return BUILTIN_GRANTS[builtin]
    custom = uow.custom_roles.get(role)
    if custom is None:
        raise ValidationFailed(
            f"there is no role {role!r}",
            [{"loc": loc, "msg": "unknown role", "type": "value_error"}],
        )
    return custom.grant


def _ensure_may_grant(principal: Principal, grant: RoleGrant, what: str) -> None:
    if not may_grant(principal, grant):
        raise Forbidden(f"you cannot {what}", reason="above_own_role")
