"""Async enhance jobs (``Prefer: respond-async``) and their signed webhooks, over real HTTP.

A real ``cropedly serve`` with its local pool; the webhook receiver is a server on
loopback, allowed by ``CROPEDLY_WEBHOOK_ALLOW_PRIVATE``. Without that setting every
non-public callback address is refused at submit time, before anything is sent.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import httpx
import pytest
from litestar.testing import TestClient

from cropedly.http.app import create_app
from cropedly_core.users import Plan
from cropedly_core.webhooks import verify
from doubles import in_memory_services
from imaging import bearer, png_bytes
from servers import create_user, free_port, running_server, server_env

PROBLEM = "https://cropedly.com/problems/"
PASSWORD = "correct horse battery staple 42"
ASYNC = {"Prefer": "respond-async"}


class Receiver:
    """A webhook receiver on loopback: answers 503 to the first delivery, 200 after."""

    def __init__(self) -> None:
        self.deliveries: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        self.attempts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.attempts += 1
                if receiver.attempts == 1:
                    self.send_response(503)
                else:
                    receiver.deliveries.put((dict(self.headers.items()), body))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.url = f"http://127.0.0.1:{self.port}/hooks/cropedly"

    def __enter__(self) -> Self:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def login(http: httpx.Client, email: str) -> dict[str, str]:
    answer = http.post(
        "/auth/v1/login", files={"email": (None, email), "password": (None, PASSWORD)}
    )
    assert 200 == answer.status_code, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def finished(http: httpx.Client, location: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        answer = http.get(location, headers=headers)
        assert 200 == answer.status_code, answer.text
        job: dict[str, Any] = answer.json()
        assert job["status"] in {"queued", "running", "succeeded", "failed"}
        if job["status"] in {"succeeded", "failed"}:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    env = server_env(tmp_path, webhook_allow_private="true")
    create_user(env, "owner@example.com", PASSWORD, "Owner", "pro")
    create_user(env, "other@example.com", PASSWORD, "Other", "pro")
    with running_server(env, tmp_path) as running:
        yield running.base


def test_an_async_job_answers_202_then_its_results_and_a_signed_webhook(server: str) -> None:
    with Receiver() as receiver, httpx.Client(base_url=server, timeout=60) as http:
        owner, other = login(http, "owner@example.com"), login(http, "other@example.com")
        files = [("images", ("a.png", png_bytes(30, 20))), ("images", ("b.png", png_bytes(8, 6)))]
        accepted = http.post(
            "/images/v1",
            files=files,
            data={"upscale": "2", "callbackUrl": receiver.url},
            headers={**owner, **ASYNC},
        )
        assert 202 == accepted.status_code, accepted.text
        job = accepted.json()
        assert f"/images/v1/jobs/{job['id']}" == accepted.headers["location"]
        assert "respond-async" == accepted.headers["preference-applied"]
        assert job["status"] in {"queued", "running"}
        assert receiver.url == job["callbackUrl"]
        secret = job["webhookSecret"]

        done = finished(http, accepted.headers["location"], owner)
        assert "succeeded" == done["status"]
        assert [(60, 40), (16, 12)] == [(r["width"], r["height"]) for r in done["results"]]
        assert ["a.png", "b.png"] == [r["originalName"] for r in done["results"]]
        image = http.get(done["results"][0]["url"])
        assert 200 == image.status_code
        assert done["results"][0]["size"] == len(image.content)

        # Only its owner sees it.
        hidden = http.get(accepted.headers["location"], headers=other)
        assert 404 == hidden.status_code
        assert PROBLEM + "not-found" == hidden.json()["type"]

        # The webhook, after one 503 and a retry, signed with the account's secret.
        headers, body = receiver.deliveries.get(timeout=30)
        assert 2 == receiver.attempts
        assert verify(secret, headers["Cropedly-Signature"], body, now=int(time.time()))
        assert not verify(secret, headers["Cropedly-Signature"], body + b"x", now=int(time.time()))
        delivered = json.loads(body)
        assert (job["id"], "succeeded") == (delivered["id"], delivered["status"])
        assert [r["id"] for r in done["results"]] == [r["id"] for r in delivered["results"]]


def test_an_async_failure_is_the_problem_the_sync_call_answers(server: str) -> None:
    with httpx.Client(base_url=server, timeout=60) as http:
        owner = login(http, "owner@example.com")
        files = [
            ("images", ("ok.png", png_bytes())),
            ("images", ("bad.png", png_bytes(64, 48)[:60])),
        ]
        sync = http.post("/images/v1", files=files, headers=owner)
        accepted = http.post("/images/v1", files=files, headers={**owner, **ASYNC})
        assert 202 == accepted.status_code, accepted.text
        done = finished(http, accepted.headers["location"], owner)
        assert "failed" == done["status"]
        assert done["results"] is None
        assert 422 == sync.status_code
        # The same problem, but for the request id, which names each request.
        assert {**sync.json(), "requestId": None} == {**done["problem"], "requestId": None}


def test_what_needs_no_pixels_is_refused_before_the_202() -> None:
    """Default settings: a loopback or private callback is refused by name; nothing is sent."""
    services = in_memory_services()
    headers = bearer(services, "pro@example.com", Plan.PRO)
    free = bearer(services, "free@example.com", Plan.FREE)
    files = [("images", ("a.png", png_bytes()))]
    with TestClient(app=create_app(services)) as client:
        for url in ("http://127.0.0.1:9/x", "http://10.0.0.8/x", "ftp://hooks.example/"):
            refused = client.post(
                "/images/v1", files=files, data={"callbackUrl": url}, headers={**headers, **ASYNC}
            )
            assert 422 == refused.status_code, url
            assert [{"field": "callbackUrl"}] == [
                {"field": e["field"]} for e in refused.json()["errors"]
            ]
        without_async = client.post(
            "/images/v1",
            files=files,
            data={"callbackUrl": "https://hooks.example/"},
            headers=headers,
        )
        assert 422 == without_async.status_code
        assert "respond-async" in without_async.json()["detail"]
        assert 403 == client.post("/images/v1", files=files, headers={**free, **ASYNC}).status_code
        bad_option = client.post(
            "/images/v1", files=files, data={"upscale": "3"}, headers={**headers, **ASYNC}
        )
        assert 422 == bad_option.status_code
        assert 404 == client.get("/images/v1/jobs/nope", headers=headers).status_code
        assert 401 == client.get("/images/v1/jobs/nope").status_code
