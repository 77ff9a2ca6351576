"""Tenancy on the real database: RLS on the new tables, usage kept exact by triggers, plan
limits from the plan tables, the per-request admission, and the races that locks prevent
(the last user slot, the last owner, a single-use invitation)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pg8000.native
import pytest
from crm.adapters.postgres.connection import ConnectionPool, connect
from crm.adapters.postgres.migrations import MigrationResult
from crm.adapters.postgres.tenancy import PostgresRequestAdmission
from crm.adapters.postgres.unit_of_work import PostgresDatabase, begin_for_tenant
from crm.domain.audit import RequestMeta
from crm.domain.errors import Conflict, PlanLimitExceeded
from crm.domain.leads import Lead
from crm.domain.pagination import PageRequest
from crm.domain.plans import Metric
from crm.domain.tenants import Principal, Role, Tenant, User
from crm.services import audit_logs, plans, roles, tenant_settings, users
from crm.services.emails import enqueue_email

from tests.conftest import make_tenant

pytestmark = pytest.mark.integration

META = RequestMeta(ip="192.0.2.7", user_agent="pytest", request_id="it-1")
NEW_TABLES = ["usage_counters", "custom_roles", "invitations", "rate_limit_windows"]


class Mailer:
    """The email pipeline's enqueue (the real one, in the caller's transaction), noting the
    texts queued."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def __call__(self, uow: Any, **email: Any) -> Any:
        self.sent.append(email["text"])
        return enqueue_email(uow, **email)

    def token(self) -> str:
        return self.sent[-1].split("token=")[1].split()[0]


class Hasher:
    def hash(self, password: str) -> str:
        return "h:" + password

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == "h:" + password


def owner_of(tenant: Tenant, owner: User) -> Principal:
    return Principal(tenant_id=tenant.id, user_id=owner.id, role=Role.OWNER)


def add_user(db: PostgresDatabase, tenant: Tenant, role: str, status: str = "active") -> User:
    user = User(tenant.id, f"{uuid.uuid4().hex[:10]}@example.com", "U", "h", role, status)
    with db.unit_of_work(tenant.id) as uow:
        uow.users.add(user, tenant_slug=tenant.slug)
        uow.commit()
    return user


def counter(db: PostgresDatabase, tenant: Tenant, metric: str) -> int:
    with db.unit_of_work(tenant.id) as uow:
        used, _, _ = uow.usage.lock_level(metric)
    return used


def run_together(*calls: Callable[[], Any]) -> list[Any]:
    """Runs the calls on threads started at once; each result is a value or the exception."""
    results: list[Any] = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except Exception as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


# ------------------------------------------------------------------ schema


def test_new_tenant_tables_force_row_level_security(admin_conn: Any) -> None:
    rows = admin_conn.run(
        "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class"
        " WHERE relname = ANY(:names) AND relkind = 'r'",
        names=NEW_TABLES,
    )
    assert {name: (on, forced) for name, on, forced in rows} == {
        n: (True, True) for n in NEW_TABLES
    }


def test_the_app_role_sees_only_its_tenants_rows_in_the_new_tables(
    db: PostgresDatabase, migrated: MigrationResult
) -> None:
    tenant_a, owner_a = make_tenant(db, "ten-a")
    tenant_b, _ = make_tenant(db, "ten-b")
    mailer = Mailer()
    roles.create_role(
        roles.NewRole("sdr", "SDR", frozenset({"leads:read"})), owner_of(tenant_a, owner_a),
        unit_of_work=db.unit_of_work, meta=META,
    )  # fmt: skip
    users.invite_user(
        users.Invite("inv@example.com", "Inv", "sdr"), owner_of(tenant_a, owner_a),
        unit_of_work=db.unit_of_work, mail=mailer, mail_from="no-reply@crm.local", accept_url="https://app/a", meta=META,
    )  # fmt: skip
    PostgresRequestAdmission(ConnectionPool(migrated.app_url, 1)).admit(tenant_a.id, owner_a.id)
    conn = connect(migrated.app_url)
    try:
        for tenant, expected in ((tenant_a, {str(tenant_a.id)}), (tenant_b, set())):
            begin_for_tenant(conn, tenant.id)
            for table in ("custom_roles", "invitations", "rate_limit_windows"):
                seen = {str(r[0]) for r in conn.run(f"SELECT tenant_id FROM {table}")}
                assert seen == expected, (table, tenant.slug)
            counters = {str(r[0]) for r in conn.run("SELECT tenant_id FROM usage_counters")}
            assert counters == {str(tenant.id)}
            conn.run("ROLLBACK")
        for table in NEW_TABLES:  # no tenant set: nothing
            assert conn.run(f"SELECT count(*) FROM {table}") == [[0]], table
        with pytest.raises(pg8000.native.DatabaseError, match="row-level security"):
            begin_for_tenant(conn, tenant_b.id)
            conn.run(
                "INSERT INTO custom_roles (tenant_id, key, name, permissions)"
                " VALUES (:t, 'spy', 'Spy', ARRAY['leads:read'])",
                t=tenant_a.id,
            )
        conn.run("ROLLBACK")
    finally:
        conn.close()


