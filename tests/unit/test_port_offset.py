"""CRM_PORT_OFFSET shifts a profile's ports so checkouts can run test servers side by side."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.services import PROFILES, ServiceError, Supervisor


def test_an_offset_shifts_every_port_of_the_profile(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CRM_PORT_OFFSET", "100")
    ports = Supervisor(tmp_path, "test").ports
    base = PROFILES["test"]
    assert ports.postgres == base.postgres + 100
    assert ports.amqp == base.amqp + 100
    assert ports.opensearch == base.opensearch + 100
    assert ports.amqp_dist == base.amqp_dist + 100
    assert ports.epmd == base.epmd + 100
    assert ports.opensearch_transport == base.opensearch_transport + 100


def test_no_offset_keeps_the_profile(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CRM_PORT_OFFSET", raising=False)
    assert Supervisor(tmp_path, "test").ports == PROFILES["test"]


@pytest.mark.parametrize("raw", ["ten", "-1", "9000"])
def test_a_bad_offset_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, raw: str) -> None:
    monkeypatch.setenv("CRM_PORT_OFFSET", raw)
    with pytest.raises(ServiceError, match="CRM_PORT_OFFSET"):
        Supervisor(tmp_path, "test")
