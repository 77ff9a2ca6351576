"""Tenancy services on in-memory fakes: users and invitations, roles, settings, plans and
limits, the audit listing, and the seller's record-level rule on leads."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from crm.automation.model import Workflow
from crm.domain.audit import RequestMeta
from crm.domain.concurrency import Precondition
from crm.domain.errors import (
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    PlanLimitExceeded,
    PreconditionFailed,
    UpstreamUnavailable,
    ValidationFailed,
)
from crm.domain.pagination import Keyset, PageRequest
from crm.domain.plans import Metric
from crm.domain.tenants import Principal, Role, Tenant, User
from crm.services import audit_logs, plans, roles, tenant_settings, users
from crm.services.automations import create_automation
from crm.services.leads import NewLead, create_lead, get_lead

from tests.unit.fakes import FakeStore, FakeUnitOfWork

META = RequestMeta(ip="10.0.0.9", user_agent="pytest", request_id="req-1")
GOOD_PASSWORD = "a long enough pass"
STEP_ARN = "arn:aws:lambda:us-east-1:123456789012:function:AutomationStepFunction"


class FakeMailer:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.fail = fail

    def send(self, to: str, subject: str, text: str, html: str | None = None) -> str:
        if self.fail:
            raise UpstreamUnavailable("the mail service could not send the message")
        self.sent.append((to, subject, text))
        return f"m-{len(self.sent)}"

    def __call__(self, uow: object, *, to: Any, subject: str, text: str | None, **_: Any) -> None:
        """As crm.services.emails.enqueue_email: queued in the caller's transaction."""
        self.send(to.address, subject, text or "")

    def token(self, index: int = -1) -> str:
        return self.sent[index][2].split("token=")[1].split()[0]


class PlainHasher:
    def hash(self, password: str) -> str:
        return f"hashed:{password}"

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == f"hashed:{password}"


class World:
    """One tenant (plus helpers for a second), its owner, fakes wired as the services expect."""

    def __init__(self, plan: str = "free") -> None:
        self.store = FakeStore()
        self.mailer = FakeMailer()
        self.tenant, self.owner = self.new_tenant("acme", plan)

    def uow(self, tenant_id: uuid.UUID) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store, tenant_id)

    def new_tenant(self, slug: str, plan: str = "free") -> tuple[Tenant, Principal]:
        tenant = Tenant(name=slug.title(), slug=slug, plan=plan)
        owner = User(tenant.id, f"owner@{slug}.io", "Owner", "h", Role.OWNER)
        with self.uow(tenant.id) as uow:
            uow.tenants.add(tenant)
            uow.users.add(owner, tenant_slug=slug)
            tenant_settings.initialise_tenant(uow, tenant, owner, META)
            uow.commit()
        return tenant, Principal(tenant_id=tenant.id, user_id=owner.id, role=Role.OWNER)

    def member(
        self, role: str, caller: Principal | None = None, status: str = "active"
    ) -> Principal:
        caller = caller or self.owner
        user = User(caller.tenant_id, f"{uuid.uuid4().hex[:8]}@x.io", "M", "h", role, status)
        with self.uow(caller.tenant_id) as uow:
            uow.users.add(user, tenant_slug="x")
            uow.commit()
        return Principal(tenant_id=caller.tenant_id, user_id=user.id, role=role)

    def invite(
        self, email: str, role: str = "seller", caller: Principal | None = None
    ) -> dict[str, Any]:
        invited, replayed = users.invite_user(
            users.Invite(email, "Invitee", role), caller or self.owner,
            unit_of_work=self.uow, mail=self.mailer, mail_from="no-reply@crm.local", accept_url="https://app/accept", meta=META,
        )  # fmt: skip
        assert not replayed
        return invited

    def accept(self, token: str, password: str = GOOD_PASSWORD, **kw: Any) -> dict[str, Any]:
        return users.accept_invitation(
            token, password, None, unit_of_work=self.uow, hasher=PlainHasher(), meta=META, **kw
        )

    def update(
        self, user_id: uuid.UUID | str, caller: Principal | None = None, **changes: Any
    ) -> dict[str, Any]:
        return users.update_user(
            uuid.UUID(str(user_id)), changes, caller or self.owner, unit_of_work=self.uow, meta=META
        )

    def actions(self) -> list[str]:
        return [entry.action for entry in self.store.audit]

    def last_audit(self) -> Any:
        return self.store.audit[-1]


