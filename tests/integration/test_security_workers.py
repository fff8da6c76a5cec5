"""Regression tests for the security review of ``ProcessWorkers``.

A batch is admitted whole or refused before any work; a worker that died while
idle is replaced before a file is sent to it; closing the pool is quiet and
leaves no process behind.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import attrs
import pytest
from slow_pipeline import MarkerCodec, marker_pipeline, sleeping

from cropedly_adapters.memory import (
    InMemoryBlobStore,
    InMemoryResultRepository,
    ManualClock,
    SeededIds,
)
from cropedly_adapters.process_workers import ProcessWorkers
from cropedly_core.errors import Overloaded
from cropedly_core.images.model import EncodedImage, EnhanceOptions, ImageInfo
from cropedly_core.images.pipeline import EnhancementPipeline
from cropedly_core.images.service import ImageService, JobResult, Upload
from cropedly_core.users import Plan, User
from imaging import png_bytes

pytestmark = [pytest.mark.slow]

OPTIONS = EnhanceOptions()


class CountingCodec(MarkerCodec):
    """``MarkerCodec`` that appends a line to ``log`` for every job a worker starts."""

    def __init__(self, log: str) -> None:
        super().__init__()
        self._log = log

    def probe(self, data: bytes, max_pixels: int) -> ImageInfo:
        with Path(self._log).open("a") as log:
            log.write("job\n")
        return super().probe(data, max_pixels)


def counting_pipeline(log: str) -> EnhancementPipeline:
    """Runs in each worker process (spawn imports this module by name)."""
    return attrs.evolve(marker_pipeline(), codec=CountingCodec(log))


def jobs_run(log: Path) -> int:
    return log.read_text().count("job") if log.exists() else 0


def wait_until_dead(pid: int, seconds: float = 10.0) -> None:
    """Until the kernel has ended ``pid`` (a zombie waiting for its parent counts)."""
    deadline = time.monotonic() + seconds
    stat = Path(f"/proc/{pid}/stat")
    while time.monotonic() < deadline:
        try:
            state = stat.read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.01)
    pytest.fail(f"process {pid} did not die")


async def until_busy(workers: ProcessWorkers) -> None:
    for _ in range(1000):
        if workers.pending:
            return
        await asyncio.sleep(0.01)
    pytest.fail("the job never reached the pool")


def worker_pids() -> list[int]:
    return [p.pid for p in multiprocessing.active_children() if p.name == "cropedly-worker"]


def pro_user() -> User:
    return User(
        id="u1",
        email="pro@example.com",
        name="Pro",
        plan=Plan.PRO,
        password_hash=None,
        created_at=ManualClock().now(),
    )


def test_batch_over_free_capacity_is_refused_before_any_job(tmp_path: Path) -> None:
    """One of two places is busy; a batch of two is Overloaded at once and nothing runs.

    Before, the file that fitted was processed (waiting for the busy worker), and
    only then did the whole request fail with 503.
    """
    log = tmp_path / "jobs"
    workers = ProcessWorkers(
        partial(counting_pipeline, str(log)), processes=1, queue_limit=1, seconds_per_image=30
    )
    blobs = InMemoryBlobStore()
    service = ImageService(workers, blobs, InMemoryResultRepository(), SeededIds(), ManualClock())
    batch = [Upload("a.png", png_bytes()), Upload("b.png", png_bytes())]

    async def scenario() -> tuple[float, BaseException | None, JobResult]:
        await workers.run(png_bytes(), OPTIONS)  # started and warm
        busy = asyncio.ensure_future(workers.run(sleeping(1.0, png_bytes()), OPTIONS))
        await until_busy(workers)
        started = time.monotonic()
        refusal: BaseException | None = None
        try:
            await service.enhance(pro_user(), batch, OPTIONS)
        except Overloaded as exc:
            refusal = exc
        refused_after = time.monotonic() - started
        return refused_after, refusal, await busy

    try:
        refused_after, refusal, busy = asyncio.run(scenario())
        assert isinstance(refusal, Overloaded)
        assert refused_after < 0.5
        assert 2 == jobs_run(log)  # the warm-up and the busy job, none of the batch
        assert [] == list(blobs.keys())
        assert (8, 6) == (busy.image.width, busy.image.height)
        assert 0 == workers.pending
        # With the places free again the same batch is admitted whole.
        stored = asyncio.run(service.enhance(pro_user(), batch, OPTIONS))
        assert 2 == len(stored)
        assert 4 == jobs_run(log)
    finally:
        workers.close()


def test_idle_pool_admits_a_batch_larger_than_its_queue() -> None:
    """Refusing it would answer "retry later" to a request that could never succeed."""
    workers = ProcessWorkers(marker_pipeline, processes=1, queue_limit=0, seconds_per_image=30)

    async def scenario() -> list[JobResult]:
        with workers.reserve(3) as runner:
            return list(await asyncio.gather(*(runner.run(png_bytes(), OPTIONS) for _ in "abc")))

    try:
        assert 3 == len(asyncio.run(scenario()))
        assert 0 == workers.pending
    finally:
        workers.close()


def _enhance(workers: ProcessWorkers) -> EncodedImage:
    return asyncio.run(workers.run(png_bytes(5, 4), OPTIONS)).image


def test_worker_killed_while_idle_costs_no_file() -> None:
    """SIGKILL on an idle worker: the next file is enhanced (it was ``processing-failed``)."""
    workers = ProcessWorkers(marker_pipeline, processes=1, queue_limit=1, seconds_per_image=30)
    try:
        _enhance(workers)
        (pid,) = worker_pids()
        os.kill(pid, signal.SIGKILL)
        wait_until_dead(pid)

        assert (5, 4) == (_enhance(workers).width, _enhance(workers).height)
        assert [pid] != worker_pids()
    finally:
        workers.close()


def test_worker_killed_while_starting_costs_no_file() -> None:
    """A worker that dies before it is ready is replaced too; the file is not blamed."""
    workers = ProcessWorkers(marker_pipeline, processes=1, queue_limit=1, seconds_per_image=30)
    try:
        (pid,) = worker_pids()
        os.kill(pid, signal.SIGKILL)
        wait_until_dead(pid)
        assert 5 == _enhance(workers).width
    finally:
        workers.close()


def _no_traceback(caplog: pytest.LogCaptureFixture, stderr: str) -> None:
    assert [] == [r.getMessage() for r in caplog.records if r.exc_info]
    assert "Traceback" not in caplog.text
    assert "Traceback" not in stderr
    assert "BrokenPipe" not in caplog.text + stderr


def test_close_after_a_worker_died_is_quiet(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """Closing with a dead worker: no traceback, no warning, no process left."""
    caplog.set_level(logging.DEBUG)
    workers = ProcessWorkers(marker_pipeline, processes=2, queue_limit=1, seconds_per_image=30)
    _enhance(workers)
    pid = worker_pids()[0]
    os.kill(pid, signal.SIGKILL)
    wait_until_dead(pid)

    workers.close()
    workers.close()  # twice is harmless

    _no_traceback(caplog, capfd.readouterr().err)
    assert [] == [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert [] == worker_pids()


def test_close_under_a_running_job_blames_no_file_and_starts_no_worker(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """A job cut short by shutdown is Overloaded (retry), not the file's fault.

    Before, the job was ``processing-failed`` ("crashed its decoder") and a new
    worker process was started after ``close``, outliving the pool.
    """
    caplog.set_level(logging.DEBUG)
    workers = ProcessWorkers(marker_pipeline, processes=1, queue_limit=1, seconds_per_image=30)
    _enhance(workers)

    async def scenario() -> BaseException | JobResult:
        job = asyncio.ensure_future(workers.run(sleeping(30, png_bytes()), OPTIONS))
        await until_busy(workers)
        await asyncio.sleep(0.3)  # the worker has the file
        # Waits 5 s for the job to end, then kills the worker under it.
        await asyncio.to_thread(workers.close)
        try:
            return await job
        except Exception as exc:  # the outcome is what is checked
            return exc

    outcome = asyncio.run(scenario())

    assert isinstance(outcome, Overloaded), outcome
    time.sleep(0.5)
    assert [] == worker_pids()
    _no_traceback(caplog, capfd.readouterr().err)


ORPHANING_SERVER = """
import asyncio, os, threading, time
from slow_pipeline import marker_pipeline, sleeping
from cropedly_adapters.process_workers import ProcessWorkers
from cropedly_core.images.model import EnhanceOptions
from imaging import png_bytes

workers = ProcessWorkers(marker_pipeline, processes=1, queue_limit=1, seconds_per_image=30)
asyncio.run(workers.run(png_bytes(), EnhanceOptions()))
job = lambda: asyncio.run(workers.run(sleeping(1.0, png_bytes()), EnhanceOptions()))
threading.Thread(target=job, daemon=True).start()
time.sleep(0.3)
os._exit(0)
"""


def test_server_ending_under_a_running_job_prints_no_traceback() -> None:
    """A worker whose server is gone ends quietly when it has its answer ready.

    Before, it died on ``BrokenPipeError`` with a traceback on the server's stderr.
    The output pipes stay open until the orphaned worker has exited too.
    """
    ended = subprocess.run(
        [sys.executable, "-c", ORPHANING_SERVER],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert 0 == ended.returncode
    assert "Traceback" not in ended.stderr, ended.stderr
