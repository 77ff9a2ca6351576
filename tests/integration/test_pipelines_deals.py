"""Pipelines and deals on the real PostgreSQL, as the app role: repositories and their list
SQL (every sort, both directions, NULLs, ties, filters), the board and forecast queries, row-
level security of the four tables, the schema's cross-tenant guards, the plan limit, and the
concurrency guarantees (one record per Idempotency-Key, one winner per ETag)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pg8000.native
import pytest
from crm.adapters.postgres.connection import ConnectionPool, connect
from crm.adapters.postgres.deals import deal_list_query
from crm.adapters.postgres.migrations import MigrationResult
from crm.adapters.postgres.unit_of_work import PostgresDatabase, begin_for_tenant
from crm.domain.concurrency import Precondition
from crm.domain.deals import DealFilters, DealSort, DealSortField
from crm.domain.errors import Conflict, PlanLimitExceeded, PreconditionFailed, ValidationFailed
from crm.domain.events import CloudEvent
from crm.domain.pagination import Keyset, PageRequest
from crm.domain.pipelines import StageKind, StageSpec
from crm.domain.tenants import Principal, Role, User
from crm.services.accounts import SignUp, sign_up
from crm.services.deals import (
    NewDeal,
    create_deal,
    deal_stage_history,
    delete_deal,
    get_deal,
    list_deals,
    update_deal,
)
from crm.services.pipelines import (
    NewPipeline,
    PipelineChanges,
    add_default_pipeline,
    create_pipeline,
    pipeline_board,
    pipeline_forecast,
    update_pipeline,
)
from crm.services.request_context import RequestContext

from tests.conftest import make_tenant

pytestmark = pytest.mark.integration

TABLES = ["pipelines", "pipeline_stages", "deals", "deal_stage_history"]


class Org:
    """A tenant with its default pipeline, an owner and two sellers."""

    def __init__(self, db: PostgresDatabase, prefix: str) -> None:
        self.db = db
        self.tenant, owner = make_tenant(db, prefix)
        self.id = self.tenant.id
        self.owner = Principal(self.id, owner.id, Role.OWNER)
        self.ana = self._user(Role.SELLER)
        self.bob = self._user(Role.SELLER)
        with db.unit_of_work(self.id) as uow:
            self.pipeline = add_default_pipeline(uow, self.id, owner.id)
            uow.commit()

    def _user(self, role: Role) -> Principal:
        user = User(self.id, f"{uuid.uuid4().hex[:10]}@example.com", "U", "x", role)
        with self.db.unit_of_work(self.id) as uow:
            uow.users.add(user, tenant_slug=self.tenant.slug)
            uow.commit()
        return Principal(self.id, user.id, role)

    def stage(self, name: str) -> uuid.UUID:
        return next(s.id for s in self.pipeline.stages if s.name == name)

    def deal(self, caller: Principal | None = None, **fields: Any) -> dict[str, Any]:
        body, _ = create_deal(
            NewDeal(**{"title": "Deal", **fields}),
            RequestContext(caller or self.owner),
            unit_of_work=self.db.unit_of_work,
            request={},
        )
        return body


@pytest.fixture()
def org(db: PostgresDatabase) -> Org:
    return Org(db, "deals")


def _all_pages(fetch: Callable[[PageRequest], Any], limit: int) -> list[Any]:
    items, after = [], None
    while True:
        page = fetch(PageRequest(limit, after))
        items += page.items
        if page.next is None:
            return items
        after = page.next


# ------------------------------------------------------------------ lists


def test_every_sort_pages_through_every_deal_once_in_order(org: Org) -> None:
    values = [
        Decimal("10"),
        Decimal("10"),
        Decimal("99.99"),
        Decimal("0"),
        Decimal("10"),
        Decimal("5000"),
        Decimal("99.99"),
    ]
    dates = [date(2026, 5, 1), None, date(2026, 1, 1), None, date(2026, 5, 1), None, None]
    for value, when in zip(values, dates, strict=True):
        org.deal(value=value, expected_close_date=when)
    every = list_deals(
        org.owner, DealFilters(), DealSort(), PageRequest(200), unit_of_work=org.db.unit_of_work
    ).items
    assert len(every) == len(values)
    for field in DealSortField:
        ascending = sorted(
            every,
            key=lambda d: (d.sort_value(field) is None, d.sort_value(field) or 0, d.id),
        )
        for descending in (False, True):
            sort = DealSort(field, descending)
            fetch = partial(
                list_deals, org.owner, DealFilters(), sort, unit_of_work=org.db.unit_of_work
            )
            paged = _all_pages(fetch, limit=2)
            expected = ascending[::-1] if descending else ascending
            assert [d.id for d in paged] == [d.id for d in expected], (field, descending)


def test_filters_narrow_the_list(org: Org) -> None:
    ana_open = org.deal(org.ana)
    bob_won = org.deal(org.bob, stage_id=org.stage("Won"))
    nobody = org.deal(owner_id=None, assign_to_caller=False, stage_id=org.stage("Proposal"))
    before = datetime.now(UTC)

    def ids(**filters: Any) -> set[str]:
        page = list_deals(
            org.owner,
            DealFilters(**filters),
            DealSort(),
            PageRequest(50),
            unit_of_work=org.db.unit_of_work,
        )
        return {str(d.id) for d in page.items}

    assert ids(owner_id=org.ana.user_id) == {ana_open["id"]}
    assert ids(status=StageKind.WON) == {bob_won["id"]}
    assert ids(stage_id=org.stage("Proposal")) == {nobody["id"]}
    assert ids(pipeline_id=org.pipeline.id) == {ana_open["id"], bob_won["id"], nobody["id"]}
    assert ids(pipeline_id=uuid.uuid4()) == set()
    assert ids(created_after=before) == set()
    assert ids(created_before=before) == {ana_open["id"], bob_won["id"], nobody["id"]}
    update_deal(
        uuid.UUID(nobody["id"]),
        {"title": "touched"},
        RequestContext(org.owner),
        unit_of_work=org.db.unit_of_work,
    )
    assert ids(updated_after=before) == {nobody["id"]}
    assert ids(updated_after=before, updated_before=before + timedelta(hours=1)) == {nobody["id"]}
    seller_view = list_deals(
        org.ana, DealFilters(), DealSort(), PageRequest(50), unit_of_work=org.db.unit_of_work
    )
    assert {str(d.id) for d in seller_view.items} == {ana_open["id"], nobody["id"]}


def test_deleted_deals_leave_lists_boards_and_forecasts(org: Org) -> None:
    kept = org.deal(value=Decimal("100"))
    gone = org.deal(value=Decimal("900"))
    delete_deal(uuid.UUID(gone["id"]), RequestContext(org.owner), unit_of_work=org.db.unit_of_work)
    listed = list_deals(
        org.owner, DealFilters(), DealSort(), PageRequest(50), unit_of_work=org.db.unit_of_work
    )
    assert [str(d.id) for d in listed.items] == [kept["id"]]
    board = pipeline_board(org.pipeline.id, org.owner, limit=10, unit_of_work=org.db.unit_of_work)
    assert board.columns[0].deal_count == 1
    forecast = pipeline_forecast(org.pipeline.id, org.owner, unit_of_work=org.db.unit_of_work)
    assert forecast["currencies"][0]["value"] == "100.00"


@pytest.mark.parametrize(
    ("filters", "sort"),
    [
        *[
            (DealFilters(), DealSort(field, desc))
            for field in DealSortField
            for desc in (True, False)
        ],
        (DealFilters(pipeline_id=uuid.uuid4()), DealSort()),
        (DealFilters(stage_id=uuid.uuid4()), DealSort()),
        (DealFilters(owner_id=uuid.uuid4()), DealSort()),
        (DealFilters(status=StageKind.WON), DealSort()),
        (DealFilters(created_after=datetime(2026, 1, 1, tzinfo=UTC)), DealSort()),
        (DealFilters(visible_to=uuid.uuid4()), DealSort()),
    ],
)
def test_every_list_order_and_filter_is_an_index_scan_without_a_sort(
    org: Org, filters: DealFilters, sort: DealSort
) -> None:
    """With sorting priced out, the planner still finds a plan without a Sort node: an index
    delivers the order (a dropped or mismatched index makes this fail)."""
    after = Keyset(datetime(2026, 1, 1, tzinfo=UTC), uuid.uuid4())
    page = PageRequest(50, after if sort.field is DealSortField.CREATED_AT else None)
    sql, params = deal_list_query(filters, sort, page)
    with org.db.unit_of_work(org.id) as uow:
        conn = uow._conn
        assert conn is not None
        conn.run("SET LOCAL enable_sort = off")
        conn.run("SET LOCAL enable_seqscan = off")
        plan = conn.run(f"EXPLAIN (FORMAT JSON) {sql}", **params)[0][0][0]["Plan"]
    nodes = list(_plan_nodes(plan))
    assert "Sort" not in {node["Node Type"] for node in nodes}, nodes
    assert any(node.get("Index Name", "").startswith("deals_") for node in nodes), nodes


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


# ------------------------------------------------------------------ board and forecast


def test_the_board_pages_each_column_newest_first(org: Org) -> None:
    created = [org.deal(title=f"p{i}")["id"] for i in range(5)]
    org.deal(title="q", stage_id=org.stage("Qualification"), currency="EUR", value=Decimal("7"))
    board = pipeline_board(org.pipeline.id, org.owner, limit=2, unit_of_work=org.db.unit_of_work)
    first, second = board.columns[0], board.columns[1]
    assert [str(d.id) for d in first.deals.items] == created[::-1][:2]
    assert first.deal_count == 5 and first.deals.next is not None
    assert second.deal_count == 1 and second.deals.next is None
    assert second.value_by_currency == {"EUR": Decimal("7.00")}
    assert [c.deal_count for c in board.columns[2:]] == [0, 0, 0, 0]
    rest = list_deals(
        org.owner,
        DealFilters(stage_id=org.stage("Prospecting")),
        DealSort(),
        PageRequest(10, first.deals.next),
        unit_of_work=org.db.unit_of_work,
    )
    assert [str(d.id) for d in rest.items] == created[::-1][2:]


def test_the_forecast_groups_by_stage_month_currency_and_probability(org: Org) -> None:
    org.deal(value=Decimal("1000"), expected_close_date=date(2026, 3, 5))
    org.deal(value=Decimal("1000"), expected_close_date=date(2026, 3, 28), probability=50)
    org.deal(value=Decimal("200"), stage_id=org.stage("Won"), expected_close_date=date(2026, 4, 1))
    org.deal(value=Decimal("300"), stage_id=org.stage("Lost"), lost_reason="price")
    forecast = pipeline_forecast(org.pipeline.id, org.owner, unit_of_work=org.db.unit_of_work)
    usd = forecast["currencies"][0]
    # 1000 x 10% + 1000 x 50% (override) + 200 x 100% + 300 x 0%
    assert usd["weighted_value"] == "800.00" and usd["value"] == "2500.00"
    months = {m["month"]: m["weighted_value"] for m in usd["by_month"]}
    assert months == {"2026-03": "600.00", "2026-04": "200.00", None: "0.00"}
    stages = {s["name"]: (s["deal_count"], s["weighted_value"]) for s in usd["by_stage"]}
    assert stages["Prospecting"] == (2, "600.00") and stages["Lost"] == (1, "0.00")


# ------------------------------------------------------------------ history, stages, sign-up


def test_stage_history_keeps_each_stay_with_its_times(org: Org) -> None:
    deal = org.deal()
    for stage in ("Proposal", "Lost"):
        update_deal(
            uuid.UUID(deal["id"]),
            {"stage_id": org.stage(stage), **({"lost_reason": "late"} if stage == "Lost" else {})},
            RequestContext(org.owner),
            unit_of_work=org.db.unit_of_work,
        )
    stays = deal_stage_history(
        uuid.UUID(deal["id"]), org.owner, PageRequest(50), unit_of_work=org.db.unit_of_work
    ).items
    assert [(s.stage_name, s.reason) for s in stays] == [
        ("Prospecting", None),
        ("Proposal", None),
        ("Lost", "late"),
    ]
    assert stays[0].left_at == stays[1].entered_at and stays[2].left_at is None
    assert all(s.left_at is None or s.left_at >= s.entered_at for s in stays)


def test_a_stage_with_deals_cannot_be_removed(org: Org) -> None:
    org.deal(stage_id=org.stage("Negotiation"))
    specs = [
        StageSpec(s.name, s.kind, s.probability, s.id)
        for s in org.pipeline.stages
        if s.name != "Negotiation"
    ]
    with pytest.raises(Conflict):
        update_pipeline(
            org.pipeline.id,
            PipelineChanges(stages=specs),
            RequestContext(org.owner),
            unit_of_work=org.db.unit_of_work,
        )


def test_stages_can_be_reordered_renamed_added_and_removed(org: Org) -> None:
    deal = org.deal(stage_id=org.stage("Proposal"))
    stages = {s.name: s for s in org.pipeline.stages}
    specs = [
        StageSpec("Offer", StageKind.OPEN, 60, stages["Proposal"].id),
        StageSpec("Prospecting", StageKind.OPEN, 10, stages["Prospecting"].id),
        StageSpec("Demo", StageKind.OPEN, 40),
        StageSpec("Won", StageKind.WON, None, stages["Won"].id),
        StageSpec("Lost", StageKind.LOST, None, stages["Lost"].id),
    ]
    updated = update_pipeline(
        org.pipeline.id,
        PipelineChanges(name="Direct", stages=specs),
        RequestContext(org.owner),
        unit_of_work=org.db.unit_of_work,
    )
    assert [s["name"] for s in updated["stages"]] == ["Offer", "Prospecting", "Demo", "Won", "Lost"]
    assert updated["name"] == "Direct" and updated["version"] == 2
    reread = get_deal(uuid.UUID(deal["id"]), org.owner, unit_of_work=org.db.unit_of_work)
    assert reread["probability"] == 60  # deals inherit the stage's new default


def test_sign_up_creates_the_default_pipeline_in_its_transaction(db: PostgresDatabase) -> None:
    class PlainHasher:
        def hash(self, password: str) -> str:
            return "h:" + password

        def verify(self, password_hash: str, password: str) -> bool:
            return password_hash == "h:" + password

    slug = f"su-{uuid.uuid4().hex[:8]}"
    tenant, _ = sign_up(
        SignUp("Signed", slug, f"o@{slug}.example.com", "correct horse battery", "O"),
        unit_of_work=db.unit_of_work,
        hasher=PlainHasher(),
    )
    with db.unit_of_work(tenant.id) as uow:
        default = uow.pipelines.get_default()
    assert default is not None and default.name == "Sales" and len(default.stages) == 6


def test_the_plan_limits_pipelines_including_archived_ones(org: Org, admin_conn: Any) -> None:
    def create(name: str) -> dict[str, Any]:
        body, _ = create_pipeline(
            NewPipeline(name),
            RequestContext(org.owner),
            unit_of_work=org.db.unit_of_work,
            request={"name": name},
        )
        return body

    with pytest.raises(PlanLimitExceeded):  # the free plan: one pipeline, the default
        create("Second")
    admin_conn.run("UPDATE tenants SET plan = 'pro' WHERE id = :id", id=org.id)
    second = create("Second")
    assert not second["is_default"]
    with org.db.unit_of_work(org.id) as uow:
        used, limit, _ = uow.usage.lock_level("pipelines")
    assert (used, limit) == (2, 20)


def test_with_the_broker_down_a_stage_move_commits_and_its_events_wait_in_the_outbox(
    org: Org, app_pool: ConnectionPool, admin_conn: Any
) -> None:
    class BrokerDown:
        def publish(self, events: Sequence[CloudEvent]) -> None:
            raise ConnectionError("broker unreachable")

    deal = org.deal()
    moved = update_deal(
        uuid.UUID(deal["id"]),
        {"stage_id": org.stage("Won")},
        RequestContext(org.owner),
        unit_of_work=PostgresDatabase(app_pool, BrokerDown()).unit_of_work,
    )
    assert moved["status"] == "won"
    rows = admin_conn.run(
        "SELECT type, published_at FROM outbox WHERE envelope->>'subject' = :subject"
        " AND type <> 'crm.deal.created' ORDER BY created_at",
        subject=f"deals/{deal['id']}",
    )
    assert [(t, published) for t, published in rows] == [
        ("crm.deal.updated", None),
        ("crm.deal.stage_changed", None),
        ("crm.deal.won", None),
    ]  # the relay's sweep publishes them


# ------------------------------------------------------------------ tenancy


def test_rls_hides_every_table_from_other_tenants_and_unscoped_sessions(
    org: Org, db: PostgresDatabase, migrated: MigrationResult
) -> None:
    deal = org.deal()
    update_deal(
        uuid.UUID(deal["id"]),
        {"stage_id": org.stage("Proposal")},
        RequestContext(org.owner),
        unit_of_work=db.unit_of_work,
    )
    other, _ = make_tenant(db, "deals-other")
    conn = connect(migrated.app_url)
    try:
        for table in TABLES:
            assert conn.run(f"SELECT count(*) FROM {table}")[0][0] == 0, table  # no tenant
            begin_for_tenant(conn, other.id)
            assert conn.run(f"SELECT count(*) FROM {table}")[0][0] == 0, table
            conn.run("ROLLBACK")
            begin_for_tenant(conn, org.id)
            assert conn.run(f"SELECT count(*) FROM {table}")[0][0] > 0, table
            conn.run("ROLLBACK")
    finally:
        conn.close()


def test_every_new_table_forces_row_level_security(admin_conn: Any) -> None:
    rows = admin_conn.run(
        "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class"
        " WHERE relname = ANY(:names) AND relkind = 'r'",
        names=TABLES,
    )
    assert {name: (on, forced) for name, on, forced in rows} == {t: (True, True) for t in TABLES}


def test_the_schema_refuses_cross_tenant_references(org: Org, db: PostgresDatabase) -> None:
    """Even SQL that bypasses the services cannot put a deal of tenant B into A's pipeline or
    A's stage, nor write a row for tenant A while scoped to B."""
    other, _ = make_tenant(db, "deals-x")
    stage = org.pipeline.stages[0]
    with db.unit_of_work(other.id) as uow:
        conn = uow._conn
        assert conn is not None
        with pytest.raises(pg8000.native.DatabaseError) as caught:
            conn.run(
                "INSERT INTO deals (id, tenant_id, title, currency, pipeline_id, stage_id,"
                " status, stage_entered_at) VALUES (:id, :t, 'x', 'USD', :p, :s, 'open', now())",
                id=uuid.uuid4(),
                t=other.id,
                p=org.pipeline.id,
                s=stage.id,
            )
        assert caught.value.args[0]["C"] == "23503"  # foreign key: (tenant, pipeline)
    with db.unit_of_work(other.id) as uow:
        conn = uow._conn
        assert conn is not None
        with pytest.raises(pg8000.native.DatabaseError) as caught:
            conn.run(
                "INSERT INTO pipelines (id, tenant_id, name) VALUES (:id, :t, 'sneaky')",
                id=uuid.uuid4(),
                t=org.id,
            )
        assert caught.value.args[0]["C"] == "42501"  # row-level security WITH CHECK