@pytest.fixture()
def world() -> World:
    return World()


# ------------------------------------------------------------------ invitations


def test_invite_creates_a_pending_user_mails_a_token_and_audits(world: World) -> None:
    invited = world.invite("Bea@Example.com")
    assert invited["status"] == "pending" and invited["email"] == "bea@example.com"
    ((to, subject, text),) = world.mailer.sent
    assert to == "bea@example.com" and "Acme" in subject
    assert "https://app/accept?token=" in text and world.mailer.token().startswith(
        world.tenant.id.hex
    )
    entry = world.last_audit()
    assert (entry.action, entry.entity_id, entry.actor_id) == (
        "user.invited",
        invited["id"],
        world.owner.user_id,
    )
    assert entry.meta == META and entry.changes["role"] == {"old": None, "new": "seller"}
    assert world.mailer.token() not in str(entry.changes)


def test_accepting_sets_the_password_once(world: World) -> None:
    invited = world.invite("bea@x.io")
    accepted = world.accept(world.mailer.token())
    assert accepted["status"] == "active" and accepted["id"] == invited["id"]
    stored = world.store.tenancy.users[uuid.UUID(invited["id"])]
    assert stored.password_hash == f"hashed:{GOOD_PASSWORD}"
    entry = world.last_audit()
    assert entry.action == "user.invitation_accepted" and entry.actor_id == uuid.UUID(invited["id"])
    assert entry.changes["password"] == {"old": None, "new": "[redacted]"}
    with pytest.raises(Conflict):
        world.accept(world.mailer.token())


def test_an_expired_invitation_is_gone(world: World) -> None:
    world.invite("bea@x.io")
    later = datetime.now(UTC) + timedelta(days=7, minutes=1)
    with pytest.raises(Gone, match="expired"):
        world.accept(world.mailer.token(), now=later)


@pytest.mark.parametrize("token", ["", "no-dot", "nothex.secret", f"{uuid.uuid4().hex}.unknown"])
def test_unknown_or_malformed_tokens_are_404(world: World, token: str) -> None:
    with pytest.raises(NotFound):
        world.accept(token)


def test_a_tampered_tenant_part_finds_nothing(world: World) -> None:
    world.invite("bea@x.io")
    other, _ = world.new_tenant("globex")
    secret = world.mailer.token().split(".", 1)[1]
    with pytest.raises(NotFound):
        world.accept(f"{other.id.hex}.{secret}")


def test_a_short_password_is_refused_before_the_token_is_used(world: World) -> None:
    world.invite("bea@x.io")
    with pytest.raises(ValidationFailed) as refused:
        world.accept(world.mailer.token(), password="short")
    assert refused.value.errors[0]["loc"] == ["body", "password"]
    assert world.accept(world.mailer.token())["status"] == "active"


def test_reinviting_a_pending_user_replaces_the_token(world: World) -> None:
    first = world.invite("bea@x.io", role="viewer")
    old_token = world.mailer.token()
    again = world.invite("bea@x.io", role="seller")
    assert again["id"] == first["id"] and again["role"] == "seller"
    with pytest.raises(Gone, match="replaced"):
        world.accept(old_token)
    assert world.accept(world.mailer.token())["role"] == "seller"


def test_inviting_an_existing_user_is_409(world: World) -> None:
    with pytest.raises(Conflict):
        world.invite("owner@acme.io")


def test_inviting_with_a_role_above_your_own_is_forbidden(world: World) -> None:
    admin = world.member(Role.ADMIN)
    with pytest.raises(Forbidden):
        world.invite("boss@x.io", role="owner", caller=admin)
    assert world.invite("peer@x.io", role="admin", caller=admin)["role"] == "admin"


