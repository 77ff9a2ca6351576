"""The automation webhook action's guard: the same target policy as webhook subscriptions.

At save: every webhook action's URL is judged by the deployment's TargetPolicy (https, no
private, loopback, link-local or metadata address, after resolving the host); a refusal is a
422 naming the action's `url` field. The values of headers marked secret are sealed with the
field cipher before the definition is stored, bound to (automation, step, header), and every
view of a definition (API answers, simulations) shows them as `{"secret": true}`. At send,
the step opens them again and the pinned sender judges the target once more.

Each automation has a Standard Webhooks signing secret (`whsec_...`), sealed with the same
cipher, shown once at creation and at each rotation; its webhook actions sign with it.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from crm.automation.model import (
    ActionStep,
    ConditionStep,
    SecretHeader,
    Step,
    SwitchStep,
    WebhookAction,
    Workflow,
)
from crm.domain.audit import RequestMeta
from crm.domain.errors import NotFound, ValidationFailed
from crm.domain.tenants import Principal
from crm.domain.webhooks import (
    TargetPolicy,
    address_problems,
    new_secret,
    parse_target,
    target_addresses,
)
from crm.ports import SecretCipher, UnitOfWork, UnitOfWorkFactory
from crm.services.audit_logs import record_change

Resolver = Callable[[str, int], list[str]]
Loc = tuple[str | int, ...]
WORKFLOW_LOC: Loc = ("body", "workflow")


@dataclass(frozen=True)
class OutboundSettings:
    """What saving and running webhook actions needs: the cipher of secret headers (the
    webhook subscriptions' field cipher), the deployment's target policy, DNS."""

    cipher: SecretCipher
    policy: TargetPolicy
    resolve: Resolver


def webhook_actions(
    steps: tuple[Step, ...], loc: Loc = ("steps",)
) -> Iterator[tuple[ActionStep, WebhookAction, Loc]]:
    """Every webhook action of a tree with the location pydantic gives its fields (the
    discriminator tags included), so a service-side refusal reads like a model one."""
    for index, step in enumerate(steps):
        step_loc = (*loc, index, step.type)
        if isinstance(step, ActionStep) and isinstance(step.action, WebhookAction):
            yield step, step.action, (*step_loc, "action", "webhook")
        elif isinstance(step, ConditionStep):
            yield from webhook_actions(step.then, (*step_loc, "then"))
            yield from webhook_actions(step.else_, (*step_loc, "else"))
        elif isinstance(step, SwitchStep):
            for case_index, case in enumerate(step.cases):
                yield from webhook_actions(case.steps, (*step_loc, "cases", case_index, "steps"))
            yield from webhook_actions(step.default, (*step_loc, "default"))


def target_problems(url: str, policy: TargetPolicy, resolve: Resolver) -> list[str]:
    """Why `url` may not be called under `policy`: its shape and scheme, then its addresses."""
    target, problems = parse_target(url, policy)
    if target is None:
        return problems
    return address_problems(target_addresses(target, resolve), policy)


def check_workflow(
    workflow: Workflow, settings: OutboundSettings, *, previous: dict[str, Any] | None = None
) -> None:
    """422 naming each webhook action's field that the policy refuses, and each secret header
    of a request that brings a sealed value of its own or no value where `previous` (the
    stored definition an update replaces) has none to keep."""
    kept = _sealed_headers(previous)
    problems: list[dict[str, Any]] = []
    for step, action, loc in webhook_actions(workflow.steps):
        for message in target_problems(action.url, settings.policy, settings.resolve):
            problems.append(_problem((*loc, "url"), message))
        for name, value in action.headers.items():
            if not isinstance(value, SecretHeader):
                continue
            where = (*loc, "headers", name, "secret")
            if value.sealed is not None:
                problems.append(_problem(where, "'sealed' is not accepted: give the 'value'"))
            elif value.value is None and (step.id, name.lower()) not in kept:
                problems.append(_problem(where, "a secret header needs its 'value'"))
    if problems:
        raise ValidationFailed("a webhook action's target or headers were refused", problems)


def _sealed_headers(definition: dict[str, Any] | None) -> dict[tuple[str, str], str]:
    """(step id, header name in lower case) -> sealed value, of a stored definition."""
    found: dict[tuple[str, str], str] = {}
    for step_id, action in _webhook_dicts((definition or {}).get("steps") or []):
        for name, value in (action.get("headers") or {}).items():
            if isinstance(value, dict) and value.get("sealed"):
                found[(step_id, name.lower())] = value["sealed"]
    return found


def _problem(loc: Loc, message: str) -> dict[str, Any]:
    return {"loc": [*WORKFLOW_LOC, *loc], "msg": message, "type": "value_error"}


def header_context(automation_id: uuid.UUID | str, step_id: str, name: str) -> str:
    """What a sealed header is bound to: copied onto another automation, step or header name
    it does not decrypt."""
    return f"automation_header:{automation_id}:{step_id}:{name.lower()}"


def _webhook_dicts(steps: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for step in steps:
        action = step.get("action")
        if step.get("type") == "action" and isinstance(action, dict):
            if action.get("kind") == "webhook":
                yield step["id"], action
        elif step.get("type") == "condition":
            yield from _webhook_dicts(step.get("then") or [])
            yield from _webhook_dicts(step.get("else") or [])
        elif step.get("type") == "switch":
            for case in step.get("cases") or []:
                yield from _webhook_dicts(case.get("steps") or [])
            yield from _webhook_dicts(step.get("default") or [])


def sealed_definition(
    workflow: Workflow,
    automation_id: uuid.UUID,
    cipher: SecretCipher,
    *,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The definition to store: secret header values replaced by their sealed form; a secret
    header given without a value keeps the sealed value of `previous` (same step and name:
    the sealed value is bound to them). Call check_workflow first."""
    kept = _sealed_headers(previous)
    definition = workflow.model_dump(mode="json")
    for step_id, action in _webhook_dicts(definition["steps"]):
        for name, value in (action.get("headers") or {}).items():
            if isinstance(value, dict) and value.get("secret"):
                plain = value.get("value")
                sealed = (
                    cipher.encrypt(plain, context=header_context(automation_id, step_id, name))
                    if plain is not None
                    else kept[(step_id, name.lower())]
                )
                action["headers"][name] = {"secret": True, "sealed": sealed}
    return definition


def public_definition(definition: dict[str, Any]) -> dict[str, Any]:
    """A stored definition as it may be shown: secret headers as `{"secret": true}`."""
    shown = copy.deepcopy(definition)
    for _, action in _webhook_dicts(shown.get("steps") or []):
        headers = action.get("headers") or {}
        for name, value in headers.items():
            if isinstance(value, dict):
                headers[name] = {"secret": True}
    return shown


def open_headers(
    action: WebhookAction,
    automation_id: uuid.UUID | str,
    step_id: str,
    cipher: SecretCipher | None,
) -> dict[str, str]:
    """The headers to send, secret ones decrypted (for the request only: never logged)."""
    opened: dict[str, str] = {}
    for name, value in action.headers.items():
        if isinstance(value, str):
            opened[name] = value
        elif value.sealed is None:  # the service stores every secret header sealed
            raise ValueError(f"the secret header {name!r} has no sealed value")
        elif cipher is None:
            raise RuntimeError("secret headers need the field cipher: wire it")
        else:
            context = header_context(automation_id, step_id, name)
            opened[name] = cipher.decrypt(value.sealed, context=context)
    return opened


# ------------------------------------------------------------------ the signing secret


def signing_secret_context(automation_id: uuid.UUID | str) -> str:
    """What an automation's sealed signing secret is bound to."""
    return f"automation_webhook_secret:{automation_id}"


def issue_signing_secret(uow: UnitOfWork, automation_id: uuid.UUID, cipher: SecretCipher) -> str:
    """A new `whsec_` secret for the automation, stored sealed (replacing the one it had);
    returned in clear once, for the answer that shows it."""
    secret = new_secret()
    sealed = cipher.encrypt(secret, context=signing_secret_context(automation_id))
    uow.automation_webhook_secrets.put(automation_id, sealed)
    return secret


def signing_secret(uow: UnitOfWork, automation_id: uuid.UUID, cipher: SecretCipher) -> str | None:
    sealed = uow.automation_webhook_secrets.get(automation_id)
    if sealed is None:
        return None
    return cipher.decrypt(sealed, context=signing_secret_context(automation_id))


def rotate_signing_secret(
    automation_id: uuid.UUID,
    principal: Principal,
    *,
    unit_of_work: UnitOfWorkFactory,
    cipher: SecretCipher,
    meta: RequestMeta | None = None,
) -> dict[str, Any]:
    """POST /automations/{id}/webhook-secret/rotate: a new secret replaces the old one at
    once (the next webhook is signed with it); the answer is the only place it is shown.
    Audited without the secret. Another tenant's automation is 404 (row security)."""
    with unit_of_work(principal.tenant_id) as uow:
        if uow.automations.get(automation_id) is None:
            raise NotFound(f"automation {automation_id} not found")
        secret = issue_signing_secret(uow, automation_id, cipher)
        record_change(
            uow, principal, "automation.webhook_secret_rotated", entity_type="automation",
            entity_id=str(automation_id), before=None, after={"webhook_secret": "rotated"},
            meta=meta or RequestMeta(),
        )  # fmt: skip
        uow.commit()
    return {"automation_id": str(automation_id), "webhook_secret": secret}
