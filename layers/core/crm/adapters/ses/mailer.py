"""Sends mail through Amazon SES (API v2). Locally boto3 reaches embedded moto through
AWS_ENDPOINT_URL, whose sent messages tests can read; the sender must be a verified identity
(the local cloud verifies no-reply@crm.local)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from crm.domain.errors import UpstreamUnavailable
from crm.observability import logger


class SesMailer:
    def __init__(self, client: Any, sender: str) -> None:
        self._client = client
        self._sender = sender

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
