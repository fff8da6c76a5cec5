"""``Mailer`` that writes each message as an ``.eml`` file: the embedded default.

An operator without a mail server opens ``<data dir>/outbox/`` and hands the reset
link over; any mail client opens the files. Each file appears whole or not at all
(written beside its final name, then renamed) and only its owner can read it
(0600, in a 0700 folder): it holds a reset token.
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime
from email import policy
from pathlib import Path

from cropedly_adapters.email_message import build_message

_FILE_MODE = 0o600
_DIR_MODE = 0o700


class OutboxMailer:
    """Writes ``<folder>/<UTC time>-<random>.eml``; raises ``OSError`` when it cannot."""

    def __init__(self, folder: Path, *, sender: str = "cropedly@localhost") -> None:
        self.folder = folder
        self.sender = sender

    def send(self, to: str, subject: str, body: str, html: str | None = None) -> None:
        message = build_message(self.sender, to, subject, body, html)
        data = message.as_bytes(policy=policy.SMTP)  # CRLF line ends, as RFC 5322 has them
        self.folder.mkdir(parents=True, exist_ok=True, mode=_DIR_MODE)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = f"{stamp}-{secrets.token_hex(4)}.eml"
        temporary = self.folder / f".{name}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        try:
            os.fchmod(fd, _FILE_MODE)  # exact whatever the umask
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            temporary.replace(self.folder / name)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def messages(self) -> list[Path]:
        """The written messages, oldest first."""
        return sorted(self.folder.glob("*.eml"))
