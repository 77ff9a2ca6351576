"""The automation webhook action under the deployment's strict policy (https, public addresses
only), on real PostgreSQL: every forbidden or private target is refused at save with a 422
naming the field and nothing is stored; a name re-pointed at a private address after the save
is refused at send by the pinned sender, the step failing with "target not allowed" and
leaving no ledger row. (The local cloud relaxes the policy for its 127.0.0.1 receivers; these
are the AWS rules.)"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from crm.adapters.postgres.unit_of_work import PostgresDatabase
from crm.adapters.secrets.field_cipher import FieldCipher
from crm.adapters.webhooks.signed import PinnedWebhookSender
from crm.automation.model import Workflow
from crm.domain.errors import ValidationFailed
from crm.domain.tenants import Principal, Role
from crm.domain.webhooks import TargetPolicy
from crm.services.automation_runtime import WebhookTargetNotAllowed, execute_step
from crm.services.automation_webhooks import OutboundSettings
from crm.services.automations import create_automation

from tests.conftest import make_tenant

pytestmark = pytest.mark.integration

CIPHER = FieldCipher(bytes(range(32)))
STEP_ARN = "arn:aws:lambda:us-east-1:123456789012:function:automation_step"
DNS: dict[str, list[str]] = {
    "public.example": ["93.184.216.34"],
    "private.example": ["10.0.0.8"],
    "loopback.example": ["127.0.0.1"],
}


def resolve(host: str, port: int) -> list[str]:
    return DNS.get(host, [])


STRICT = OutboundSettings(cipher=CIPHER, policy=TargetPolicy(), resolve=resolve)
URL_LOC = ["body", "workflow", "steps", 0, "action", "action", "webhook", "url"]


def _workflow(url: str) -> Workflow:
    return Workflow.model_validate(
        {
            "trigger": {"event": "crm.lead.created"},
            "steps": [
                {"id": "notify", "type": "action", "action": {"kind": "webhook", "url": url}}
            ],
        }
    )


def _owner(db: PostgresDatabase) -> Principal:
    tenant, owner = make_tenant(db, "guard")
    return Principal(tenant_id=tenant.id, user_id=owner.id, role=Role.OWNER)


def _create(db: PostgresDatabase, owner: Principal, url: str) -> dict[str, Any]:
    return create_automation(
        "Hook", _workflow(url), owner, unit_of_work=db.unit_of_work, step_function_arn=STEP_ARN,
        outbound=STRICT,
    )  # fmt: skip


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/",
        "https://10.0.0.1/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/",
        "https://[::ffff:10.0.0.1]/",
        "https://[64:ff9b::7f00:1]/",
        "https://2130706433/",
        "https://0x7f.1/",
        "https://017700000001/",
        "https://private.example/",
        "https://loopback.example/",
        "https://unknown.example/",
        "http://public.example/",
    ],
)
def test_forbidden_and_private_targets_are_refused_at_save(
    db: PostgresDatabase, admin_conn: Any, url: str
) -> None:
    owner = _owner(db)
    with pytest.raises(ValidationFailed) as caught:
        _create(db, owner, url)
    [problem] = caught.value.extra["errors"]
    assert problem["loc"] == URL_LOC
    assert admin_conn.run(
        "SELECT count(*) FROM automations WHERE tenant_id = :t", t=owner.tenant_id
    ) == [[0]]


def test_a_name_rebound_to_a_private_address_is_refused_at_send(
    db: PostgresDatabase, admin_conn: Any
) -> None:
    owner = _owner(db)
    DNS["rebind.example"] = ["93.184.216.34"]
    created = _create(db, owner, "https://rebind.example/in")
    DNS["rebind.example"] = ["10.0.0.8"]  # re-pointed after the save
    payload = {
        "tenant_id": str(owner.tenant_id), "automation_id": created["id"], "version": 1,
        "run_id": str(uuid.uuid4()), "step_id": "notify", "event": {"id": "e1"},
        "action": created["workflow"]["steps"][0]["action"],
    }  # fmt: skip
    sender = PinnedWebhookSender(TargetPolicy(), 2, resolve=resolve)
    with pytest.raises(WebhookTargetNotAllowed, match=r"^target not allowed$"):
        execute_step(payload, unit_of_work=db.unit_of_work, webhooks=sender, cipher=CIPHER)
    assert admin_conn.run(
        "SELECT count(*) FROM action_executions WHERE tenant_id = :t", t=owner.tenant_id
    ) == [[0]]
