"""Logs, request ids, metrics and readiness of a real ``cropedly serve`` (docs/operations.md).

The server runs with DEBUG logging in JSON; the tests drive sign-in, password reset,
API keys, enhancement and downloads, then read everything it logged.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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


def _started(server: Server) -> set[int]:
    """The HTTP worker processes that have finished starting (their "ready" line)."""
    pids = set()
    for line in server.stderr.read_text().splitlines():
        if '"logger": "cropedly"' in line and ' ready"' in line:
            pids.add(json.loads(line)["pid"])
    return pids


def _writers(folder: Path) -> set[str]:
    """The processes that have written counters in a multiprocess folder (by PID)."""
    return {path.stem.rsplit("_", 1)[1] for path in folder.glob("counter_*.db")}


def _running(pid: int) -> bool:
    """Not exited (a zombie waiting for its parent counts as exited)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "zombie" not in status


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """The samples of metric ``name`` in a Prometheus text exposition."""
    found = []
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, value = line.rsplit(" ", 1)
        labels: dict[str, str] = {}
        if "{" in head:
            metric, body = head.split("{", 1)
            labels = dict(re.findall(r'(\w+)="([^"]*)"', body.rstrip("}")))
        else:
            metric = head
        if metric == name:
            found.append((labels, float(value)))
    return found


def _total(text: str, name: str, **match: str) -> float:
    return sum(
        value
        for labels, value in _samples(text, name)
        if all(labels.get(k) == v for k, v in match.items())
    )


class TestMetrics:
    def test_requests_images_steps_and_queue(self, server: Server) -> None:
        with httpx.Client(base_url=server.base, timeout=30.0) as http:
            before = http.get("/metrics")
            assert 200 == before.status_code
            assert before.headers["content-type"].startswith("text/plain")
            login = http.post("/auth/v1/login", files=_form(email=PRO, password=PRO_PASSWORD))
            bearer = {"Authorization": f"Bearer {login.json()['token']}"}
            for _ in range(3):
                enhanced = http.post(
                    "/images/v1",
                    headers=bearer,
                    data={"upscale": "2"},
                    files=[("images", ("a.png", _png(), "image/png"))],
                )
                assert 200 == enhanced.status_code, enhanced.text
                result = enhanced.json()[0]["url"]
            refused = http.post(
                "/images/v1",
                headers=bearer,
                files=[("images", ("a.png", _png()[:40], "image/png"))],
            )
            assert 422 == refused.status_code, refused.text
            assert 200 == http.get(result).status_code
            assert 404 == http.get(f"/no/such/{PRO}").status_code
            text = http.get("/metrics").text
        requests = "cropedly_http_requests_total"
        assert 3 == _total(text, requests, route="/images/v1", status="200", method="POST")
        assert 1 == _total(text, requests, route="/images/v1", status="422")
        assert 1 == _total(text, requests, route="/images/v1/results/{result_id}", status="200")
        assert 1 == _total(text, requests, route="unmatched", status="404")
        # The refused one is timed too.
        assert 4 == _total(text, "cropedly_http_request_duration_seconds_count", route="/images/v1")
        assert 3 == _total(text, "cropedly_images_processed_total", outcome="ok")
        assert 1 == _total(text, "cropedly_images_processed_total", outcome="corrupt-image")
        for step in ("decode", "upscale", "encode"):
            count = _total(text, "cropedly_pipeline_step_duration_seconds_count", step=step)
            assert 3 == count, step
        assert 0 == _total(text, "cropedly_image_jobs_pending")
        # No path, id, e-mail or secret becomes a label.
        assert PRO not in text
        assert "sig" not in text.replace("signature", "")
        assert "/results/" not in text.replace("/results/{result_id}", "")

    def test_two_http_workers_add_up(self, env: dict[str, str], tmp_path: Path) -> None:
        """With serve --workers 2 each process counts its own; one scrape sums them."""
        folder = tmp_path / "metrics"
        env = {**env, "CROPEDLY_WORKERS": "2", "PROMETHEUS_MULTIPROC_DIR": str(folder)}
        folder.mkdir()
        (folder / "counter_1.db").write_bytes(b"stale")  # an earlier run's: emptied at start
        sent = 0
        with running_server(env, tmp_path) as server:

            def live() -> int:
                # A new connection each time, so that either worker process may take it.
                return httpx.get(f"{server.base}/health/live", timeout=10).status_code

            # Both HTTP workers up (each logs "ready" from its lifespan); on a loaded
            # machine the second can take a while to import.
            deadline = time.monotonic() + 120
            while len(_started(server)) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert 2 == len(_started(server)), server.stderr.read_text()[-3000:]
            deadline = time.monotonic() + 60
            with ThreadPoolExecutor(16) as pool:
                # Until both processes have counted some (the second may start later).
                while len(_writers(folder)) < 2 and time.monotonic() < deadline:
                    assert [200] * 16 == list(pool.map(lambda _: live(), range(16)))
                    sent += 16
            writers = _writers(folder)
            scrapes = [httpx.get(f"{server.base}/metrics", timeout=10).text for _ in range(6)]
        assert 2 == len(writers), writers  # both HTTP workers counted requests
        for text in scrapes:  # whichever process answered the scrape
            counted = _total(text, "cropedly_http_requests_total", route="/health/live")
            assert sent == counted


class TestReadiness:
    def test_ready_until_the_database_is_gone_and_again_after(
        self, server: Server, tmp_path: Path
    ) -> None:
        database = tmp_path / "data" / "cropedly.sqlite3"
        with httpx.Client(base_url=server.base, timeout=30.0) as http:
            ready = http.get("/health/ready")
            assert 200 == ready.status_code, ready.text
            assert {"database": "ok", "image-workers": "ok"} == ready.json()["checks"]
            moved = database.rename(tmp_path / "elsewhere.sqlite3")
            try:
                gone = http.get("/health/ready", headers={"X-Request-Id": "ready-1"})
                assert 503 == gone.status_code
                problem = gone.json()
                assert problem["type"].endswith("/not-ready")
                assert "database" in problem["detail"]
                assert "failed" == problem["checks"]["database"]
                assert "ok" == problem["checks"]["image-workers"]
                assert "ready-1" == problem["requestId"]
                assert "Retry-After" in gone.headers
                assert 200 == http.get("/health/live").status_code  # alive all the same
                assert 200 == http.get("/health").status_code
            finally:
                moved.rename(database)
            assert 200 == http.get("/health/ready").status_code

    def test_dead_image_workers_fail_readiness_once_and_are_replaced(self, server: Server) -> None:
        workers = [
            pid
            for pid in server.descendants()
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        assert workers  # one image worker (server_env)
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        with httpx.Client(base_url=server.base, timeout=30.0) as http:
            dead = http.get("/health/ready")
            assert 503 == dead.status_code, dead.text
            assert "failed" == dead.json()["checks"]["image-workers"]
            assert "ok" == dead.json()["checks"]["database"]
            again = http.get("/health/ready")  # the probe replaced them
            assert 200 == again.status_code, again.text
            text = http.get("/metrics").text
            assert 1 <= _total(text, "cropedly_image_worker_restarts_total", reason="exited-idle")
            login = http.post("/auth/v1/login", files=_form(email=PRO, password=PRO_PASSWORD))
            enhanced = http.post(
                "/images/v1",
                headers={"Authorization": f"Bearer {login.json()['token']}"},
                files=[("images", ("a.png", _png(), "image/png"))],
            )
            assert 200 == enhanced.status_code, enhanced.text