def test_limits_are_rows_of_the_plan_tables(admin_conn: Any) -> None:
    rows = admin_conn.run("SELECT plan, count(*) FROM plan_limits GROUP BY plan ORDER BY plan")
    assert rows == [["enterprise", 8], ["free", 8], ["pro", 8]]  # sms_per_day joined
    metrics = {r[0] for r in admin_conn.run("SELECT key FROM usage_metrics")}
    assert metrics == {m.value for m in Metric}


def test_a_user_can_only_hold_a_role_that_exists_in_their_tenant(db: PostgresDatabase) -> None:
    tenant, owner = make_tenant(db, "fk")
    other, other_owner = make_tenant(db, "fk-other")
    roles.create_role(
        roles.NewRole("closer", "Closer", frozenset({"deals:read"})), owner_of(other, other_owner),
        unit_of_work=db.unit_of_work, meta=META,
    )  # fmt: skip
    with (
        db.unit_of_work(tenant.id) as uow,
        pytest.raises(pg8000.native.DatabaseError, match="fkey"),
    ):
        uow.members.update(owner.id, name="O", role="closer", status="active", expected_version=1)


# ------------------------------------------------------------------ usage counters


def test_triggers_keep_levels_exact_whatever_writes_the_rows(db: PostgresDatabase) -> None:
    tenant, _owner = make_tenant(db, "usage")
    assert counter(db, tenant, "users") == 1
    seller = add_user(db, tenant, "seller")
    add_user(db, tenant, "viewer", status="pending")
    assert counter(db, tenant, "users") == 3
    with db.unit_of_work(tenant.id) as uow:
        uow.members.update(
            seller.id, name="S", role="seller", status="deactivated", expected_version=1
        )
        leads = [Lead(tenant_id=tenant.id, name=f"L{i}") for i in range(3)]
        for lead in leads:
            uow.leads.add(lead)
        uow.commit()
    assert counter(db, tenant, "users") == 2
    assert counter(db, tenant, "leads") == 3
    with db.unit_of_work(tenant.id) as uow:
        uow._conn.run("DELETE FROM leads WHERE id = :id", id=leads[0].id)  # as another issue will
        uow.commit()
    assert counter(db, tenant, "leads") == 2


def test_a_level_at_its_limit_refuses_with_the_limit_and_usage(db: PostgresDatabase) -> None:
    tenant, _owner = make_tenant(db, "full")
    with db.unit_of_work(tenant.id) as uow:
        _, limit, plan = uow.usage.lock_level("users")
    assert plan == "free" and limit == 5
    for _ in range(4):
        add_user(db, tenant, "viewer")
    with db.unit_of_work(tenant.id) as uow, pytest.raises(PlanLimitExceeded) as exceeded:
        plans.ensure_within_limit(uow, Metric.USERS)
    assert (exceeded.value.limit, exceeded.value.usage, exceeded.value.plan) == (5, 5, "free")


def test_periodic_quota_counts_per_period_and_stops_at_the_limit(db: PostgresDatabase) -> None:
    tenant, _ = make_tenant(db, "quota")
    with db.unit_of_work(tenant.id) as uow:
        assert plans.consume_quota(uow, Metric.EMAILS_PER_DAY, 99) == 99
        assert plans.consume_quota(uow, Metric.EMAILS_PER_DAY) == 100
        with pytest.raises(PlanLimitExceeded) as exceeded:
            plans.consume_quota(uow, Metric.EMAILS_PER_DAY)
        assert (exceeded.value.limit, exceeded.value.usage) == (100, 100)
        with pytest.raises(ValueError, match="not a periodic metric"):
            plans.consume_quota(uow, Metric.LEADS)
        uow.commit()
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with db.unit_of_work(tenant.id) as uow:
        rows = uow._conn.run(
            "SELECT period_start, used FROM usage_counters WHERE metric = 'emails_per_day'"
        )
    assert rows == [[today, 100]]


