"""``Mailer`` over SMTP (smtplib), with STARTTLS or implicit TLS when configured."""

from __future__ import annotations

import smtplib
import ssl

from cropedly_adapters.email_message import build_message


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

    def send(self, to: str, subject: str, body: str, html: str | None = None) -> None:
        message = build_message(self.sender, to, subject, body, html)
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
    """Mail turned off on purpose (``CROPEDLY_MAILER=off``): every send fails, and is logged.

    Never a silent default: without SMTP the outbox folder is the default.
    """

    def send(self, to: str, subject: str, body: str, html: str | None = None) -> None:  # noqa: ARG002
        raise OSError("mail is turned off (CROPEDLY_MAILER=off)")
