"""An OutboundEmail as a MIME message (text, plus an HTML alternative when there is one)."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate

from crm.domain.emails import OutboundEmail

# Headers up to RFC 5322's hard limit on one line: folding a long header without spaces (a
# List-Unsubscribe URL) would turn it into RFC 2047 encoded words no mail client follows.
POLICY = SMTP.clone(max_line_length=998)


def mime_message(message: OutboundEmail) -> EmailMessage:
    mime = EmailMessage(policy=POLICY)
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
