"""Sends mail through Amazon SES (API v2). Locally boto3 reaches embedded moto through
AWS_ENDPOINT_URL, whose sent messages tests can read; the sender must be a verified identity
(the local cloud verifies no-reply@crm.local)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from crm.adapters.mime import mime_message
from crm.domain.emails import TENANT_TAG, OutboundEmail
from crm.domain.errors import UpstreamUnavailable
from crm.observability import logger


class SesMailer:
    name = "ses"

    def __init__(self, client: Any, sender: str, configuration_set: str | None = None) -> None:
        self._client = client
        self._sender = sender
        self._configuration_set = configuration_set

    def deliver(self, message: OutboundEmail) -> str:
        """The pipeline's transport: a raw MIME message (so headers such as List-Unsubscribe
        travel), in the configuration set whose event destination reports deliveries,
        bounces and complaints, tagged with the tenant so those reports find their way back."""
        request: dict[str, Any] = {
            "FromEmailAddress": message.from_address,
            "Destination": {"ToAddresses": [message.to]},
            "Content": {"Raw": {"Data": mime_message(message).as_bytes()}},
            "EmailTags": [{"Name": TENANT_TAG, "Value": str(message.tenant_id)},
                          {"Name": "email_id", "Value": str(message.email_id)}],
        }  # fmt: skip
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        response = self._client.send_email(**request)
        return str(response["MessageId"])

    def send(self, to: str, subject: str, text: str, html: str | None = None) -> str:
        body: dict[str, Any] = {"Text": {"Data": text, "Charset": "UTF-8"}}
        if html is not None:
            body["Html"] = {"Data": html, "Charset": "UTF-8"}
        try:
            response = self._client.send_email(
                FromEmailAddress=self._sender,
                Destination={"ToAddresses": [to]},
                Content={
                    "Simple": {"Subject": {"Data": subject, "Charset": "UTF-8"}, "Body": body}
                },
            )
        except (BotoCoreError, ClientError) as error:
            logger.warning("SES refused a message", extra={"error": str(error)})
            raise UpstreamUnavailable("the mail service could not send the message") from error
        return str(response["MessageId"])
