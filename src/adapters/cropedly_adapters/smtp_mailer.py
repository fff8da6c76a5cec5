"""``Mailer`` over SMTP (smtplib), with STARTTLS or implicit TLS when configured."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage


class SmtpMailer:
    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        sender: str = "cropedly@localhost",
        username: str = "",
        password: str = "",
        security: str = "none",
        timeout: float = 10.0,
    ) -> None:
        if security not in ("none", "starttls", "tls"):
            raise ValueError("SMTP security must be none, starttls or tls")
        self.host, self.port, self.sender = host, port, sender
        self._username, self._password = username, password
        self.security, self.timeout = security, timeout

    def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if self.security == "tls":
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            if self.security == "starttls":
                client.starttls(context=context)
            if self._username:
                client.login(self._username, self._password)
            client.send_message(message)


class NoMailer:
    """Stands in when no SMTP server is configured: every send fails, and is logged."""

    def send(self, to: str, subject: str, body: str) -> None:  # noqa: ARG002
        raise OSError("no SMTP server is configured (CROPEDLY_SMTP_HOST)")
