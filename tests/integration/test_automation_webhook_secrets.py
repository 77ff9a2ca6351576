"""An automation's webhook signing secret on real PostgreSQL: issued at creation (answered
once), stored sealed under forced row-level security, rotated with an audit row that holds no
secret, invisible to another tenant (404)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from crm.adapters.postgres.unit_of_work import PostgresDatabase
from crm.adapters.secrets.field_cipher import FieldCipher
from crm.automation.model import Workflow
from crm.domain.errors import NotFound
from crm.domain.tenants import Principal, Role
from crm.domain.webhooks import TargetPolicy
from crm.services.automation_webhooks import (
    OutboundSettings,
    rotate_signing_secret,
    signing_secret,
)
from crm.services.automations import create_automation

from tests.conftest import make_tenant

pytestmark = pytest.mark.integration

CIPHER = FieldCipher(bytes(range(32)))
OUTBOUND = OutboundSettings(
    cipher=CIPHER, policy=TargetPolicy(), resolve=lambda host, port: ["93.184.216.34"]
)
STEP_ARN = "arn:aws:lambda:us-east-1:123456789012:function:automation_step"


def _owner(db: PostgresDatabase) -> Principal:
    tenant, owner = make_tenant(db, "hooksecret")
    return Principal(tenant_id=tenant.id, user_id=owner.id, role=Role.OWNER)


def _create(db: PostgresDatabase, owner: Principal) -> dict[str, Any]:
    workflow = Workflow.model_validate(
        {
            "trigger": {"event": "crm.lead.created"},
            "steps": [
                {
                    "id": "notify",
                    "type": "action",
                    "action": {"kind": "webhook", "url": "https://hooks.example/in"},
                }
            ],
        }
    )
    return create_automation(
        "Hook", workflow, owner, unit_of_work=db.unit_of_work, step_function_arn=STEP_ARN,
        outbound=OUTBOUND,
    )  # fmt: skip


def test_the_table_forces_row_level_security(admin_conn: Any) -> None:
    rows = admin_conn.run(
        "SELECT relrowsecurity, relforcerowsecurity FROM pg_class"
        " WHERE relname = 'automation_webhook_secrets' AND relkind = 'r'"
    )
    assert rows == [[True, True]]


def test_issued_sealed_rotated_audited_and_tenant_scoped(
    db: PostgresDatabase, admin_conn: Any
) -> None:
    owner, stranger = _owner(db), _owner(db)
    created = _create(db, owner)
    automation_id = uuid.UUID(created["id"])
    first = created["webhook_secret"]
    assert first.startswith("whsec_")
    [[sealed]] = admin_conn.run(
        "SELECT secret_encrypted FROM automation_webhook_secrets WHERE automation_id = :a",
        a=automation_id,
    )
    assert first not in sealed and sealed.startswith("v1.")
    with db.unit_of_work(owner.tenant_id) as uow:
        assert signing_secret(uow, automation_id, CIPHER) == first
    with db.unit_of_work(stranger.tenant_id) as uow:
        assert uow.automation_webhook_secrets.get(automation_id) is None

    rotated = rotate_signing_secret(
        automation_id, owner, unit_of_work=db.unit_of_work, cipher=CIPHER
    )
    second = rotated["webhook_secret"]
    assert second.startswith("whsec_") and second != first
    with db.unit_of_work(owner.tenant_id) as uow:
        assert signing_secret(uow, automation_id, CIPHER) == second
    audit = admin_conn.run(
        "SELECT changes::text FROM audit_log WHERE entity_id = :a AND action = :act",
        a=str(automation_id),
        act="automation.webhook_secret_rotated",
    )
    assert len(audit) == 1 and first not in audit[0][0] and second not in audit[0][0]

    with pytest.raises(NotFound):
        rotate_signing_secret(automation_id, stranger, unit_of_work=db.unit_of_work, cipher=CIPHER)
    with db.unit_of_work(owner.tenant_id) as uow:
        assert signing_secret(uow, automation_id, CIPHER) == second
