"""Contract of the ``Mailer`` port: the in-memory outbox and SMTP to a real server."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from email import message_from_bytes
from email.message import Message

import pytest
from aiosmtpd.controller import Controller

from cropedly_adapters.memory import InMemoryMailer
from cropedly_adapters.smtp_mailer import NoMailer, SmtpMailer
from cropedly_core.password_reset import Mailer


class _Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(message_from_bytes(envelope.content))  # type: ignore[attr-defined]
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, _Inbox]]:
    """A real SMTP server on loopback, started and stopped by the test."""
    inbox = _Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


Received = Callable[[], list[tuple[str, str, str]]]


@pytest.fixture(params=["memory", "smtp"])
def mailer_and_inbox(
    request: pytest.FixtureRequest, smtp_server: tuple[int, _Inbox]
) -> tuple[Mailer, Received]:
    if request.param == "memory":
        mailer = InMemoryMailer()
        return mailer, lambda: [(m.to, m.subject, m.body) for m in mailer.outbox]
    port, inbox = smtp_server
    smtp = SmtpMailer("127.0.0.1", port, sender="noreply@cropedly.test")
    return smtp, lambda: [
        (str(m["To"]), str(m["Subject"]), str(m.get_payload(decode=True).decode()))  # type: ignore[union-attr]
        for m in inbox.messages
    ]


class TestMailerContract:
    def test_a_sent_message_arrives_whole(self, mailer_and_inbox: tuple[Mailer, Received]) -> None:
        """Recipient, subject and a non-ASCII body arrive as sent."""
        mailer, received = mailer_and_inbox
        mailer.send("alice@example.com", "Reset your password", "Hello Ålice,\ntoken: abc.123\n")
        [(to, subject, body)] = received()
        assert ("alice@example.com", "Reset your password") == (to, subject)
        assert "Hello Ålice,\ntoken: abc.123\n" == body.replace("\r\n", "\n")

    def test_messages_keep_their_order(self, mailer_and_inbox: tuple[Mailer, Received]) -> None:
        """Two messages arrive as two, in order."""
        mailer, received = mailer_and_inbox
        mailer.send("a@example.com", "one", "1")
        mailer.send("b@example.com", "two", "2")
        assert ["one", "two"] == [subject for _, subject, _ in received()]


class TestSmtpFailures:
    def test_an_unreachable_server_raises_oserror(self) -> None:
        """No server listening: OSError, which the reset flow logs and swallows."""
        with pytest.raises(OSError):
            SmtpMailer("127.0.0.1", _free_port(), timeout=2).send("a@example.com", "s", "b")

    def test_no_mailer_always_fails(self) -> None:
        """Without SMTP configured, sending fails loudly for the log."""
        with pytest.raises(OSError, match="CROPEDLY_SMTP_HOST"):
            NoMailer().send("a@example.com", "s", "b")

    def test_unknown_security_is_refused(self) -> None:
        """A typo in CROPEDLY_SMTP_SECURITY fails at start-up, not at the first mail."""
        with pytest.raises(ValueError, match="starttls"):
            SmtpMailer("127.0.0.1", 25, security="ssl")
