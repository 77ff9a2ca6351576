"""Messages out of a Lambda `aws:rmq` batch (Amazon MQ for RabbitMQ event source)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from crm.domain.events import CloudEvent
from crm.domain.messaging import InboundMessage


def decode_header(value: Any) -> Any:
    """Header values as Lambda serialises them, back to Python: a string arrives as
    {"bytes": [...]} (UTF-8), tables and arrays nest, numbers and booleans are plain."""
    if isinstance(value, dict):
        if set(value) == {"bytes"} and isinstance(value["bytes"], list):
            return bytes(b & 0xFF for b in value["bytes"]).decode("utf-8", errors="replace")
        return {str(key): decode_header(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decode_header(item) for item in value]
    return value


def inbound_messages(event: dict[str, Any]) -> list[InboundMessage]:
    """Every message of the batch, in order. A body that is not a CRM CloudEvent still yields
    a message (event None, with the reason), for the consumer to report."""
    messages: list[InboundMessage] = []
    for queue_and_vhost, records in (event.get("rmqMessagesByQueue") or {}).items():
        queue = queue_and_vhost.rsplit("::", 1)[0]
        for record in records:
            properties = record.get("basicProperties") or {}
            headers = decode_header(properties.get("headers") or {})
            body = b""
            cloud_event: CloudEvent | None = None
            parse_error: str | None = None
            try:
                body = base64.b64decode(record.get("data") or "", validate=True)
                cloud_event = CloudEvent.from_json(body)
            except (ValueError, KeyError, TypeError, binascii.Error) as error:
                parse_error = f"{type(error).__name__}: {error}"
            messages.append(
                InboundMessage(
                    queue=queue,
                    body=body,
                    headers=headers,
                    message_id=properties.get("messageId"),
                    redelivered=bool(record.get("redelivered")),
                    event=cloud_event,
                    parse_error=parse_error,
                )
            )
    return messages
