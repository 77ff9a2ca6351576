"""Sends mail through an SMTP server with smtplib: STARTTLS unless explicitly turned off (a
local Mailpit), login when credentials are configured (read from Secrets Manager by
crm.bootstrap). One connection per message: a Lambda's batch is small and an idle SMTP
connection is closed by most servers within a minute anyway."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from crm.adapters.mime import mime_message
from crm.domain.emails import OutboundEmail


@dataclass(frozen=True)
class SmtpCredentials:
    username: str
    password: str


class SmtpMailer:
    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        starttls: bool = True,
        credentials: Callable[[], SmtpCredentials | None] = lambda: None,
        timeout_seconds: float = 10.0,
    ) -> None:
        self._host = host
        self._port = port
        self._starttls = starttls
        self._credentials = credentials
        self._timeout = timeout_seconds

    def deliver(self, message: OutboundEmail) -> str:
        mime = mime_message(message)
        with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as client:
            client.ehlo()
            if self._starttls:
                # Refuses to go on in clear text: a server without STARTTLS raises here.
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            credentials = self._credentials()
            if credentials is not None:
                client.login(credentials.username, credentials.password)
            refused = client.send_message(mime, message.from_address, [message.to])
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)
        return message.message_id