def test_two_invitations_for_the_last_user_slot_admit_exactly_one(db: PostgresDatabase) -> None:
    tenant, owner = make_tenant(db, "race")
    for _ in range(3):
        add_user(db, tenant, "viewer")
    caller = owner_of(tenant, owner)

    def invite(email: str) -> Callable[[], Any]:
        return lambda: users.invite_user(
            users.Invite(email, "X", "viewer"), caller, unit_of_work=db.unit_of_work,
            mail=Mailer(), mail_from="no-reply@crm.local", accept_url="https://app/a", meta=META,
        )  # fmt: skip

    results = run_together(invite("one@example.com"), invite("two@example.com"))
    assert sorted(type(r).__name__ for r in results) == ["PlanLimitExceeded", "tuple"]
    assert counter(db, tenant, "users") == 5


def test_two_owners_demoting_each_other_leave_one_owner(db: PostgresDatabase) -> None:
    tenant, first = make_tenant(db, "owners")
    second = add_user(db, tenant, "owner")
    one, two = owner_of(tenant, first), owner_of(tenant, second)

    def demote(target: User, caller: Principal) -> Callable[[], Any]:
        return lambda: users.update_user(
            target.id, {"role": "admin"}, caller, unit_of_work=db.unit_of_work, meta=META
        )

    results = run_together(demote(second, one), demote(first, two))
    outcomes = sorted(type(r).__name__ for r in results)
    # The loser is refused: as the last owner (409), or because its caller was just demoted.
    assert outcomes in (["Conflict", "dict"], ["Forbidden", "dict"])
    with db.unit_of_work(tenant.id) as uow:
        assert uow.members.count_with_role("owner") == 1


def test_an_invitation_accepted_twice_at_once_works_once(db: PostgresDatabase) -> None:
    tenant, owner = make_tenant(db, "accept")
    mailer = Mailer()
    users.invite_user(
        users.Invite("once@example.com", "Once", "seller"), owner_of(tenant, owner),
        unit_of_work=db.unit_of_work, mail=mailer, mail_from="no-reply@crm.local", accept_url="https://app/a", meta=META,
    )  # fmt: skip
    token = mailer.token()

    def accept() -> Any:
        return users.accept_invitation(
            token, "a long enough password", None, unit_of_work=db.unit_of_work,
            hasher=Hasher(), meta=META,
        )  # fmt: skip

    results = run_together(accept, accept)
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "dict"]
    with db.unit_of_work(tenant.id) as uow:
        found = uow.users.get_by_email("once@example.com")
    assert (
        found is not None
        and found.status == "active"
        and found.password_hash == "h:a long enough password"
    )


# ------------------------------------------------------------------ admission


def test_admission_counts_per_tenant_and_reads_the_current_role(
    db: PostgresDatabase, migrated: MigrationResult, admin_conn: Any
) -> None:
    tenant, owner = make_tenant(db, "adm")
    other, other_owner = make_tenant(db, "adm-other")
    pool = ConnectionPool(migrated.app_url, 1)
    admission = PostgresRequestAdmission(pool)
    first = admission.admit(tenant.id, owner.id)
    second = admission.admit(tenant.id, owner.id)
    elsewhere = admission.admit(other.id, other_owner.id)
    assert (first.request_count, second.request_count, elsewhere.request_count) == (1, 2, 1)
    assert second.request_limit == 120 and 1 <= second.reset_seconds <= 60
    assert (second.user_role, second.user_status, second.custom_grant) == ("owner", "active", None)
    # a user of another tenant is nobody here
    assert admission.admit(tenant.id, other_owner.id).user_role is None
    # a window that ended restarts the count
    admin_conn.run(
        "UPDATE rate_limit_windows SET window_start = window_start - interval '1 minute'"
        " WHERE tenant_id = :t", t=tenant.id,
    )  # fmt: skip
    assert admission.admit(tenant.id, owner.id).request_count == 1
    # a custom role comes with its grant
    roles.create_role(
        roles.NewRole("sdr", "SDR", frozenset({"leads:read"}), own_records_only=True),
        owner_of(tenant, owner), unit_of_work=db.unit_of_work, meta=META,
    )  # fmt: skip
    sdr = add_user(db, tenant, "sdr")
    admitted = admission.admit(tenant.id, sdr.id)
    assert admitted.user_role == "sdr" and admitted.custom_grant is not None
    assert admitted.custom_grant.permissions == frozenset({"leads:read"})
    assert admitted.custom_grant.own_records_only
    # a failed statement does not leave the connection's prepared statement unusable
    with pytest.raises(pg8000.native.DatabaseError):
        admission.admit("not-a-uuid", owner.id)  # type: ignore[arg-type]
    assert admission.admit(tenant.id, owner.id).user_role == "owner"
    pool.close()


