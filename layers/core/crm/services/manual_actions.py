"""POST /actions: one automation action run by a user, now, on one record.

The effect goes through the code automation_step runs (crm.services.automation_actions), with
the caller as the actor: history and audit rows name the user, a seller reaches only their own
or unassigned records (another's is 404, like another tenant's). The Idempotency-Key is
required; the first response is stored with the effect in one transaction, so a retry with
the same key replays it and changes nothing.

Only the record actions (add_tag, move_stage) run manually for now: send_email and webhook
need the mailer and the webhook sender wired into the API function, which is not done yet;
they are refused with 422.
"""

from __future__ import annotations

from typing import Any

from crm.automation.model import Action, AddTagAction, MoveStageAction
from crm.domain.automation_actions import ActionFailed
from crm.domain.errors import Conflict, Forbidden, PlanLimitExceeded, ValidationFailed
from crm.domain.events import CloudEvent
from crm.domain.permissions import require
from crm.ports import UnitOfWorkFactory
from crm.services import automation_actions
from crm.services.automation_simulation import RecordRef, describe
from crm.services.idempotency import claim_key
from crm.services.request_context import RequestContext

# The permission of each action's effect, per record kind it may act on.
ACTION_PERMISSIONS: dict[str, dict[str, str]] = {
    "add_tag": {"lead": "leads:update", "contact": "contacts:update"},
    "move_stage": {"deal": "deals:update"},
}
_PLURAL = {"lead": "leads", "contact": "contacts", "deal": "deals"}


class ActionRefused(ValidationFailed):
    """The action cannot be performed on this record: 422 with the reason."""


def run_manual_action(
    action: Action,
    record: RecordRef,
    context: RequestContext,
    *,
    idempotency_key: str | None,
    unit_of_work: UnitOfWorkFactory,
) -> tuple[dict[str, Any], bool]:
    """(the result, whether it is a replay of the key's first response)."""
    if idempotency_key is None:
        raise ValidationFailed(
            "the Idempotency-Key header is required",
            [{"loc": ["header", "Idempotency-Key"], "msg": "required", "type": "missing"}],
        )
    kinds = ACTION_PERMISSIONS.get(action.kind)
    if kinds is None:
        raise ActionRefused(
            f"{action.kind} cannot be run manually yet",
            [{"loc": ["body", "action", "kind"], "msg": "only add_tag and move_stage",
              "type": "value_error"}],
        )  # fmt: skip
    if record.kind not in kinds:
        raise ActionRefused(
            f"{action.kind} acts on a {' or '.join(kinds)}, not a {record.kind}",
            [{"loc": ["body", "record", "kind"], "msg": f"one of {', '.join(kinds)}",
              "type": "value_error"}],
        )  # fmt: skip
    principal = require(context.principal, kinds[record.kind])
    request = {
        "action": action.model_dump(mode="json", exclude_none=True),
        "record": {"kind": record.kind, "id": str(record.id)},
    }
    # The record actions read the record from the event they are given: this one names it.
    event = CloudEvent(
        type=f"crm.{record.kind}.manual_action",
        tenant_id=principal.tenant_id,
        subject=f"{_PLURAL[record.kind]}/{record.id}",
        data={},
    )
    with unit_of_work(principal.tenant_id) as uow:
        claim = claim_key(uow, idempotency_key, "actions.run", request)
        if claim.replay is not None:
            return claim.replay.body, True
        try:
            if isinstance(action, AddTagAction):
                result = automation_actions.add_tag(uow, action, event, context)
            else:
                assert isinstance(action, MoveStageAction)
                result = automation_actions.move_stage(uow, action, event, context)
        except (ActionFailed, PlanLimitExceeded, Conflict, Forbidden) as error:
            raise ActionRefused(f"{action.kind}: {describe(error)}", []) from error
        except ValidationFailed as error:
            raise ActionRefused(
                f"{action.kind}: {describe(error)}", error.extra.get("errors", [])
            ) from error
        body = {"action": request["action"], "record": request["record"], "result": result}
        claim.complete(200, body)
        uow.commit()
    return body, False
