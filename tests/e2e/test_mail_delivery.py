"""Reset mail that reaches someone: the outbox folder and real SMTP, through real servers.

Each test starts ``cropedly serve`` and walks the whole way: register, forgot-password,
read the mail (an ``.eml`` file or a message on a loopback SMTP server), follow its
link's token to reset-password, log in with the new password, and see the token
issued before the reset refused.
"""

from __future__ import annotations

import re
import stat
import time
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from servers import Server, free_port, running_server, server_env

EMAIL = "reader@example.com"
OLD = "the first long passphrase"
NEW = "a second long passphrase"
_LINK = re.compile(r"^(http://127\.0\.0\.1:\d+/console/reset)#token=(\S+)$", re.MULTILINE)


def _form(**fields: str) -> dict[str, tuple[None, str]]:
    return {name: (None, value) for name, value in fields.items()}


def _wait_for(found: Callable[[], list[bytes]], seconds: float = 15.0) -> bytes:
    """The first message once it arrives (the mail is sent after the 202)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        messages = found()
        if messages:
            return messages[0]
        time.sleep(0.05)
    pytest.fail("no reset mail arrived")


def _walk_the_reset(server: Server, mail: Callable[[], list[bytes]]) -> EmailMessage:
    """Register, ask for a reset, reset with the mailed token; the old token is refused."""
    with httpx.Client(base_url=server.base, timeout=30.0) as http:
        registered = http.post(
            "/auth/v1/register", files=_form(email=EMAIL, password=OLD, name="Reader")
        )
        assert 201 == registered.status_code, registered.text
        old_token = http.post("/auth/v1/login", files=_form(email=EMAIL, password=OLD)).json()[
            "token"
        ]
        assert 202 == http.post("/auth/v1/forgot-password", files=_form(email=EMAIL)).status_code
        message = message_from_bytes(_wait_for(mail), policy=policy.default)
        assert isinstance(message, EmailMessage)
        plain = message.get_body(("plain",))
        page = message.get_body(("html",))
        assert plain is not None
        assert page is not None
        text = str(plain.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]
        link = _LINK.search(text)
        assert link is not None, text
        assert f"{server.base}/console/reset" == link.group(1)
        token = link.group(2)
        assert f"\n    {token}\n" in text  # the token on its own line, too
        assert f'href="{server.base}/console/reset#token={token}"' in page.get_content()  # type: ignore[attr-defined]
        reset = http.post("/auth/v1/reset-password", files=_form(token=token, password=NEW))
        assert 204 == reset.status_code, reset.text
        assert (
            200 == http.post("/auth/v1/login", files=_form(email=EMAIL, password=NEW)).status_code
        )
        me = http.get("/auth/v1/me", headers={"Authorization": f"Bearer {old_token}"})
        assert 401 == me.status_code
        return message


class TestOutbox:
    def test_reset_end_to_end_through_the_outbox(self, tmp_path: Path) -> None:
        """Without SMTP the mail is an owner-only .eml under <data dir>/outbox/, and it works."""
        env = server_env(tmp_path, log_level="INFO")
        outbox = tmp_path / "data" / "outbox"
        with running_server(env, tmp_path) as server:
            message = _walk_the_reset(
                server, lambda: [p.read_bytes() for p in sorted(outbox.glob("*.eml"))]
            )
            log = server.stderr.read_text()
        assert EMAIL == str(message["To"])
        [path] = outbox.glob("*.eml")
        assert 0o600 == stat.S_IMODE(path.stat().st_mode)
        assert str(outbox.resolve()) in log  # the start log says where mail goes
        assert "#token=" not in log  # the token is in no log line

    def test_mail_turned_off_says_so_at_start(self, tmp_path: Path) -> None:
        """CROPEDLY_MAILER=off is never silent: the start log warns that no reset mail is sent."""
        with running_server(server_env(tmp_path, mailer="off"), tmp_path) as server:
            time.sleep(0.2)
            log = server.stderr.read_text()
        assert "mail is turned off" in log
        assert not (tmp_path / "data" / "outbox").exists()


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[_Inbox, int]]:
    inbox, port = _Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


class TestSmtp:
    def test_reset_end_to_end_through_a_real_smtp_server(
        self, tmp_path: Path, smtp: tuple[_Inbox, int]
    ) -> None:
        """With CROPEDLY_SMTP_HOST the mail goes to the SMTP server, and nothing to the outbox."""
        inbox, port = smtp
        env = server_env(
            tmp_path,
            smtp_host="127.0.0.1",
            smtp_port=str(port),
            smtp_sender="noreply@cropedly.test",
        )
        with running_server(env, tmp_path) as server:
            message = _walk_the_reset(server, lambda: list(inbox.messages))
        assert "noreply@cropedly.test" == str(message["From"])
        assert not (tmp_path / "data" / "outbox").exists()
