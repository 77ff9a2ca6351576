"""Chains of automations: which events an automation's actions can emit, and whether the
tenant's active automations form a cycle (A's action triggers B, B's triggers A, ...).

An action emits the events the service code it runs writes to the outbox; the record kind is
the one of the trigger's event (an action acts on the event's record). The map is
conservative: an action that may emit an event (a stage move may win a deal) counts as
emitting it. Pure: no I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from crm.automation.model import ActionStep, Workflow

_PERSON = ("lead", "contact")


def _emits(kind: str, entity: str) -> tuple[str, ...]:
    """The event types an action of `kind` may emit when it acts on a record of `entity`."""
    if kind in ("add_tag", "remove_tag") and entity in _PERSON:
        return (f"crm.{entity}.updated", f"crm.{entity}.tagged")  # removals are tagged too
    if kind == "update_field":
        if entity == "lead":
            return ("crm.lead.updated", "crm.lead.status_changed")
        if entity in ("contact", "deal"):
            return (f"crm.{entity}.updated",)
    if kind == "assign_owner":
        if entity in _PERSON:
            return (f"crm.{entity}.updated", f"crm.{entity}.assigned")
        if entity == "deal":
            return ("crm.deal.updated",)
    if kind == "move_stage" and entity == "deal":
        return ("crm.deal.updated", "crm.deal.stage_changed", "crm.deal.won", "crm.deal.lost")
    if kind == "create_deal" and entity in _PERSON:
        return ("crm.deal.created", "crm.deal.won", "crm.deal.lost")
    # create_note, create_task, notify_user (timeline entries), send_email, send_sms, webhook:
    # no domain event.
    return ()


def emitted_events(workflow: Workflow) -> dict[str, tuple[str, ...]]:
    """event type -> the ids of the steps that may emit it."""
    parts = workflow.trigger.event.split(".")
    entity = parts[1] if len(parts) == 3 else ""
    found: dict[str, list[str]] = {}
    for step in workflow.iter_steps():
        if isinstance(step, ActionStep):
            for event_type in _emits(step.action.kind, entity):
                found.setdefault(event_type, []).append(step.id)
    return {event_type: tuple(steps) for event_type, steps in found.items()}


@dataclass(frozen=True)
class ChainNode:
    automation_id: uuid.UUID
    name: str
    workflow: Workflow


@dataclass(frozen=True)
class ChainLink:
    """In a cycle: `automation`'s `steps` emit `event`, which triggers the next link."""

    automation_id: uuid.UUID
    name: str
    steps: tuple[str, ...]
    event: str

    def describe(self) -> str:
        return f"'{self.name}' (steps {', '.join(self.steps)}) emits {self.event}"


def find_cycle(start: ChainNode, others: Iterable[ChainNode]) -> list[ChainLink] | None:
    """A cycle through `start` in the graph of `start` and `others` (edges: an automation's
    emitted event is another's trigger), as the links from `start` back to it; None when
    there is none. Shortest first (breadth first)."""
    nodes = [start, *(node for node in others if node.automation_id != start.automation_id)]
    emitted = {node.automation_id: emitted_events(node.workflow) for node in nodes}
    by_trigger: dict[str, list[ChainNode]] = {}
    for node in nodes:
        by_trigger.setdefault(node.workflow.trigger.event, []).append(node)

    def links_from(node: ChainNode) -> Sequence[tuple[ChainLink, ChainNode]]:
        out = []
        for event_type, steps in sorted(emitted[node.automation_id].items()):
            for target in by_trigger.get(event_type, []):
                out.append((ChainLink(node.automation_id, node.name, steps, event_type), target))
        return out

    frontier: list[tuple[ChainNode, list[ChainLink]]] = [(start, [])]
    seen: set[uuid.UUID] = set()
    while frontier:
        following: list[tuple[ChainNode, list[ChainLink]]] = []
        for node, path in frontier:
            for link, target in links_from(node):
                if target.automation_id == start.automation_id:
                    return [*path, link]
                if target.automation_id not in seen:
                    seen.add(target.automation_id)
                    following.append((target, [*path, link]))
        frontier = following
    return None
