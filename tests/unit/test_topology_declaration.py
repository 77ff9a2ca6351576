"""The topology's two sources of truth stay in step: the MqTopology custom resource re-runs
only when its TopologySha256 property changes, and the consumers' default retry schedule in
template.yaml must match the delay queues topology.json declares."""

from __future__ import annotations

import hashlib
import json

from crm.adapters.rabbitmq.topology import DEFAULT_TOPOLOGY
from crm.domain.messaging import CONSUMERS, RetrySchedule, queue_of

from tests.unit.test_template import _functions, _template


def test_the_custom_resource_carries_the_hash_of_topology_json() -> None:
    resource = _template()["Resources"]["MqTopology"]
    expected = hashlib.sha256(DEFAULT_TOPOLOGY.read_bytes()).hexdigest()
    assert resource["Properties"]["TopologySha256"] == expected, (
        "infra/mq/topology.json changed: put its sha256 in MqTopology.TopologySha256 so the "
        "next deploy applies it"
    )


def test_every_consumer_defaults_to_the_declared_retry_schedule() -> None:
    declared = tuple(
        float(d) for d in json.loads(DEFAULT_TOPOLOGY.read_text())["retry_delays_seconds"]
    )
    schedules = {
        name: props["Environment"]["Variables"]["RETRY_DELAYS_SECONDS"]
        for name, props in _functions().items()
        if "RETRY_DELAYS_SECONDS" in (props.get("Environment") or {}).get("Variables", {})
    }
    assert schedules, "no consumer declares RETRY_DELAYS_SECONDS"
    for name, text in schedules.items():
        assert RetrySchedule.parse(text).delays_seconds == declared, name


def test_every_consumer_queue_is_declared_with_a_dead_letter_collector_source() -> None:
    queues = {q["name"] for q in json.loads(DEFAULT_TOPOLOGY.read_text())["queues"]}
    assert queues == {queue_of(c) for c in CONSUMERS}
    collector = _functions()["DeadLetterCollectorFunction"]
    sources = {q for e in collector["Events"].values() for q in e["Properties"]["Queues"]}
    assert sources == {f"{q}.dlq" for q in queues}
