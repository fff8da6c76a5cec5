"""The distributed queue for real: Redis, one ``cropedly serve`` and two ``cropedly worker``.

Black-box: the API process runs no local pool (``CROPEDLY_IMAGE_QUEUE=redis``), the
workers are separate processes that only share Redis with it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from engines import _redis_command
from imaging import png_bytes
from servers import create_user, running_server, server_env

pytestmark = [pytest.mark.slow]

EMAIL, PASSWORD = "queue@example.com", "correct horse battery staple 42"
PROBLEM = "https://cropedly.com/problems/"
READY_TIMEOUT = 60.0


@contextmanager
def queue_worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``cropedly worker`` with one pool process, until the block ends; waits until it is ready."""
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cropedly.cli", "worker", "--concurrency", "1"],
            env={**env, "CROPEDLY_LOG_LEVEL": "INFO"},
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its pool process goes with it on cleanup
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while "ready" not in log.read_text():
            if process.poll() is not None:
                pytest.fail(f"cropedly worker exited with {process.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"cropedly worker not ready after {READY_TIMEOUT} s:\n{log.read_text()}"
                )
            time.sleep(0.2)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _login(http: httpx.Client) -> dict[str, str]:
    response = http.post(
        "/auth/v1/login", files={"email": (None, EMAIL), "password": (None, PASSWORD)}
    )
    assert 200 == response.status_code, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _started_jobs(port: int) -> dict[str, int]:
    """Jobs a worker is running now, by task id, with the pid of their pool process.

    Read from Celery's result keys in Redis (``task_track_started``).
    """
    reply = _redis_command(port, "KEYS", "celery-task-meta-*").decode()
    started = {}
    for key in [line for line in reply.split("\r\n") if line.startswith("celery-task-meta-")]:
        raw = _redis_command(port, "GET", key).decode()
        body = raw.split("\r\n")[1] if raw.startswith("$") else ""
        if '"STARTED"' in body:
            meta = json.loads(body)
            started[meta["task_id"]] = int(meta["result"]["pid"])
    return started


def _long_running_job(port: int, seconds: float = 0.5) -> int:
    """The pool pid of the first job seen running for ``seconds`` (the big file's)."""
    first_seen: dict[str, float] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for task_id, pid in _started_jobs(port).items():
            seen = first_seen.setdefault(task_id, time.monotonic())
            if time.monotonic() - seen >= seconds:
                return pid
        time.sleep(0.05)
    pytest.fail("no job ran long enough to be killed mid-job")


def _result_files(data: Path) -> list[Path]:
    return [p for p in (data / "blobs").rglob("*") if p.is_file()]


def test_two_workers_share_a_batch_and_a_killed_job_fails_cleanly(
    tmp_path: Path, redis_url: str
) -> None:
    env = server_env(
        tmp_path,
        image_queue="redis",
        redis_url=redis_url,
        seconds_per_image="60",
        queue_wait_seconds="60",
    )
    create_user(env, EMAIL, PASSWORD, "Queue", "pro")
    with (
        queue_worker(env, tmp_path / "worker-a.log") as worker_a,
        queue_worker(env, tmp_path / "worker-b.log"),
        running_server(env, tmp_path) as server,
        httpx.Client(base_url=server.base, timeout=120) as http,
    ):
        ready = http.get("/health/ready")
        assert 200 == ready.status_code, ready.text  # its image-workers check pings them
        headers = _login(http)
        batch = [("images", (f"{n}.png", png_bytes(300 + n, 200))) for n in range(6)]
        answer = http.post("/images/v1", files=batch, data={"upscale": "4"}, headers=headers)
        assert 200 == answer.status_code, answer.text
        assert [(4 * (300 + n), 800) for n in range(6)] == [
            (r["width"], r["height"]) for r in answer.json()
        ]
        took = [
            (tmp_path / name).read_text().count("succeeded")
            for name in ("worker-a.log", "worker-b.log")
        ]
        assert 6 == sum(took), took
        assert all(took), took
        stored = _result_files(tmp_path / "data")
        assert 6 == len(stored)

        # A batch whose slow file loses its worker mid-job: a clear 422 for that file,
        # nothing of the batch stored, and the worker goes on with a new pool process.
        port = int(redis_url.rsplit(":", 1)[1].split("/", maxsplit=1)[0])
        slow = [
            ("images", ("small.png", png_bytes(40, 30))),
            ("images", ("big.png", png_bytes(1800, 1800))),
        ]
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(
                http.post, "/images/v1", files=slow, data={"upscale": "4"}, headers=headers
            )
            os.kill(_long_running_job(port), signal.SIGKILL)
            refused = pending.result(timeout=120)
        assert 422 == refused.status_code, refused.text
        problem = refused.json()
        assert PROBLEM + "images-rejected" == problem["type"]
        assert [("big.png", PROBLEM + "processing-failed")] == [
            (e["file"], e["type"]) for e in problem["errors"]
        ]
        assert stored == _result_files(tmp_path / "data")
        assert worker_a.poll() is None

        # Both workers still serve, an async job too.
        again = http.post("/images/v1", files=batch[:2], headers=headers)
        assert 200 == again.status_code, again.text
        accepted = http.post(
            "/images/v1", files=batch[2:], headers={**headers, "Prefer": "respond-async"}
        )
        assert 202 == accepted.status_code, accepted.text
        deadline = time.monotonic() + 60
        while (job := http.get(accepted.headers["location"], headers=headers).json())[
            "status"
        ] not in {"succeeded", "failed"}:
            assert time.monotonic() < deadline, job
            time.sleep(0.1)
        assert "succeeded" == job["status"], job
        assert 4 == len(job["results"])