def test_inviting_with_an_unknown_role_is_422(world: World) -> None:
    with pytest.raises(ValidationFailed) as refused:
        world.invite("x@x.io", role="astronaut")
    assert refused.value.errors[0]["loc"] == ["body", "role"]


def test_a_mail_failure_creates_nothing(world: World) -> None:
    world.mailer.fail = True
    with pytest.raises(UpstreamUnavailable):
        world.invite("bea@x.io")
    with world.uow(world.tenant.id) as uow:
        assert uow.users.get_by_email("bea@x.io") is None
    assert world.actions() == ["tenant.signed_up"]


def test_invitations_count_against_the_users_limit(world: World) -> None:
    limit = world.store.tenancy.limits["free"]["users"]
    assert limit is not None
    for i in range(limit - 1):  # the owner is the first
        world.invite(f"u{i}@x.io")
    with pytest.raises(PlanLimitExceeded) as exceeded:
        world.invite("one-too-many@x.io")
    assert (exceeded.value.limit, exceeded.value.usage, exceeded.value.metric) == (
        limit,
        limit,
        "users",
    )
    assert "usage:users" in world.store.tenancy.locks


# ------------------------------------------------------------------ changing users


def test_the_last_owner_can_be_neither_demoted_nor_deactivated(world: World) -> None:
    for change in ({"role": "admin"}, {"status": "deactivated"}):
        with pytest.raises(Conflict) as refused:
            world.update(world.owner.user_id, **change)
        assert refused.value.extra["reason"] == "last_owner"


def test_with_a_second_owner_one_may_step_down(world: World) -> None:
    second = world.member(Role.OWNER)
    assert world.update(world.owner.user_id, caller=second, role="admin")["role"] == "admin"
    with pytest.raises(Conflict):
        world.update(second.user_id, caller=second, role="admin")


def test_owners_are_locked_before_the_target(world: World) -> None:
    seller = world.member(Role.SELLER)
    world.store.tenancy.locks.clear()
    world.update(seller.user_id, role="viewer")
    assert world.store.tenancy.locks[:2] == ["owners", f"user:{seller.user_id}"]


def test_an_admin_cannot_touch_an_owner_nor_grant_owner(world: World) -> None:
    admin = world.member(Role.ADMIN)
    seller = world.member(Role.SELLER)
    with pytest.raises(Forbidden):
        world.update(world.owner.user_id, caller=admin, name="Renamed")
    with pytest.raises(Forbidden):
        world.update(seller.user_id, caller=admin, role="owner")
    assert world.update(seller.user_id, caller=admin, role="manager")["role"] == "manager"


def test_each_kind_of_change_is_its_own_audit_row(world: World) -> None:
    seller = world.member(Role.SELLER)
    world.update(seller.user_id, name="Sam", role="manager", status="deactivated")
    rows = {e.action: e.changes for e in world.store.audit[-3:]}
    assert rows == {
        "user.role_changed": {"role": {"old": "seller", "new": "manager"}},
        "user.deactivated": {"status": {"old": "active", "new": "deactivated"}},
        "user.updated": {"name": {"old": "M", "new": "Sam"}},
    }
    world.update(seller.user_id, status="active")
    assert world.actions()[-1] == "user.reactivated"


def test_a_no_op_patch_writes_nothing(world: World) -> None:
    seller = world.member(Role.SELLER)
    before = len(world.store.audit)
    world.update(seller.user_id, role="seller")
    assert len(world.store.audit) == before


def test_reactivation_counts_against_the_users_limit(world: World) -> None:
    world.store.tenancy.limits["free"]["users"] = 2
    leaver = world.member(Role.SELLER)
    world.update(leaver.user_id, status="deactivated")
    world.member(Role.SELLER)
    with pytest.raises(PlanLimitExceeded):
        world.update(leaver.user_id, status="active")


