"""Fixtures of the integration tests beyond tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.services import Endpoints
from tests.integration.broker_failures import BrokerFailedMessages


@pytest.fixture()
def broker_failures(endpoints: Endpoints) -> Iterator[BrokerFailedMessages]:
    """Where a consumer under test sends what it retries or dead-letters: the real broker."""
    failures = BrokerFailedMessages(endpoints.amqp_url)
    yield failures
    failures.close()
