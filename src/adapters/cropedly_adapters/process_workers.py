"""``ImageWorkers`` on a pool of worker processes.

Decoders run on untrusted bytes, so they run in separate processes: a file that
crashes or hangs its decoder costs one worker (killed and replaced), never the
server. Each process handles one image at a time with a wall-clock limit; a
bounded number of images may wait, and past that callers get ``Overloaded``
(503 with Retry-After) instead of an unbounded backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import queue
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext
from multiprocessing.process import BaseProcess

from cropedly_core.errors import ImageRejected, Overloaded
from cropedly_core.images.model import EnhanceOptions
from cropedly_core.images.pipeline import EnhancementPipeline
from cropedly_core.images.service import JobResult, run_job

log = logging.getLogger("cropedly.workers")

PipelineFactory = Callable[[], EnhancementPipeline]
_STARTUP_SECONDS = 120.0  # importing numpy, Pillow, OpenCV and loading the model


def _worker_main(conn: Connection, factory: PipelineFactory) -> None:
    # The parent handles Ctrl-C and shuts workers down in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pipeline = factory()
    conn.send(("ready",))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        data, options = job
        try:
            conn.send(("ok", run_job(pipeline, data, options)))
        except ImageRejected as exc:
            conn.send(("rejected", exc.slug, exc.detail))
        except MemoryError:
            conn.send(("rejected", "too-many-pixels", "The image needs more memory than allowed."))
        except Exception:
            # Bytes a decoder chokes on in an unforeseen way are still the client's
            # input: refuse the file, log the trace for us.
            log.exception("image processing failed")
            conn.send(("rejected", "processing-failed", "The image could not be processed."))


class _Worker:
    def __init__(self, context: SpawnContext, factory: PipelineFactory) -> None:
        self._context = context
        self._factory = factory
        self._conn: Connection | None = None
        self._process: BaseProcess | None = None
        self._ready = False
        self.start()

    def start(self) -> None:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_worker_main, args=(child, self._factory), daemon=True, name="cropedly-worker"
        )
        process.start()
        child.close()
        self._conn, self._process, self._ready = parent, process, False

    def restart(self) -> None:
        self.stop(kill=True)
        self.start()

    def stop(self, *, kill: bool = False) -> None:
        process, conn = self._process, self._conn
        if process is None or conn is None:
            return
        if not kill:
            with contextlib.suppress(OSError):
                conn.send(None)
            process.join(5)
        if process.is_alive():
            process.kill()
            process.join(5)
        conn.close()
        self._process = self._conn = None

    def _wait_ready(self, conn: Connection) -> None:
        if not conn.poll(_STARTUP_SECONDS):
            raise TimeoutError("worker did not start")
        conn.recv()
        self._ready = True

    def call(self, data: bytes, options: EnhanceOptions, seconds: float) -> JobResult:
        conn = self._conn
        if conn is None:
            raise RuntimeError("worker stopped")
        try:
            if not self._ready:
                self._wait_ready(conn)
            conn.send((data, options))
            if not conn.poll(seconds):
                log.warning("image exceeded %.0f s; worker killed", seconds)
                self.restart()
                raise ImageRejected(
                    "processing-timeout", f"Processing took longer than {seconds:.0f} seconds."
                )
            reply = conn.recv()
        except (EOFError, OSError, TimeoutError):
            log.warning("worker died on an image; starting a new one")
            self.restart()
            raise ImageRejected(
                "processing-failed", "The image crashed its decoder and was refused."
            ) from None
        if reply[0] == "ok":
            result: JobResult = reply[1]
            return result
        raise ImageRejected(reply[1], reply[2])


class ProcessWorkers:
    """A fixed pool of worker processes behind a bounded queue."""

    def __init__(
        self,
        factory: PipelineFactory,
        processes: int = 2,
        queue_limit: int = 32,
        seconds_per_image: float = 60.0,
    ) -> None:
        context = multiprocessing.get_context("spawn")  # fork is unsafe in a threaded server
        self.processes = processes
        self.queue_limit = queue_limit
        self.seconds_per_image = seconds_per_image
        self._workers = [_Worker(context, factory) for _ in range(processes)]
        self._idle: queue.Queue[_Worker] = queue.Queue()
        for worker in self._workers:
            self._idle.put(worker)
        self._threads = ThreadPoolExecutor(processes, thread_name_prefix="cropedly-dispatch")
        self._pending = 0
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        return self._pending

    async def run(self, data: bytes, options: EnhanceOptions) -> JobResult:
        with self._lock:
            if self._pending >= self.processes + self.queue_limit:
                raise Overloaded(retry_after=max(1, int(self.seconds_per_image // 10)))
            self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._threads, self._call, data, options)
        finally:
            with self._lock:
                self._pending -= 1

    def _call(self, data: bytes, options: EnhanceOptions) -> JobResult:
        worker = self._idle.get()
        try:
            return worker.call(data, options, self.seconds_per_image)
        finally:
            self._idle.put(worker)

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        for worker in self._workers:
            worker.stop()
