"""aws:rmq batches decoded into inbound messages: bodies, Lambda's header encoding, and
messages that are not CloudEvents."""

from __future__ import annotations

import base64
import copy

from crm.adapters.rabbitmq.lambda_events import decode_header, inbound_messages

from tests.support import load_event


def _bytes(text: str) -> dict[str, list[int]]:
    return {"bytes": list(text.encode())}


def test_the_sample_batch_yields_its_cloud_event_and_headers() -> None:
    (message,) = inbound_messages(load_event("analytics_indexer/lead_created"))
    assert message.queue == "q.analytics" and message.event is not None
    assert message.event.type == "crm.lead.created"
    assert message.headers["tenantid"] == str(message.event.tenant_id)
    assert message.message_id == str(message.event.id) and message.parse_error is None


def test_lambda_header_encoding_is_undone_including_nested_tables() -> None:
    raw = {"crm-attempts": 3, "crm-last-error": _bytes("KeyError: 'é'"), "flag": True,
           "x-death": [{"reason": _bytes("expired"), "count": 1}]}  # fmt: skip
    assert decode_header(raw) == {"crm-attempts": 3, "crm-last-error": "KeyError: 'é'",
                                  "flag": True, "x-death": [{"reason": "expired", "count": 1}]}  # fmt: skip


def test_a_body_that_is_not_a_cloud_event_still_yields_a_message_with_the_reason() -> None:
    batch = copy.deepcopy(load_event("analytics_indexer/lead_created"))
    records = batch["rmqMessagesByQueue"]["q.analytics::/"]
    records.append({**records[0], "data": base64.b64encode(b'{"hello": 1}').decode()})
    records.append({**records[0], "data": "%%% not base64"})
    good, not_event, not_base64 = inbound_messages(batch)
    assert good.event is not None
    assert not_event.event is None and "not a CRM CloudEvent" in (not_event.parse_error or "")
    assert not_base64.event is None and not_base64.parse_error