def test_a_pending_user_cannot_be_activated_by_patch_and_deactivation_revokes_the_invite(
    world: World,
) -> None:
    invited = world.invite("bea@x.io")
    with pytest.raises(ValidationFailed):
        world.update(invited["id"], status="active")
    world.update(invited["id"], status="deactivated")
    with pytest.raises(Gone):
        world.accept(world.mailer.token())


def test_another_tenants_user_is_404(world: World) -> None:
    _, other_owner = world.new_tenant("globex")
    with pytest.raises(NotFound):
        world.update(other_owner.user_id, name="Mine now")
    with pytest.raises(NotFound):
        users.get_user(other_owner.user_id, world.owner, unit_of_work=world.uow)


def test_if_match_on_a_stale_version_is_412(world: World) -> None:
    seller = world.member(Role.SELLER)
    with pytest.raises(PreconditionFailed):
        users.update_user(
            seller.user_id, {"name": "X"}, world.owner, unit_of_work=world.uow, meta=META,
            precondition=Precondition.from_header('"7"'),
        )  # fmt: skip
    updated = users.update_user(
        seller.user_id, {"name": "X"}, world.owner, unit_of_work=world.uow, meta=META,
        precondition=Precondition.from_header('"1"'),
    )  # fmt: skip
    assert updated["version"] == 2


def test_listing_filters_and_pages_with_a_cursor(world: World) -> None:
    for _ in range(3):
        world.member(Role.SELLER)
    world.member(Role.VIEWER)
    first = users.list_users(world.owner, PageRequest(2), unit_of_work=world.uow, role="seller")
    second = users.list_users(
        world.owner, PageRequest(2, first.next), unit_of_work=world.uow, role="seller"
    )
    assert len(first.items) == 2 and first.next and len(second.items) == 1
    assert second.next is None
    sellers = first.items + second.items
    assert {m.role for m in sellers} == {"seller"} and len({m.id for m in sellers}) == 3
    assert [(m.created_at, m.id) for m in sellers] == sorted((m.created_at, m.id) for m in sellers)
    assert first.next == Keyset(first.items[-1].created_at, first.items[-1].id)


# ------------------------------------------------------------------ roles


def _role(key: str, *permissions: str, own: bool = False) -> roles.NewRole:
    return roles.NewRole(
        key=key, name=key.upper(), permissions=frozenset(permissions), own_records_only=own
    )


def test_custom_roles_are_listed_after_the_built_in_ones(world: World) -> None:
    roles.create_role(_role("sdr", "leads:read"), world.owner, unit_of_work=world.uow, meta=META)
    listed = roles.list_roles(world.owner, unit_of_work=world.uow)
    assert [r["key"] for r in listed["items"]] == [
        "owner",
        "admin",
        "manager",
        "seller",
        "viewer",
        "sdr",
    ]
    assert "leads:read" in listed["permissions"] and world.actions()[-1] == "role.created"


