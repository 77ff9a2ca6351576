"""Pipelines, stage transitions, the forecast's arithmetic and If-Match: pure domain rules."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from crm.domain.concurrency import Precondition, etag_for
from crm.domain.deals import (
    Deal,
    ForecastGroup,
    StageStay,
    build_forecast,
    check_invariants,
    created_events,
    move_deal,
    place_in_stage,
    updated_events,
)
from crm.domain.errors import PreconditionFailed, ValidationFailed
from crm.domain.pipelines import (
    DEFAULT_STAGES,
    Pipeline,
    Stage,
    StageKind,
    StageSpec,
    new_pipeline,
    plan_stages,
)

TENANT = uuid.uuid4()
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _pipeline(**kwargs: object) -> Pipeline:
    return new_pipeline(TENANT, "Sales", **kwargs)  # type: ignore[arg-type]


def _deal(pipeline: Pipeline, stage_name: str = "Prospecting", **fields: object) -> Deal:
    stage = next(s for s in pipeline.stages if s.name == stage_name)
    deal = Deal(
        tenant_id=TENANT,
        title="Big one",
        pipeline_id=pipeline.id,
        stage_id=stage.id,
        status=stage.kind,
        stage_probability=stage.probability,
        value=Decimal("1000.00"),
        **fields,  # type: ignore[arg-type]
    )
    place_in_stage(deal, pipeline, stage, T0)
    return deal


def _stage(pipeline: Pipeline, name: str) -> Stage:
    return next(s for s in pipeline.stages if s.name == name)


def _locs(error: ValidationFailed) -> set[tuple[object, ...]]:
    return {tuple(e["loc"]) for e in error.errors}


# ------------------------------------------------------------------ pipelines and stages


def test_the_default_pipeline_has_ordered_open_won_and_lost_stages() -> None:
    pipeline = _pipeline()
    assert [s.position for s in pipeline.stages] == list(range(len(DEFAULT_STAGES)))
    assert [s.kind for s in pipeline.stages][-2:] == [StageKind.WON, StageKind.LOST]
    assert _stage(pipeline, "Won").probability == 100 and _stage(pipeline, "Lost").probability == 0
    assert pipeline.first_open_stage().name == "Prospecting"


def test_stage_rules_name_every_offending_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        plan_stages(
            [],
            [
                StageSpec("New", StageKind.OPEN),  # no probability
                StageSpec("new", StageKind.OPEN, 10),  # duplicate name
                StageSpec("Done", StageKind.WON, 90),  # a won stage is 100
                StageSpec("Gone", StageKind.LOST, 5),  # a lost stage is 0
            ],
        )
    assert _locs(caught.value) == {
        ("body", "stages", 0, "probability"),
        ("body", "stages", 1, "name"),
        ("body", "stages", 2, "probability"),
        ("body", "stages", 3, "probability"),
    }


def test_a_pipeline_needs_an_open_stage() -> None:
    with pytest.raises(ValidationFailed) as caught:
        plan_stages([], [StageSpec("Won", StageKind.WON), StageSpec("Lost", StageKind.LOST)])
    assert ("body", "stages") in _locs(caught.value)


def test_editing_stages_keeps_ids_reorders_renames_and_adds() -> None:
    pipeline = _pipeline()
    first, second = pipeline.stages[0], pipeline.stages[1]
    planned = plan_stages(
        pipeline.stages,
        [
            StageSpec("Qualified", StageKind.OPEN, 30, id=second.id),
            StageSpec("Lead in", StageKind.OPEN, 5, id=first.id),
            StageSpec("Demo", StageKind.OPEN, 60),
            StageSpec("Won", StageKind.WON, id=_stage(pipeline, "Won").id),
        ],
    )
    assert [(s.name, s.position) for s in planned] == [
        ("Qualified", 0),
        ("Lead in", 1),
        ("Demo", 2),
        ("Won", 3),
    ]
    assert planned[0].id == second.id and planned[1].id == first.id
    assert planned[2].id not in {s.id for s in pipeline.stages}


def test_stage_ids_must_be_of_the_pipeline_and_named_once() -> None:
    pipeline = _pipeline()
    stage = pipeline.stages[0]
    with pytest.raises(ValidationFailed) as caught:
        plan_stages(
            pipeline.stages,
            [
                StageSpec("A", StageKind.OPEN, 10, id=stage.id),
                StageSpec("B", StageKind.OPEN, 10, id=stage.id),
                StageSpec("C", StageKind.OPEN, 10, id=uuid.uuid4()),
            ],
        )
    assert _locs(caught.value) == {("body", "stages", 1, "id"), ("body", "stages", 2, "id")}


def test_a_new_pipeline_cannot_name_stage_ids() -> None:
    with pytest.raises(ValidationFailed):
        _pipeline(specs=[StageSpec("A", StageKind.OPEN, 10, id=uuid.uuid4())])


# ------------------------------------------------------------------ transitions


def test_moving_records_the_transition_and_time_in_the_previous_stage() -> None:
    pipeline = _pipeline()
    deal = _deal(pipeline)
    later = T0 + timedelta(hours=5)
    transition = move_deal(
        deal,
        _stage(pipeline, "Prospecting"),
        pipeline,
        _stage(pipeline, "Proposal"),
        reason=None,
        at=later,
    )
    assert transition is not None
    assert transition.seconds_in_previous_stage == 5 * 3600
    assert deal.stage_id == _stage(pipeline, "Proposal").id and deal.stage_entered_at == later
    assert deal.effective_probability == 50 and deal.status is StageKind.OPEN


def test_moving_to_the_same_stage_is_no_transition() -> None:
    pipeline = _pipeline()
    deal = _deal(pipeline)
    stage = _stage(pipeline, "Prospecting")
    assert move_deal(deal, stage, pipeline, stage, reason=None, at=T0) is None


def test_a_lost_stage_needs_a_reason() -> None:
    pipeline = _pipeline()
    deal = _deal(pipeline)
    with pytest.raises(ValidationFailed) as caught:
        move_deal(deal, pipeline.stages[0], pipeline, _stage(pipeline, "Lost"), reason=None, at=T0)
    assert _locs(caught.value) == {("body", "lost_reason")}
    assert deal.stage_id == pipeline.stages[0].id  # unchanged


def test_closing_clears_a_probability_override_and_sets_closed_at() -> None:
    pipeline = _pipeline()
    deal = _deal(pipeline, probability=80)
    assert deal.effective_probability == 80
    move_deal(deal, pipeline.stages[0], pipeline, _stage(pipeline, "Won"), reason=None, at=T0)
    assert deal.probability is None and deal.effective_probability == 100
    assert deal.closed_at == T0 and deal.status is StageKind.WON
    move_deal(deal, _stage(pipeline, "Won"), pipeline, pipeline.stages[1], reason=None, at=T0)
    assert deal.closed_at is None and deal.status is StageKind.OPEN


def test_a_stage_of_another_pipeline_or_an_archived_pipeline_is_refused() -> None:
    pipeline, other = _pipeline(), _pipeline()
    deal = _deal(pipeline)
    with pytest.raises(ValidationFailed) as caught:
        move_deal(deal, pipeline.stages[0], pipeline, other.stages[1], reason=None, at=T0)
    assert _locs(caught.value) == {("body", "stage_id")}
    other.archived_at = T0
    with pytest.raises(ValidationFailed) as caught:
        move_deal(deal, pipeline.stages[0], other, other.stages[1], reason=None, at=T0)
    assert _locs(caught.value) == {("body", "pipeline_id")}


def test_invariants_of_lost_reason_and_probability() -> None:
    pipeline = _pipeline()
    open_deal = _deal(pipeline, lost_reason="why?")
    with pytest.raises(ValidationFailed) as caught:
        check_invariants(open_deal)
    assert _locs(caught.value) == {("body", "lost_reason")}
    won = _deal(pipeline, "Won")
    won.probability = 40
    with pytest.raises(ValidationFailed) as caught:
        check_invariants(won)
    assert _locs(caught.value) == {("body", "probability")}
    lost = _deal(pipeline, "Lost")
    with pytest.raises(ValidationFailed):
        check_invariants(lost)
    lost.lost_reason = "budget"
    check_invariants(lost)


def test_events_of_a_move_into_a_lost_stage() -> None:
    pipeline = _pipeline()
    deal = _deal(pipeline)
    before = deal.to_dict()
    transition = move_deal(
        deal, pipeline.stages[0], pipeline, _stage(pipeline, "Lost"), reason="budget", at=T0
    )
    deal.lost_reason = "budget"
    changes = {"stage_id": {"old": before["stage_id"], "new": str(deal.stage_id)}}
    events = updated_events(deal, changes, transition, "corr-1")
    assert [e.type for e in events] == [
        "crm.deal.updated",
        "crm.deal.stage_changed",
        "crm.deal.lost",
    ]
    stage_changed = events[1].data
    assert stage_changed["changes"] == changes
    assert stage_changed["from_stage"]["name"] == "Prospecting"
    assert stage_changed["to_stage"] == {
        "id": str(deal.stage_id),
        "name": "Lost",
        "kind": "lost",
        "pipeline_id": str(pipeline.id),
    }
    assert events[2].data["reason"] == "budget"
    assert {e.subject for e in events} == {f"deals/{deal.id}"}
    assert {e.correlation_id for e in events} == {"corr-1"}


def test_a_deal_created_in_a_won_stage_is_also_won() -> None:
    pipeline = _pipeline()
    deal = _deal(pipeline, "Won")
    assert [e.type for e in created_events(deal, _stage(pipeline, "Won"), None)] == [
        "crm.deal.created",
        "crm.deal.won",
    ]


def test_time_in_stage_of_the_current_stay_runs_until_now() -> None:
    stay = StageStay(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "Demo", entered_at=T0)
    assert stay.seconds_in_stage(T0 + timedelta(minutes=3)) == 180
    left = StageStay(
        uuid.uuid4(),
        uuid.uuid4(),
        uuid.uuid4(),
        "Demo",
        entered_at=T0,
        left_at=T0 + timedelta(seconds=30),
    )
    assert left.to_dict(T0 + timedelta(days=9))["seconds_in_stage"] == 30


# ------------------------------------------------------------------ forecast


def test_forecast_weighs_value_by_probability_per_stage_and_month() -> None:
    pipeline = _pipeline()
    prospecting, proposal = _stage(pipeline, "Prospecting"), _stage(pipeline, "Proposal")
    march, april = date(2026, 3, 1), date(2026, 4, 1)
    groups = [
        ForecastGroup(prospecting.id, march, "USD", 10, 2, Decimal("1000.00")),
        ForecastGroup(prospecting.id, april, "USD", 33, 1, Decimal("100.01")),
        ForecastGroup(proposal.id, march, "USD", 50, 1, Decimal("999.99")),
        ForecastGroup(proposal.id, None, "USD", 75, 1, Decimal("10.00")),
    ]
    usd = build_forecast(pipeline, groups)["currencies"][0]
    # 1000 x 10% + 100.01 x 33% + 999.99 x 50% + 10 x 75% = 100 + 33.0033 + 499.995 + 7.5
    assert usd["currency"] == "USD" and usd["deal_count"] == 5
    assert usd["value"] == "2110.00" and usd["weighted_value"] == "640.50"
    stages = {s["name"]: s for s in usd["by_stage"]}
    assert stages["Prospecting"]["weighted_value"] == "133.00"  # 133.0033
    assert stages["Proposal"]["weighted_value"] == "507.50"  # 507.495: half up
    assert stages["Won"] == {
        **stages["Won"],
        "deal_count": 0,
        "value": "0.00",
        "weighted_value": "0.00",
    }
    assert [s["name"] for s in usd["by_stage"]] == [s.name for s in pipeline.stages]
    months = [(m["month"], m["weighted_value"]) for m in usd["by_month"]]
    assert months == [("2026-03", "600.00"), ("2026-04", "33.00"), (None, "7.50")]


def test_forecast_never_adds_currencies_together() -> None:
    pipeline = _pipeline()
    stage = pipeline.stages[0]
    forecast = build_forecast(
        pipeline,
        [
            ForecastGroup(stage.id, None, "USD", 10, 1, Decimal("100.00")),
            ForecastGroup(stage.id, None, "BRL", 10, 1, Decimal("500.00")),
        ],
    )
    assert [(c["currency"], c["weighted_value"]) for c in forecast["currencies"]] == [
        ("BRL", "50.00"),
        ("USD", "10.00"),
    ]


def test_an_empty_pipeline_has_an_empty_forecast() -> None:
    pipeline = _pipeline()
    assert build_forecast(pipeline, []) == {"pipeline_id": str(pipeline.id), "currencies": []}


# ------------------------------------------------------------------ If-Match


@pytest.mark.parametrize(
    ("header", "version", "passes"),
    [
        ('"3"', 3, True),
        ('"3"', 4, False),
        ('"2", "3"', 3, True),
        ("*", 9, True),
        ('W/"3"', 3, False),  # If-Match compares strongly
        ("3", 3, False),  # an unquoted tag is not the ETag we sent
        ("garbage", 1, False),
    ],
)
def test_if_match(header: str, version: int, passes: bool) -> None:
    precondition = Precondition.from_header(header)
    if passes:
        precondition.check(version, "deal x")
    else:
        with pytest.raises(PreconditionFailed):
            precondition.check(version, "deal x")


def test_the_etag_is_the_quoted_version() -> None:
    assert etag_for(7) == '"7"'