def _api_key_row(
    admin_conn: Any,
    tenant: Tenant,
    creator: User,
    *,
    revoked: bool = False,
    expires_in: int | None = None,
) -> uuid.UUID:
    key_id = uuid.uuid4()
    admin_conn.run(
        "INSERT INTO api_keys (id, tenant_id, name, scopes, secret_sha256, hint, created_by,"
        " expires_at, revoked_at) VALUES (:id, :t, 'k', '{leads:read}', repeat('a', 64), 'x', :u,"
        " now() + make_interval(secs => CAST(:expires_in AS integer)),"
        " CASE WHEN :revoked THEN now() END)",
        id=key_id, t=tenant.id, u=creator.id, expires_in=expires_in, revoked=revoked,
    )  # fmt: skip
    return key_id


def test_admission_refuses_a_credential_revoked_since_the_authorizer_admitted_it(
    db: PostgresDatabase, migrated: MigrationResult, admin_conn: Any
) -> None:
    tenant, owner = make_tenant(db, "adm-cred")
    other, other_owner = make_tenant(db, "adm-cred-other")
    colleague = add_user(db, tenant, "admin")
    pool = ConnectionPool(migrated.app_url, 1)
    admission = PostgresRequestAdmission(pool)

    def revoked(key_id: uuid.UUID | None = None, issued_at: int | None = None) -> bool:
        return admission.admit(
            tenant.id, owner.id, api_key_id=key_id, issued_at=issued_at
        ).credential_revoked

    assert not revoked(_api_key_row(admin_conn, tenant, owner))
    assert not revoked(_api_key_row(admin_conn, tenant, owner, expires_in=3600))
    assert revoked(_api_key_row(admin_conn, tenant, owner, revoked=True))
    assert revoked(_api_key_row(admin_conn, tenant, owner, expires_in=-1))
    assert revoked(_api_key_row(admin_conn, tenant, colleague))  # not this user's key
    assert revoked(_api_key_row(admin_conn, other, other_owner))  # RLS: another tenant's key
    assert revoked(uuid.uuid4())
    # access tokens: nothing to compare before a password reset; then iat < tokens_valid_after
    assert not revoked(issued_at=1_800_000_000) and not revoked()
    admin_conn.run(
        "UPDATE users SET tokens_valid_after = to_timestamp(1800000000) WHERE id = :u",
        u=owner.id,
    )
    assert revoked(issued_at=1_799_999_999)
    assert not revoked(issued_at=1_800_000_000) and not revoked(issued_at=1_800_000_001)
    assert not revoked()  # a context without iat: the authorizer's own check stands
    # sessions (refresh-token families): live, revoked, someone else's, unknown
    family = uuid.uuid4()
    admin_conn.run(
        "INSERT INTO refresh_token_families (id, tenant_id, user_id, amr, expires_at)"
        " VALUES (:f, :t, :u, '{pwd}', now() + interval '1 day')",
        f=family, t=tenant.id, u=owner.id,
    )  # fmt: skip

    def session_revoked(session_id: uuid.UUID) -> bool:
        return admission.admit(
            tenant.id, owner.id, issued_at=1_800_000_000, session_id=session_id
        ).credential_revoked

    assert not session_revoked(family)
    assert session_revoked(uuid.uuid4())  # no such session
    admin_conn.run(
        "UPDATE refresh_token_families SET revoked_at = now(), revoked_reason = 'logout'"
        " WHERE id = :f", f=family,
    )  # fmt: skip
    assert session_revoked(family)
    other_family = uuid.uuid4()
    admin_conn.run(
        "INSERT INTO refresh_token_families (id, tenant_id, user_id, amr, expires_at)"
        " VALUES (:f, :t, :u, '{pwd}', now() + interval '1 day')",
        f=other_family, t=tenant.id, u=colleague.id,
    )  # fmt: skip
    assert session_revoked(other_family)  # a colleague's session is not this user's
    # the request is counted and the role read, as before
    admitted = admission.admit(tenant.id, owner.id, issued_at=1_799_999_999)
    assert admitted.credential_revoked and admitted.user_role == "owner"
    assert admitted.request_count >= 1 and admitted.request_limit == 120
    pool.close()


