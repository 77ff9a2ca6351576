"""Queue names, delay labels, the retry schedule and the failure record in headers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from crm.domain.messaging import (
    CONSUMERS,
    FailureRecord,
    RetrySchedule,
    consumer_of_queue,
    delay_label,
    describe_error,
    retry_exchange_of,
    retry_queue_of,
)
from crm.settings import ConsumerSettings, SettingsError


def test_delay_labels_name_the_delay_queues() -> None:
    assert [delay_label(s) for s in (10, 60, 600, 3600, 1, 1.5)] == [
        "10s", "1m", "10m", "1h", "1s", "1500ms",
    ]  # fmt: skip
    assert retry_queue_of(60) == "q.retry.1m" and retry_exchange_of(60) == "crm.retry.1m"
    with pytest.raises(ValueError):
        delay_label(0)


def test_the_schedule_gives_one_delay_per_retry_then_gives_up() -> None:
    schedule = RetrySchedule.parse("10, 60,600,3600")
    assert schedule.max_attempts == 5
    assert [schedule.delay_after(n) for n in range(1, 6)] == [10, 60, 600, 3600, None]
    with pytest.raises(ValueError):
        schedule.delay_after(0)


@pytest.mark.parametrize("text", ["", "0", "10,-1", "ten"])
def test_a_bad_schedule_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        RetrySchedule.parse(text)


def test_consumer_settings_validate_the_schedule_at_the_edge() -> None:
    base = {"DATABASE_URL": "postgresql://a@h/crm", "AMQP_URL": "amqp://h"}
    assert ConsumerSettings.from_env(base).retry_schedule.delays_seconds == (10, 60, 600, 3600)
    custom = ConsumerSettings.from_env({**base, "RETRY_DELAYS_SECONDS": "1,2"})
    assert custom.retry_schedule.delays_seconds == (1, 2)
    with pytest.raises(SettingsError, match="RETRY_DELAYS_SECONDS"):
        ConsumerSettings.from_env({**base, "RETRY_DELAYS_SECONDS": "0,5"})


def test_queues_map_back_to_their_consumer() -> None:
    assert [consumer_of_queue(f"q.{c}") for c in CONSUMERS] == list(CONSUMERS)
    assert consumer_of_queue("q.analytics.dlq") == "analytics"
    assert consumer_of_queue("q.retry.10s") is None and consumer_of_queue("other") is None


def test_a_failure_record_survives_the_headers_round_trip() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)
    record = FailureRecord("automation", 3, at, at, "KeyError: 'x'")
    assert FailureRecord.from_headers(record.to_headers()) == record
    assert FailureRecord.from_headers({"tenantid": "t"}) is None
    assert FailureRecord.from_headers({**record.to_headers(), "crm-attempts": "many"}) is None


def test_error_descriptions_are_bounded() -> None:
    text = describe_error(ValueError("x" * 5000))
    assert text.startswith("ValueError: x") and len(text) == 2000
