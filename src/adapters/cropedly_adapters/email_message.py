"""The one RFC 5322 message every real ``Mailer`` sends or writes."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid


def build_message(sender: str, to: str, subject: str, body: str, html: str | None) -> EmailMessage:
    """Plain text, plus an HTML alternative when given; dated and with a Message-ID."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    domain = sender.rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message
