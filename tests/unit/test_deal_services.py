"""Pipeline and deal services on in-memory fakes: defaults, the sellers' record-level rule,
idempotency, If-Match, transitions with history and events, pipeline edits."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from crm.domain.concurrency import Precondition
from crm.domain.deals import DealFilters, DealSort, DealSortField
from crm.domain.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PlanLimitExceeded,
    PreconditionFailed,
    ValidationFailed,
)
from crm.domain.pagination import PageRequest
from crm.domain.pipelines import StageKind, StageSpec
from crm.domain.tenants import Principal, Role
from crm.services.deals import (
    NewDeal,
    create_deal,
    deal_stage_history,
    delete_deal,
    get_deal,
    list_deals,
    restore_deal,
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

from tests.unit.deal_fakes import DealStore, deal_uow_factory


class Tenant:
    """A tenant on the fakes with its default pipeline and users of several roles."""

    def __init__(self, store: DealStore) -> None:
        self.store = store
        self.id = uuid.uuid4()
        self.uow = deal_uow_factory(store)
        self.owner = self.user(Role.OWNER)
        with self.uow(self.id) as uow:
            self.pipeline = add_default_pipeline(uow, self.id, self.owner.user_id)
            uow.commit()

    def user(self, role: Role) -> Principal:
        principal = Principal(tenant_id=self.id, user_id=uuid.uuid4(), role=role)
        self.store.deal_data.active_users.add((self.id, principal.user_id))
        return principal

    def stage(self, name: str) -> uuid.UUID:
        return next(s.id for s in self.pipeline.stages if s.name == name)

    def deal(self, caller: Principal | None = None, **fields: Any) -> dict[str, Any]:
        body, _ = create_deal(
            NewDeal(**{"title": "Deal", **fields}),
            RequestContext(caller or self.owner, correlation_id="c-1"),
            unit_of_work=self.uow,
            request=fields,
        )
        return body

    def patch(
        self, deal: dict[str, Any], caller: Principal | None = None, **changes: Any
    ) -> dict[str, Any]:
        return update_deal(
            uuid.UUID(deal["id"]),
            changes,
            RequestContext(caller or self.owner),
            unit_of_work=self.uow,
        )


@pytest.fixture()
def store() -> DealStore:
    return DealStore()


@pytest.fixture()
def tenant(store: DealStore) -> Tenant:
    return Tenant(store)


def _types(store: DealStore) -> list[str]:
    return [event.type for event in store.outbox]


# ------------------------------------------------------------------ create and read


def test_sign_up_pipeline_is_the_default_with_its_event_and_audit(tenant: Tenant) -> None:
    assert tenant.pipeline.is_default
    assert _types(tenant.store) == ["crm.pipeline.created"]
    assert [entry.action for entry in tenant.store.audit] == ["pipeline.created"]


def test_a_deal_defaults_to_the_default_pipeline_first_open_stage_caller_and_currency(
    tenant: Tenant,
) -> None:
    tenant.store.deal_data.currencies[tenant.id] = "BRL"
    seller = tenant.user(Role.SELLER)
    deal = tenant.deal(seller, value=Decimal("10.5"))
    assert deal["pipeline_id"] == str(tenant.pipeline.id)
    assert deal["stage_id"] == str(tenant.stage("Prospecting"))
    assert deal["owner_id"] == str(seller.user_id) and deal["currency"] == "BRL"
    assert deal["value"] == "10.50" and deal["probability"] == 10
    assert deal["probability_override"] is None and deal["status"] == "open"
    assert _types(tenant.store)[-1] == "crm.deal.created"
    assert tenant.store.audit[-1].action == "deal.created"
    assert tenant.store.audit[-1].actor_id == seller.user_id


def test_without_a_tenant_currency_deals_are_in_usd(tenant: Tenant) -> None:
    assert tenant.deal()["currency"] == "USD"
    assert tenant.deal(currency="EUR")["currency"] == "EUR"


def test_explicit_null_owner_leaves_the_deal_unassigned(tenant: Tenant) -> None:
    assert tenant.deal(owner_id=None, assign_to_caller=False)["owner_id"] is None


def test_references_must_exist_in_the_tenant(tenant: Tenant, store: DealStore) -> None:
    other = Tenant(store)
    bad: list[dict[str, Any]] = [
        {"owner_id": other.owner.user_id, "assign_to_caller": False},
        {"owner_id": uuid.uuid4(), "assign_to_caller": False},
        {"lead_id": uuid.uuid4()},
        {"pipeline_id": other.pipeline.id},
        {"stage_id": other.stage("Proposal")},
    ]
    for fields in bad:
        with pytest.raises(ValidationFailed) as caught:
            tenant.deal(**fields)
        field = next(k for k in fields if k != "assign_to_caller")
        assert caught.value.errors[0]["loc"] == ["body", field]
    assert not any(d.tenant_id == tenant.id for d in store.deal_data.deals.values())


def test_creating_in_a_lost_stage_needs_a_reason_and_emits_lost(tenant: Tenant) -> None:
    with pytest.raises(ValidationFailed):
        tenant.deal(stage_id=tenant.stage("Lost"))
    deal = tenant.deal(stage_id=tenant.stage("Lost"), lost_reason="no budget")
    assert deal["status"] == "lost" and deal["probability"] == 0 and deal["closed_at"]
    assert _types(tenant.store)[-2:] == ["crm.deal.created", "crm.deal.lost"]


def test_another_tenants_deal_is_not_found(tenant: Tenant, store: DealStore) -> None:
    deal = tenant.deal()
    other = Tenant(store)
    with pytest.raises(NotFound):
        get_deal(uuid.UUID(deal["id"]), other.owner, unit_of_work=other.uow)
    with pytest.raises(NotFound):
        other.patch(deal, other.owner, title="mine now")


# ------------------------------------------------------------------ sellers' record-level rule


def test_a_seller_sees_and_edits_only_own_and_unassigned_deals(tenant: Tenant) -> None:
    ana, bob = tenant.user(Role.SELLER), tenant.user(Role.SELLER)
    anas = tenant.deal(ana, title="Ana's")
    bobs = tenant.deal(bob, title="Bob's")
    nobodys = tenant.deal(owner_id=None, assign_to_caller=False, title="Nobody's")
    with pytest.raises(NotFound):
        get_deal(uuid.UUID(bobs["id"]), ana, unit_of_work=tenant.uow)
    with pytest.raises(NotFound):
        tenant.patch(bobs, ana, title="taken")
    listed = list_deals(ana, DealFilters(), DealSort(), PageRequest(), unit_of_work=tenant.uow)
    assert {d.title for d in listed.items} == {"Ana's", "Nobody's"}
    assert tenant.patch(nobodys, ana, owner_id=ana.user_id)["owner_id"] == str(ana.user_id)
    manager = tenant.user(Role.MANAGER)
    everything = list_deals(
        manager, DealFilters(), DealSort(), PageRequest(), unit_of_work=tenant.uow
    )
    assert len(everything.items) == 3
    assert get_deal(uuid.UUID(anas["id"]), manager, unit_of_work=tenant.uow)["title"] == "Ana's"


def test_a_seller_cannot_give_a_deal_to_someone_else(tenant: Tenant) -> None:
    ana, bob = tenant.user(Role.SELLER), tenant.user(Role.SELLER)
    with pytest.raises(Forbidden):
        tenant.deal(ana, owner_id=bob.user_id, assign_to_caller=False)
    deal = tenant.deal(ana)
    with pytest.raises(Forbidden):
        tenant.patch(deal, ana, owner_id=bob.user_id)
    assert tenant.patch(deal, ana, owner_id=None)["owner_id"] is None


def test_the_board_and_forecast_of_a_seller_leave_out_others_deals(tenant: Tenant) -> None:
    ana, bob = tenant.user(Role.SELLER), tenant.user(Role.SELLER)
    tenant.deal(ana, value=Decimal("100"))
    tenant.deal(bob, value=Decimal("900"))
    board = pipeline_board(tenant.pipeline.id, ana, limit=10, unit_of_work=tenant.uow)
    assert board.columns[0].deal_count == 1
    assert board.columns[0].value_by_currency == {"USD": Decimal("100.00")}
    forecast = pipeline_forecast(tenant.pipeline.id, ana, unit_of_work=tenant.uow)
    assert forecast["currencies"][0]["value"] == "100.00"
    owner_view = pipeline_forecast(tenant.pipeline.id, tenant.owner, unit_of_work=tenant.uow)
    assert owner_view["currencies"][0]["value"] == "1000.00"


# ------------------------------------------------------------------ idempotency and If-Match


def test_an_idempotency_key_replays_the_first_deal_and_refuses_another_body(
    tenant: Tenant,
) -> None:
    def post(title: str) -> tuple[dict[str, Any], bool]:
        return create_deal(
            NewDeal(title=title),
            RequestContext(tenant.owner),
            unit_of_work=tenant.uow,
            request={"title": title},
            idempotency_key="key-1",
        )

    first, replayed = post("Once")
    again, replayed_again = post("Once")
    assert not replayed and replayed_again and again == first
    assert _types(tenant.store).count("crm.deal.created") == 1
    with pytest.raises(ValidationFailed) as caught:
        post("Twice")
    assert caught.value.errors[0]["loc"] == ["header", "Idempotency-Key"]


def test_a_failed_create_does_not_burn_the_idempotency_key(tenant: Tenant) -> None:
    with pytest.raises(ValidationFailed):
        create_deal(
            NewDeal(title="x", lead_id=uuid.uuid4()),
            RequestContext(tenant.owner),
            unit_of_work=tenant.uow,
            request={"x": 1},
            idempotency_key="k",
        )
    body, replayed = create_deal(
        NewDeal(title="x"),
        RequestContext(tenant.owner),
        unit_of_work=tenant.uow,
        request={"x": 1},
        idempotency_key="k",
    )
    assert not replayed and body["title"] == "x"


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "ключ"])
def test_an_unusable_idempotency_key_is_a_422(tenant: Tenant, key: str) -> None:
    with pytest.raises(ValidationFailed):
        create_deal(
            NewDeal(title="x"),
            RequestContext(tenant.owner),
            unit_of_work=tenant.uow,
            request={},
            idempotency_key=key,
        )


def test_a_stale_if_match_is_refused_and_changes_nothing(tenant: Tenant) -> None:
    deal = tenant.deal()
    stale = Precondition.from_header(f'"{deal["version"]}"')
    updated = update_deal(
        uuid.UUID(deal["id"]),
        {"title": "v2"},
        RequestContext(tenant.owner),
        unit_of_work=tenant.uow,
        precondition=stale,
    )
    assert updated["version"] == deal["version"] + 1
    with pytest.raises(PreconditionFailed):
        update_deal(
            uuid.UUID(deal["id"]),
            {"title": "v3"},
            RequestContext(tenant.owner),
            unit_of_work=tenant.uow,
            precondition=stale,
        )
    with pytest.raises(PreconditionFailed):
        delete_deal(
            uuid.UUID(deal["id"]),
            RequestContext(tenant.owner),
            unit_of_work=tenant.uow,
            precondition=stale,
        )
    assert get_deal(uuid.UUID(deal["id"]), tenant.owner, unit_of_work=tenant.uow)["title"] == "v2"


# ------------------------------------------------------------------ edits and transitions


def test_a_plain_edit_emits_updated_with_the_changed_fields_only(tenant: Tenant) -> None:
    deal = tenant.deal(value=Decimal("10"))
    updated = tenant.patch(deal, value=Decimal("12.30"), expected_close_date=date(2026, 5, 1))
    event = tenant.store.outbox[-1]
    assert event.type == "crm.deal.updated"
    assert event.data["changes"] == {
        "value": {"old": "10.00", "new": "12.30"},
        "expected_close_date": {"old": None, "new": "2026-05-01"},
    }
    assert updated["version"] == 2
    assert tenant.store.audit[-1].action == "deal.updated"
    assert set(tenant.store.audit[-1].changes) >= {"value", "expected_close_date", "version"}


def test_an_edit_that_changes_nothing_writes_nothing(tenant: Tenant) -> None:
    deal = tenant.deal(title="Same")
    events = len(tenant.store.outbox)
    assert tenant.patch(deal, title="Same") == get_deal(
        uuid.UUID(deal["id"]), tenant.owner, unit_of_work=tenant.uow
    )
    assert len(tenant.store.outbox) == events


def test_a_stage_move_records_history_and_emits_the_transition(tenant: Tenant) -> None:
    deal = tenant.deal()
    tenant.patch(deal, stage_id=tenant.stage("Proposal"))
    moved = tenant.patch(deal, stage_id=tenant.stage("Won"))
    assert moved["status"] == "won" and moved["probability"] == 100
    assert _types(tenant.store)[-5:] == [
        "crm.deal.updated",
        "crm.deal.stage_changed",
        "crm.deal.updated",
        "crm.deal.stage_changed",
        "crm.deal.won",
    ]
    assert tenant.store.audit[-1].action == "deal.stage_changed"
    history = deal_stage_history(
        uuid.UUID(deal["id"]), tenant.owner, PageRequest(), unit_of_work=tenant.uow
    )
    stays = history.items
    assert [s.stage_name for s in stays] == ["Prospecting", "Proposal", "Won"]
    assert [s.left_at is None for s in stays] == [False, False, True]
    assert stays[1].from_stage_id == tenant.stage("Prospecting")
    assert stays[0].left_at == stays[1].entered_at


def test_moving_to_lost_needs_a_reason_and_reopening_clears_it(tenant: Tenant) -> None:
    deal = tenant.deal()
    with pytest.raises(ValidationFailed) as caught:
        tenant.patch(deal, stage_id=tenant.stage("Lost"))
    assert caught.value.errors[0]["loc"] == ["body", "lost_reason"]
    lost = tenant.patch(deal, stage_id=tenant.stage("Lost"), lost_reason="went with a rival")
    assert lost["lost_reason"] == "went with a rival"
    assert tenant.store.outbox[-1].data["reason"] == "went with a rival"
    reopened = tenant.patch(deal, stage_id=tenant.stage("Proposal"))
    assert reopened["lost_reason"] is None and reopened["status"] == "open"


def test_a_closed_deal_refuses_a_probability_override(tenant: Tenant) -> None:
    deal = tenant.deal(probability=70)
    with pytest.raises(ValidationFailed) as caught:
        tenant.patch(deal, stage_id=tenant.stage("Won"), probability=70)
    assert caught.value.errors[0]["loc"] == ["body", "probability"]
    assert tenant.patch(deal, probability=None)["probability"] == 10


def test_moving_to_another_pipeline_lands_in_its_first_open_stage(tenant: Tenant) -> None:
    tenant.store.deal_data.pipeline_limit = None
    other, _ = create_pipeline(
        NewPipeline(
            "Partners", [StageSpec("Intro", StageKind.OPEN, 5), StageSpec("Signed", StageKind.WON)]
        ),
        RequestContext(tenant.owner),
        unit_of_work=tenant.uow,
        request={},
    )
    deal = tenant.deal()
    moved = tenant.patch(deal, pipeline_id=uuid.UUID(other["id"]))
    assert moved["pipeline_id"] == other["id"]
    assert moved["stage_id"] == other["stages"][0]["id"] and moved["probability"] == 5


def test_soft_delete_hides_the_deal_and_restore_brings_it_back(tenant: Tenant) -> None:
    deal = tenant.deal()
    deal_id = uuid.UUID(deal["id"])
    delete_deal(deal_id, RequestContext(tenant.owner), unit_of_work=tenant.uow)
    with pytest.raises(NotFound):
        get_deal(deal_id, tenant.owner, unit_of_work=tenant.uow)
    assert (
        list_deals(
            tenant.owner, DealFilters(), DealSort(), PageRequest(), unit_of_work=tenant.uow
        ).items
        == []
    )
    restored, _ = restore_deal(deal_id, RequestContext(tenant.owner), unit_of_work=tenant.uow)
    assert restored["deleted_at"] is None and restored["version"] == 3
    again, _ = restore_deal(deal_id, RequestContext(tenant.owner), unit_of_work=tenant.uow)
    assert again["version"] == 3  # restoring a live deal changes nothing
    assert _types(tenant.store)[-2:] == ["crm.deal.deleted", "crm.deal.restored"]


def test_lists_sort_and_page_through_every_deal_once(tenant: Tenant) -> None:
    for i, when in enumerate([date(2026, 5, 1), None, date(2026, 1, 1), None, date(2026, 3, 1)]):
        tenant.deal(title=f"d{i}", expected_close_date=when)
    for descending in (False, True):
        sort = DealSort(DealSortField.EXPECTED_CLOSE_DATE, descending)
        seen, after = [], None
        while True:
            page = list_deals(
                tenant.owner, DealFilters(), sort, PageRequest(2, after), unit_of_work=tenant.uow
            )
            seen += [d.expected_close_date for d in page.items]
            if page.next is None:
                break
            after = page.next
        ascending = [date(2026, 1, 1), date(2026, 3, 1), date(2026, 5, 1), None, None]
        # NULLs last ascending, first descending (Postgres' defaults; one index, both ways)
        assert seen == (ascending[::-1] if descending else ascending)


# ------------------------------------------------------------------ pipelines


def test_a_stage_with_deals_cannot_be_removed_or_change_kind(tenant: Tenant) -> None:
    tenant.deal(stage_id=tenant.stage("Proposal"))
    keep = [StageSpec(s.name, s.kind, s.probability, id=s.id) for s in tenant.pipeline.stages]
    without_proposal = [spec for spec in keep if spec.name != "Proposal"]
    with pytest.raises(Conflict):
        update_pipeline(
            tenant.pipeline.id,
            PipelineChanges(stages=without_proposal),
            RequestContext(tenant.owner),
            unit_of_work=tenant.uow,
        )
    proposal_won = [
        StageSpec(s.name, StageKind.WON, None, s.id) if s.name == "Proposal" else s for s in keep
    ]
    with pytest.raises(Conflict):
        update_pipeline(
            tenant.pipeline.id,
            PipelineChanges(stages=proposal_won),
            RequestContext(tenant.owner),
            unit_of_work=tenant.uow,
        )
    without_negotiation = [spec for spec in keep if spec.name != "Negotiation"]
    updated = update_pipeline(
        tenant.pipeline.id,
        PipelineChanges(stages=without_negotiation),
        RequestContext(tenant.owner),
        unit_of_work=tenant.uow,
    )
    assert [s["name"] for s in updated["stages"]] == [
        "Prospecting",
        "Qualification",
        "Proposal",
        "Won",
        "Lost",
    ]
    assert tenant.store.outbox[-1].type == "crm.pipeline.updated"
    assert "stages" in tenant.store.outbox[-1].data["changes"]


def test_the_default_pipeline_cannot_be_archived_until_another_takes_over(
    tenant: Tenant,
) -> None:
    with pytest.raises(Conflict):
        update_pipeline(
            tenant.pipeline.id,
            PipelineChanges(archived=True),
            RequestContext(tenant.owner),
            unit_of_work=tenant.uow,
        )
    other, _ = create_pipeline(
        NewPipeline("Second", is_default=True),
        RequestContext(tenant.owner),
        unit_of_work=tenant.uow,
        request={},
    )
    assert other["is_default"]
    archived = update_pipeline(
        tenant.pipeline.id,
        PipelineChanges(archived=True),
        RequestContext(tenant.owner),
        unit_of_work=tenant.uow,
    )
    assert archived["archived"] and not archived["is_default"] and archived["version"] == 3
    with pytest.raises(ValidationFailed):
        tenant.deal(pipeline_id=tenant.pipeline.id)


def test_the_plan_limits_pipelines(tenant: Tenant) -> None:
    tenant.store.deal_data.pipeline_limit = 1
    with pytest.raises(PlanLimitExceeded):
        create_pipeline(
            NewPipeline("Second"), RequestContext(tenant.owner), unit_of_work=tenant.uow, request={}
        )