def test_admission_refuses_to_run_inside_another_tenants_transaction(
    migrated: MigrationResult, db: PostgresDatabase
) -> None:
    tenant, owner = make_tenant(db, "adm-tx")
    conn = connect(migrated.app_url)
    try:
        begin_for_tenant(conn, uuid.uuid4())
        with pytest.raises(pg8000.native.DatabaseError, match="another tenant"):
            conn.run("SELECT * FROM admit_api_request(:t, :u)", t=tenant.id, u=owner.id)
        conn.run("ROLLBACK")
        conn.run("SELECT * FROM admit_api_request(:t, :u)", t=tenant.id, u=owner.id)
        # the tenant it set ended with its statement
        assert conn.run("SELECT current_setting('app.tenant_id', true)") == [[""]]
    finally:
        conn.close()


# ------------------------------------------------------------------ listings on real SQL


def test_user_listing_filters_and_pages(db: PostgresDatabase) -> None:
    tenant, owner = make_tenant(db, "list")
    for _ in range(3):
        add_user(db, tenant, "seller")
    add_user(db, tenant, "seller", status="deactivated")
    caller = owner_of(tenant, owner)
    first = users.list_users(
        caller, PageRequest(2), unit_of_work=db.unit_of_work, role="seller", status="active"
    )
    rest = users.list_users(
        caller, PageRequest(2, first.next), unit_of_work=db.unit_of_work, role="seller",
        status="active",
    )  # fmt: skip
    assert len(first.items) == 2 and len(rest.items) == 1 and rest.next is None
    assert {u.status for u in first.items + rest.items} == {"active"}


def test_audit_search_filters_by_actor_entity_action_and_time(db: PostgresDatabase) -> None:
    tenant, owner = make_tenant(db, "audit-q")
    caller = owner_of(tenant, owner)
    admin = add_user(db, tenant, "admin")
    admin_caller = Principal(tenant_id=tenant.id, user_id=admin.id, role=Role.ADMIN)
    before = datetime.now(UTC) - timedelta(seconds=1)
    tenant_settings.update_settings(
        tenant.id, {"locale": "pt-BR"}, caller, unit_of_work=db.unit_of_work, meta=META
    )
    tenant_settings.update_settings(
        tenant.id, {"locale": "es-ES"}, admin_caller, unit_of_work=db.unit_of_work, meta=META
    )

    def search(**filters: Any) -> list[dict[str, Any]]:
        page = audit_logs.list_audit_logs(
            caller, PageRequest(50), unit_of_work=db.unit_of_work, **filters
        )
        return [record.to_dict() for record in page.items]

    by_admin = search(actor_id=admin.id)
    assert [e["changes"]["locale"]["new"] for e in by_admin] == ["es-ES"]
    assert by_admin[0]["ip"] == "192.0.2.7" and by_admin[0]["user_agent"] == "pytest"
    on_tenant = search(
        entity_type="tenant", entity_id=str(tenant.id), action="tenant.settings_updated"
    )
    assert [e["changes"]["locale"]["new"] for e in on_tenant] == ["es-ES", "pt-BR"]
    assert search(until=before) == []
    assert len(search(since=before)) == 2
    page = audit_logs.list_audit_logs(
        caller, PageRequest(1), unit_of_work=db.unit_of_work, action="tenant.settings_updated"
    )
    nxt = audit_logs.list_audit_logs(
        caller, PageRequest(1, page.next), unit_of_work=db.unit_of_work,
        action="tenant.settings_updated",
    )  # fmt: skip
    assert page.items[0].id != nxt.items[0].id


def test_plan_change_and_downgrade_guard_on_real_counts(db: PostgresDatabase) -> None:
    tenant, owner = make_tenant(db, "plan")
    caller = owner_of(tenant, owner)
    upgraded = plans.change_plan(tenant.id, "pro", caller, unit_of_work=db.unit_of_work, meta=META)
    assert upgraded["plan"] == "pro"
    for _ in range(5):
        add_user(db, tenant, "viewer")
    with pytest.raises(Conflict):
        plans.change_plan(tenant.id, "free", caller, unit_of_work=db.unit_of_work, meta=META)
    report = plans.usage_report(tenant.id, caller, unit_of_work=db.unit_of_work)
    assert report["usage"]["users"]["used"] == 6 and report["usage"]["users"]["limit"] == 25
