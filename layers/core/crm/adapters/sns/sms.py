"""Sends text messages through Amazon SNS (Publish to a phone number). Locally boto3 reaches
embedded moto through AWS_ENDPOINT_URL, which keeps every message it was given (tests read
them from the SNS backend's `sms_messages`)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from crm.domain.errors import UpstreamUnavailable
from crm.observability import logger


class SnsSmsSender:
    def __init__(self, client: Any, sender_id: str | None = None) -> None:
        self._client = client
        self._sender_id = sender_id

    def send(self, phone_number: str, message: str) -> str:
        attributes: dict[str, Any] = {
            # Transactional: delivered with priority, as a message a user's action caused.
            "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}
        }
        if self._sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {
                "DataType": "String",
                "StringValue": self._sender_id,
            }
        try:
            response = self._client.publish(
                PhoneNumber=phone_number, Message=message, MessageAttributes=attributes
            )
        except (BotoCoreError, ClientError) as error:
            logger.warning("SNS refused a text message", extra={"error": str(error)})
            raise UpstreamUnavailable("the SMS service could not send the message") from error
        return str(response["MessageId"])
