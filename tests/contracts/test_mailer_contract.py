"""Contract of the ``Mailer`` port: in memory, the outbox folder, and SMTP to a real server."""

from __future__ import annotations

import socket
import stat
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from cropedly_adapters.memory import InMemoryMailer
from cropedly_adapters.outbox_mailer import OutboxMailer
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


Received = Callable[[], list[tuple[str, str, str, str | None]]]


def _parts(raw: bytes) -> tuple[str, str, str, str | None]:
    """To, Subject, the plain body and the HTML body (if any) of an RFC 5322 message."""
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    plain = message.get_body(("plain",))
    page = message.get_body(("html",))
    assert plain is not None
    return (
        str(message["To"]),
        str(message["Subject"]),
        plain.get_content(),  # type: ignore[attr-defined]
        None if page is None else page.get_content(),  # type: ignore[attr-defined]
    )


@pytest.fixture(params=["memory", "outbox", "smtp"])
def mailer_and_inbox(
    request: pytest.FixtureRequest, smtp_server: tuple[int, _Inbox], tmp_path: Path
) -> tuple[Mailer, Received]:
    if request.param == "memory":
        mailer = InMemoryMailer()
        return mailer, lambda: [(m.to, m.subject, m.body, m.html) for m in mailer.outbox]
    if request.param == "outbox":
        outbox = OutboxMailer(tmp_path / "outbox", sender="noreply@cropedly.test")
        return outbox, lambda: [_parts(path.read_bytes()) for path in outbox.messages()]
    port, inbox = smtp_server
    smtp = SmtpMailer("127.0.0.1", port, sender="noreply@cropedly.test")
    return smtp, lambda: [_parts(m.as_bytes()) for m in inbox.messages]


class TestMailerContract:
    def test_a_sent_message_arrives_whole(self, mailer_and_inbox: tuple[Mailer, Received]) -> None:
        """Recipient, subject and a non-ASCII body arrive as sent."""
        mailer, received = mailer_and_inbox
        mailer.send("alice@example.com", "Reset your password", "Hello Ålice,\ntoken: abc.123\n")
        [(to, subject, body, page)] = received()
        assert ("alice@example.com", "Reset your password") == (to, subject)
        assert "Hello Ålice,\ntoken: abc.123\n" == body.replace("\r\n", "\n")
        assert page is None

    def test_an_html_alternative_arrives_too(
        self, mailer_and_inbox: tuple[Mailer, Received]
    ) -> None:
        """The HTML body travels beside the plain one, both intact."""
        mailer, received = mailer_and_inbox
        mailer.send("a@example.com", "s", "plain Ålice\n", "<p>html Ålice</p>\n")
        [(_, _, body, page)] = received()
        assert "plain Ålice\n" == body.replace("\r\n", "\n")
        assert "<p>html Ålice</p>\n" == (page or "").replace("\r\n", "\n")

    def test_messages_keep_their_order(self, mailer_and_inbox: tuple[Mailer, Received]) -> None:
        """Two messages arrive as two, in order."""
        mailer, received = mailer_and_inbox
        mailer.send("a@example.com", "one", "1")
        mailer.send("b@example.com", "two", "2")
        assert ["one", "two"] == [subject for _, subject, _, _ in received()]


class TestOutboxFiles:
    def test_files_are_owner_only_in_an_owner_only_folder(self, tmp_path: Path) -> None:
        """Each .eml holds a reset token: 0600 in a 0700 folder, whatever the umask."""
        outbox = OutboxMailer(tmp_path / "outbox")
        outbox.send("a@example.com", "s", "b")
        [path] = outbox.messages()
        assert 0o600 == stat.S_IMODE(path.stat().st_mode)
        assert 0o700 == stat.S_IMODE(path.parent.stat().st_mode)

    def test_no_partial_file_is_ever_visible(self, tmp_path: Path) -> None:
        """Only whole messages carry the .eml name; no temporary file stays behind."""
        outbox = OutboxMailer(tmp_path / "outbox")
        for n in range(5):
            outbox.send("a@example.com", f"s{n}", "b")
        assert 5 == len(outbox.messages())
        assert 5 == len(list((tmp_path / "outbox").iterdir()))

    def test_an_rfc_5322_message_with_date_and_id(self, tmp_path: Path) -> None:
        """The file is a standard message any mail client opens: CRLF lines, Date, Message-ID."""
        outbox = OutboxMailer(tmp_path / "outbox", sender="noreply@cropedly.test")
        outbox.send("a@example.com", "s", "b")
        raw = outbox.messages()[0].read_bytes()
        message = message_from_bytes(raw, policy=policy.default)
        assert b"\r\n" in raw
        assert message["Date"]
        assert message["Message-ID"]
        assert "noreply@cropedly.test" == str(message["From"])

    def test_an_unwritable_folder_raises_oserror(self, tmp_path: Path) -> None:
        """A folder that cannot be made is OSError, which the reset flow logs."""
        (tmp_path / "file").write_text("x")
        with pytest.raises(OSError):
            OutboxMailer(tmp_path / "file" / "outbox").send("a@example.com", "s", "b")


class TestSmtpFailures:
    def test_an_unreachable_server_raises_oserror(self) -> None:
        """No server listening: OSError, which the reset flow logs and swallows."""
        with pytest.raises(OSError):
            SmtpMailer("127.0.0.1", _free_port(), timeout=2).send("a@example.com", "s", "b")

    def test_no_mailer_always_fails(self) -> None:
        """With mail turned off, sending fails loudly for the log."""
        with pytest.raises(OSError, match="CROPEDLY_MAILER=off"):
            NoMailer().send("a@example.com", "s", "b")

    def test_unknown_security_is_refused(self) -> None:
        """A typo in CROPEDLY_SMTP_SECURITY fails at start-up, not at the first mail."""
        with pytest.raises(ValueError, match="starttls"):
            SmtpMailer("127.0.0.1", 25, security="ssl")