def test_the_app_role_cannot_hard_delete_deals_or_history(org: Org, db: PostgresDatabase) -> None:
    org.deal()
    for table in ("deals", "deal_stage_history", "pipelines"):
        with db.unit_of_work(org.id) as uow:
            conn = uow._conn
            assert conn is not None
            with pytest.raises(pg8000.native.DatabaseError) as caught:
                conn.run(f"DELETE FROM {table}")
            assert caught.value.args[0]["C"] == "42501", table  # permission denied


# ------------------------------------------------------------------ concurrency


def _in_parallel(count: int, work: Callable[[], Any]) -> list[Any]:
    """Run `work` on `count` threads released together; results or raised exceptions."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work()
        except Exception as error:  # collected: the test asserts on them
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_parallel_posts_with_one_idempotency_key_make_one_deal(org: Org) -> None:
    def post() -> tuple[dict[str, Any], bool]:
        return create_deal(
            NewDeal(title="Once"),
            RequestContext(org.owner),
            unit_of_work=org.db.unit_of_work,
            request={"title": "Once"},
            idempotency_key="parallel-1",
        )

    results = _in_parallel(4, post)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({body["id"] for body, _ in results}) == 1
    assert sorted(replayed for _, replayed in results) == [False, True, True, True]
    listed = list_deals(
        org.owner, DealFilters(), DealSort(), PageRequest(50), unit_of_work=org.db.unit_of_work
    )
    assert [d.title for d in listed.items] == ["Once"]


def test_two_patches_with_the_same_etag_one_wins_one_gets_412(org: Org) -> None:
    deal = org.deal()
    seen = Precondition.from_header(f'"{deal["version"]}"')
    titles = iter(["first", "second"])
    lock = threading.Lock()

    def patch() -> dict[str, Any]:
        with lock:
            title = next(titles)
        return update_deal(
            uuid.UUID(deal["id"]),
            {"title": title},
            RequestContext(org.owner),
            unit_of_work=org.db.unit_of_work,
            precondition=seen,
        )

    results = _in_parallel(2, patch)
    failures = [r for r in results if isinstance(r, Exception)]
    assert len(failures) == 1 and isinstance(failures[0], PreconditionFailed), results
    winner = next(r for r in results if isinstance(r, dict))
    stored = get_deal(uuid.UUID(deal["id"]), org.owner, unit_of_work=org.db.unit_of_work)
    assert stored["title"] == winner["title"] and stored["version"] == deal["version"] + 1


def test_a_move_into_a_stage_removed_meanwhile_fails_cleanly(org: Org) -> None:
    """The stage check and the foreign key agree: a deal can never point at a missing stage."""
    deal = org.deal()
    specs = [
        StageSpec(s.name, s.kind, s.probability, s.id)
        for s in org.pipeline.stages
        if s.name != "Negotiation"
    ]
    update_pipeline(
        org.pipeline.id,
        PipelineChanges(stages=specs),
        RequestContext(org.owner),
        unit_of_work=org.db.unit_of_work,
    )
    with pytest.raises(ValidationFailed):
        update_deal(
            uuid.UUID(deal["id"]),
            {"stage_id": org.stage("Negotiation")},
            RequestContext(org.owner),
            unit_of_work=org.db.unit_of_work,
        )
