"""Logs, request ids, metrics and readiness of a real ``cropedly serve`` (docs/operations.md).

The server runs with DEBUG logging in JSON; the tests drive sign-in, password reset,
API keys, enhancement and downloads, then read everything it logged.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from servers import Server, create_user, running_server, server_env

pytestmark = pytest.mark.slow

PRO, PRO_PASSWORD = "pro@example.com", "the pro account's long passphrase"
NEW_PASSWORD = "a brand new long passphrase 9"
_TOKEN_IN_MAIL = re.compile(r"#token=(\S+)")


def _form(**fields: str) -> dict[str, tuple[None, str]]:
    return {name: (None, value) for name, value in fields.items()}


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 12), (120, 60, 30)).save(out, "PNG")
    return out.getvalue()


def _log_lines(server: Server) -> list[dict[str, Any]]:
    """Every line the server wrote, parsed; all of them must be JSON (bar the CLI's note)."""
    entries = []
    for line in server.stderr.read_text().splitlines():
        if not line.strip() or line.startswith("data folder:"):
            continue
        entries.append(json.loads(line))  # a line that is not JSON fails the test here
    return entries


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = server_env(tmp_path, log_level="DEBUG", log_format="json")
    create_user(env, PRO, PRO_PASSWORD, "Pro", "pro")
    return env


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    with running_server(env, tmp_path) as running:
        yield running


def _wait_for_mail(outbox: Path) -> str:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = sorted(outbox.glob("*.eml"))
        if found:
            message = message_from_bytes(found[0].read_bytes(), policy=policy.default)
            assert isinstance(message, EmailMessage)
            plain = message.get_body(("plain",))
            assert plain is not None
            return str(plain.get_content())  # type: ignore[attr-defined]
        time.sleep(0.05)
    pytest.fail("no reset mail arrived")


class TestLogs:
    def test_no_secret_reaches_the_logs(self, server: Server, tmp_path: Path) -> None:
        """Passwords, tokens, API keys, reset tokens and link signatures never appear."""
        secrets: list[str] = [PRO_PASSWORD, NEW_PASSWORD]
        with httpx.Client(base_url=server.base, timeout=30.0) as http:
            login = http.post("/auth/v1/login", files=_form(email=PRO, password=PRO_PASSWORD))
            assert 200 == login.status_code, login.text
            token = login.json()["token"]
            secrets.append(token)
            bearer = {"Authorization": f"Bearer {token}"}
            wrong = "a wrong but long passphrase"
            secrets.append(wrong)
            assert (
                401
                == http.post("/auth/v1/login", files=_form(email=PRO, password=wrong)).status_code
            )
            key = http.post("/auth/v1/keys", headers=bearer, files=_form(name="ci"))
            assert 201 == key.status_code, key.text
            api_key = key.json()["key"]
            secrets.append(api_key)
            exchanged = http.post("/auth/v1/token", files=_form(apiKey=api_key))
            assert 200 == exchanged.status_code, exchanged.text
            secrets.append(exchanged.json()["token"])
            enhanced = http.post(
                "/images/v1",
                headers={**bearer, "X-Request-Id": "enhance-1"},
                files=[("images", ("a.png", _png(), "image/png"))],
            )
            assert 200 == enhanced.status_code, enhanced.text
            url = enhanced.json()[0]["url"]
            secrets.append(url.split("sig=")[1])
            assert 200 == http.get(url).status_code
            assert 403 == http.get(url.replace("sig=", "sig=0")).status_code
            assert 202 == http.post("/auth/v1/forgot-password", files=_form(email=PRO)).status_code
            mail = _wait_for_mail(tmp_path / "data" / "outbox")
            match = _TOKEN_IN_MAIL.search(mail)
            assert match is not None, mail
            reset_token = match.group(1)
            secrets.append(reset_token)
            reset = http.post(
                "/auth/v1/reset-password",
                files=_form(token=reset_token, password=NEW_PASSWORD),
            )
            assert 204 == reset.status_code, reset.text
            assert (
                200
                == http.post(
                    "/auth/v1/login", files=_form(email=PRO, password=NEW_PASSWORD)
                ).status_code
            )
        time.sleep(0.3)  # the last access-log lines
        text = server.stderr.read_text()
        entries = _log_lines(server)
        assert any(e["logger"] == "uvicorn.access" for e in entries)
        assert any(e["level"] == "DEBUG" for e in entries)
        for secret in secrets:
            assert secret not in text, f"a secret ({secret[:6]}...) is in the log"
        # The signature of the download link is the piece most likely to leak.
        assert "sig=REDACTED" in text

    def test_every_line_of_a_request_names_it(self, server: Server) -> None:
        with httpx.Client(base_url=server.base, timeout=30.0) as http:
            login = http.post("/auth/v1/login", files=_form(email=PRO, password=PRO_PASSWORD))
            bearer = {"Authorization": f"Bearer {login.json()['token']}"}
            enhanced = http.post(
                "/images/v1",
                headers={**bearer, "X-Request-Id": "enhance-2"},
                files=[("images", ("a.png", _png(), "image/png"))],
            )
            assert 200 == enhanced.status_code, enhanced.text
            assert "enhance-2" == enhanced.headers["x-request-id"]
            refused = http.post(
                "/images/v1",
                headers={**bearer, "X-Request-Id": "x" * 500},
                files=[("images", ("a.pdf", b"%PDF-1.4", "application/pdf"))],
            )
            assert 415 == refused.status_code
            fresh = refused.headers["x-request-id"]
            assert fresh == refused.json()["requestId"]
            assert "x" * 500 not in fresh
        time.sleep(0.3)
        entries = _log_lines(server)
        mine = [e for e in entries if e.get("requestId") == "enhance-2"]
        loggers = {e["logger"] for e in mine}
        assert "uvicorn.access" in loggers
        assert "cropedly.images" in loggers  # the core's line
        # The image worker is another process; its line names the request too.
        workers = [e for e in mine if e["logger"] == "cropedly.workers"]
        assert workers, mine
        assert {e["pid"] for e in workers} != {server.pid}
        access = [e for e in entries if e["logger"] == "uvicorn.access"]
        assert any(e["requestId"] == fresh and e["status"] == 415 for e in access)