@pytest.mark.parametrize(
    ("command", "loc"),
    [(_role("sdr", "leads:fly"), "permissions"), (_role("admin", "leads:read"), "key"),
     (_role("Bad Key", "leads:read"), "key")],
)  # fmt: skip
def test_invalid_roles_are_422(world: World, command: roles.NewRole, loc: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        roles.create_role(command, world.owner, unit_of_work=world.uow, meta=META)
    assert refused.value.errors[0]["loc"] == ["body", loc]


def test_a_role_cannot_exceed_its_creator(world: World) -> None:
    manager = world.member(Role.MANAGER)
    with pytest.raises(Forbidden):
        roles.create_role(_role("boss", "users:create"), manager, unit_of_work=world.uow, meta=META)
    admin = world.member(Role.ADMIN)
    with pytest.raises(Forbidden):
        roles.create_role(
            _role("payer", "billing:update"), admin, unit_of_work=world.uow, meta=META
        )


def test_duplicate_role_is_409_and_built_in_roles_are_not_editable(world: World) -> None:
    roles.create_role(_role("sdr", "leads:read"), world.owner, unit_of_work=world.uow, meta=META)
    with pytest.raises(Conflict):
        roles.create_role(
            _role("sdr", "leads:read"), world.owner, unit_of_work=world.uow, meta=META
        )
    with pytest.raises(Conflict):
        roles.update_role("seller", {"name": "X"}, world.owner, unit_of_work=world.uow, meta=META)
    with pytest.raises(NotFound):
        roles.update_role("ghost", {"name": "X"}, world.owner, unit_of_work=world.uow, meta=META)


def test_updating_a_role_is_audited_and_bounded_by_the_editor(world: World) -> None:
    roles.create_role(_role("sdr", "leads:read"), world.owner, unit_of_work=world.uow, meta=META)
    updated = roles.update_role(
        "sdr", {"permissions": ["leads:read", "leads:update"]}, world.owner,
        unit_of_work=world.uow, meta=META,
    )  # fmt: skip
    assert updated["permissions"] == ["leads:read", "leads:update"] and updated["version"] == 2
    assert world.last_audit().changes == {
        "permissions": {"old": ["leads:read"], "new": ["leads:read", "leads:update"]}
    }
    manager = world.member(Role.MANAGER)
    with pytest.raises(Forbidden):
        roles.update_role(
            "sdr", {"permissions": ["users:update"]}, manager, unit_of_work=world.uow, meta=META
        )


def test_a_user_can_hold_a_custom_role_granted_by_someone_above_it(world: World) -> None:
    roles.create_role(
        _role("sdr", "leads:read", own=True), world.owner, unit_of_work=world.uow, meta=META
    )
    invited = world.invite("sdr@x.io", role="sdr")
    assert invited["role"] == "sdr"
    seller = world.member(Role.SELLER)
    with pytest.raises(Forbidden):  # the seller cannot hand out user:... nor anything above
        world.invite("x@x.io", role="manager", caller=seller)


# ------------------------------------------------------------------ settings, plans, usage


def test_settings_start_with_defaults_and_change_field_by_field(world: World) -> None:
    current = tenant_settings.get_settings(world.tenant.id, world.owner, unit_of_work=world.uow)
    assert (current["timezone"], current["currency"], current["require_mfa"]) == (
        "UTC",
        "USD",
        False,
    )
    changed = tenant_settings.update_settings(
        world.tenant.id, {"timezone": "America/Sao_Paulo", "currency": "BRL", "require_mfa": True},
        world.owner, unit_of_work=world.uow, meta=META,
    )  # fmt: skip
    assert (changed["timezone"], changed["currency"], changed["locale"]) == (
        "America/Sao_Paulo",
        "BRL",
        "en-US",
    )
    assert world.last_audit().action == "tenant.settings_updated"
    assert world.last_audit().changes["require_mfa"] == {"old": False, "new": True}


@pytest.mark.parametrize(
    ("field", "value"),
    [("timezone", "Mars/Olympus"), ("currency", "BRR"), ("locale", "portuguese")],
)
def test_invalid_settings_are_422_naming_the_field(world: World, field: str, value: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        tenant_settings.update_settings(
            world.tenant.id, {field: value}, world.owner, unit_of_work=world.uow, meta=META
        )
    assert refused.value.errors[0]["loc"] == ["body", field]


def test_another_tenants_settings_usage_and_plan_are_404(world: World) -> None:
    other, _ = world.new_tenant("globex")
    with pytest.raises(NotFound):
        tenant_settings.get_settings(other.id, world.owner, unit_of_work=world.uow)
    with pytest.raises(NotFound):
        tenant_settings.update_settings(
            other.id, {"locale": "pt-BR"}, world.owner, unit_of_work=world.uow, meta=META
        )
    with pytest.raises(NotFound):
        plans.usage_report(other.id, world.owner, unit_of_work=world.uow)
    with pytest.raises(NotFound):
        plans.change_plan(other.id, "pro", world.owner, unit_of_work=world.uow, meta=META)


def test_usage_shows_every_limit_of_the_plan(world: World) -> None:
    world.member(Role.SELLER)
    report = plans.usage_report(world.tenant.id, world.owner, unit_of_work=world.uow)
    assert report["plan"] == "free"
    assert report["usage"]["users"] == {
        "used": 2, "limit": 5, "remaining": 3, "period": "none", "period_start": None, "resets_at": None,
    }  # fmt: skip
    assert set(report["usage"]) == {m.value for m in Metric}


def test_a_downgrade_below_current_usage_is_refused(world: World) -> None:
    plans.change_plan(world.tenant.id, "pro", world.owner, unit_of_work=world.uow, meta=META)
    assert world.last_audit().changes == {"plan": {"old": "free", "new": "pro"}}
    for _ in range(5):
        world.member(Role.VIEWER)
    with pytest.raises(Conflict) as refused:
        plans.change_plan(world.tenant.id, "free", world.owner, unit_of_work=world.uow, meta=META)
    assert refused.value.extra["exceeded"] == [{"metric": "users", "used": 6, "limit": 5}]
    with pytest.raises(ValidationFailed):
        plans.change_plan(
            world.tenant.id, "platinum", world.owner, unit_of_work=world.uow, meta=META
        )


def test_periodic_quotas_count_until_the_limit(world: World) -> None:
    world.store.tenancy.limits["free"]["emails_per_day"] = 3
    with world.uow(world.tenant.id) as uow:
        assert plans.consume_quota(uow, Metric.EMAILS_PER_DAY, 2) == 2
        with pytest.raises(PlanLimitExceeded) as exceeded:
            plans.consume_quota(uow, Metric.EMAILS_PER_DAY, 2)
        assert (exceeded.value.limit, exceeded.value.usage) == (3, 2)
        assert plans.consume_quota(uow, Metric.EMAILS_PER_DAY) == 3


# ------------------------------------------------------------------ existing services


def test_lead_creation_checks_the_plan_and_audits_without_personal_data(world: World) -> None:
    world.store.tenancy.limits["free"]["leads"] = 1
    lead, _ = create_lead(
        NewLead(name="Ana", email="ana@x.io"), world.owner, unit_of_work=world.uow, meta=META
    )
    entry = world.last_audit()
    assert (entry.action, entry.entity_id) == ("lead.created", lead["id"])
    assert "ana@x.io" not in str(entry.changes) and "Ana" not in str(entry.changes)
    with pytest.raises(PlanLimitExceeded) as exceeded:
        create_lead(NewLead(name="Bo"), world.owner, unit_of_work=world.uow)
    assert (exceeded.value.limit, exceeded.value.usage) == (1, 1)


def test_a_seller_reads_own_and_unassigned_leads_only(world: World) -> None:
    seller, other_seller = world.member(Role.SELLER), world.member(Role.SELLER)
    mine, _ = create_lead(NewLead(name="Mine"), seller, unit_of_work=world.uow)
    theirs, _ = create_lead(NewLead(name="Theirs"), other_seller, unit_of_work=world.uow)
    unassigned, _ = create_lead(NewLead(name="Nobody's"), world.owner, unit_of_work=world.uow)
    world.store.leads[uuid.UUID(unassigned["id"])].owner_id = None
    assert get_lead(uuid.UUID(mine["id"]), seller, unit_of_work=world.uow)["name"] == "Mine"
    assert get_lead(uuid.UUID(unassigned["id"]), seller, unit_of_work=world.uow)["owner_id"] is None
    with pytest.raises(NotFound):
        get_lead(uuid.UUID(theirs["id"]), seller, unit_of_work=world.uow)
    assert get_lead(uuid.UUID(theirs["id"]), world.member(Role.VIEWER), unit_of_work=world.uow)


def test_automation_creation_checks_active_automations_and_audits(world: World) -> None:
    world.store.tenancy.limits["free"]["active_automations"] = 1
    workflow = Workflow.model_validate({
        "trigger": {"event": "crm.lead.created"},
        "steps": [{"id": "n", "type": "action", "action": {"kind": "create_note", "body": "x"}}],
    })  # fmt: skip
    created = create_automation(
        "A", workflow, world.owner, unit_of_work=world.uow, step_function_arn=STEP_ARN, meta=META
    )
    assert world.last_audit().action == "automation.created"
    assert world.last_audit().entity_id == created["id"]
    with pytest.raises(PlanLimitExceeded):
        create_automation(
            "B", workflow, world.owner, unit_of_work=world.uow, step_function_arn=STEP_ARN
        )


# ------------------------------------------------------------------ audit listing


def test_audit_logs_filter_and_page_newest_first(world: World) -> None:
    for i in range(3):
        world.invite(f"u{i}@x.io")
    page = audit_logs.list_audit_logs(
        world.owner, PageRequest(2), unit_of_work=world.uow, action="user.invited"
    )
    rest = audit_logs.list_audit_logs(
        world.owner, PageRequest(2, page.next), unit_of_work=world.uow, action="user.invited"
    )
    items = [record.to_dict() for record in page.items + rest.items]
    emails = [i["changes"]["email"]["new"] for i in items]
    assert emails == ["u2@x.io", "u1@x.io", "u0@x.io"] and rest.next is None
    # the keyset's tie-break is the log's integer id
    assert page.next == Keyset(page.items[-1].occurred_at, page.items[-1].id)
    assert isinstance(page.next.id, int)
    assert items[0]["actor"] == {"type": "user", "id": str(world.owner.user_id)}
    assert items[0]["ip"] == "10.0.0.9" and items[0]["request_id"] == "req-1"


def test_audit_logs_reject_an_empty_range(world: World) -> None:
    now = datetime.now(UTC)
    with pytest.raises(ValidationFailed):
        audit_logs.list_audit_logs(
            world.owner, PageRequest(5), unit_of_work=world.uow, since=now, until=now
        )


# ------------------------------------------------------------------ Idempotency-Key


def test_a_retried_invitation_replays_without_a_second_mail(world: World) -> None:
    def invite(name: str) -> tuple[dict[str, Any], bool]:
        return users.invite_user(
            users.Invite("bea@x.io", name, "viewer"), world.owner, unit_of_work=world.uow,
            mail=world.mailer, mail_from="no-reply@crm.local", accept_url="https://app/accept", meta=META, idempotency_key="k-1",
        )  # fmt: skip

    first, replayed = invite("Bea")
    again, replayed_again = invite("Bea")
    assert not replayed and replayed_again and again == first
    assert len(world.mailer.sent) == 1 and world.actions().count("user.invited") == 1
    with pytest.raises(ValidationFailed):  # the same key for another request
        invite("Someone else")


def test_a_retried_role_creation_replays(world: World) -> None:
    command = _role("sdr", "leads:read")
    first, _ = roles.create_role(
        command, world.owner, unit_of_work=world.uow, meta=META, idempotency_key="r-1"
    )
    again, replayed = roles.create_role(
        command, world.owner, unit_of_work=world.uow, meta=META, idempotency_key="r-1"
    )
    assert replayed and again == first and world.actions().count("role.created") == 1


def test_reinviting_a_pending_user_at_the_users_limit_is_allowed(world: World) -> None:
    limit = world.store.tenancy.limits["free"]["users"]
    assert limit is not None
    for i in range(limit - 2):
        world.invite(f"u{i}@x.io")
    world.invite("last@x.io")  # the tenant is now full, the last one pending
    assert world.invite("last@x.io")["status"] == "pending"


def test_an_admin_cannot_reinvite_a_pending_owner_with_another_role(world: World) -> None:
    world.invite("future-owner@x.io", role="owner")
    admin = world.member(Role.ADMIN)
    with pytest.raises(Forbidden):
        world.invite("future-owner@x.io", role="viewer", caller=admin)


def test_a_role_patch_that_changes_nothing_writes_nothing(world: World) -> None:
    roles.create_role(_role("sdr", "leads:read"), world.owner, unit_of_work=world.uow, meta=META)
    before = len(world.store.audit)
    same = roles.update_role(
        "sdr", {"permissions": ["leads:read"], "name": "SDR"}, world.owner,
        unit_of_work=world.uow, meta=META,
    )  # fmt: skip
    assert same["version"] == 1 and len(world.store.audit) == before
