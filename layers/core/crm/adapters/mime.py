"""An OutboundEmail as a MIME message (text, plus an HTML alternative when there is one)."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate

from crm.domain.emails import OutboundEmail


def mime_message(message: OutboundEmail) -> EmailMessage:
    mime = EmailMessage(policy=SMTP)
    mime["From"] = message.from_address
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Date"] = formatdate(usegmt=True)
    mime["Message-ID"] = message.message_id
    for name, value in message.headers.items():
        mime[name] = value
    mime.set_content(message.text)
    if message.html is not None:
        mime.add_alternative(message.html, subtype="html")
    return mime
