"""``ImageWorkers`` on a pool of worker processes.

Decoders run on untrusted bytes, so they run in separate processes: a file that
crashes or hangs its decoder costs one worker (killed and replaced), never the
server. Each process handles one image at a time with a wall-clock limit; a
bounded number of images may wait, and past that callers get ``Overloaded``
(503 with Retry-After) instead of an unbounded backlog.

A batch is admitted whole (``reserve``) before any of its files is sent, so a
busy answer never follows work already done. A worker found dead while idle is
replaced before a job is sent to it: only a worker that dies *holding* a file
counts against that file.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import multiprocessing
import queue
import signal
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext
from multiprocessing.process import BaseProcess
from types import TracebackType

from cropedly_adapters.request_context import request_id
from cropedly_core.errors import ImageRejected, Overloaded
from cropedly_core.images.model import EnhanceOptions, ImageLimits
from cropedly_core.images.pipeline import EnhancementPipeline
from cropedly_core.images.service import JobResult, run_job

log = logging.getLogger("cropedly.workers")

PipelineFactory = Callable[[], EnhancementPipeline]
# Run first in each worker process (picklable), e.g. to set up its logging.
Initializer = Callable[[], None]
_STARTUP_SECONDS = 120.0  # importing numpy, Pillow, OpenCV and loading the model
_STOP_SECONDS = 5.0


def _worker_main(
    conn: Connection, factory: PipelineFactory, initializer: Initializer | None = None
) -> None:
    # The parent handles Ctrl-C and SIGTERM and shuts workers down in order, after the
    # images in flight: a SIGTERM sent to the whole group (systemd's default) must not
    # kill a worker under a request the server is still finishing. A parent that dies
    # without stopping them closes the pipe, and they exit on that.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if initializer is not None:
        initializer()
    pipeline = factory()
    if not _reply(conn, ("ready",)):
        return
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        # "I have it": dying before this is never the file's doing (see _Worker._send).
        if not _reply(conn, ("started",)):
            return
        data, options, rid = job
        request_id.set(rid)  # this job's log lines name the request that sent it
        reply = _run(pipeline, data, options)
        if not _reply(conn, reply):
            return


def _run(pipeline: EnhancementPipeline, data: bytes, options: EnhanceOptions) -> tuple[object, ...]:
    """One job in the worker: the reply to send back."""
    log.debug("image job of %d bytes", len(data))
    try:
        return ("ok", run_job(pipeline, data, options))
    except ImageRejected as exc:
        return ("rejected", exc.slug, exc.detail)
    except MemoryError:
        return ("rejected", "too-many-pixels", "The image needs more memory than allowed.")
    except Exception:
        # Bytes a decoder chokes on in an unforeseen way are still the client's
        # input: refuse the file, log the trace for us.
        log.exception("image processing failed")
        return ("rejected", "processing-failed", "The image could not be processed.")


def _reply(conn: Connection, message: tuple[object, ...]) -> bool:
    """Send to the parent; False when it has gone (it is shutting down): exit quietly."""
    try:
        conn.send(message)
    except (EOFError, OSError):
        return False
    return True


# A job on the pipe: the file, its options, and the id of the request it serves.
_Job = tuple[bytes, EnhanceOptions, str | None]


class _ShuttingDown(Exception):
    """The pool was closed while a job waited for or ran on this worker."""


class _Worker:
    def __init__(
        self,
        context: SpawnContext,
        factory: PipelineFactory,
        initializer: Initializer | None = None,
        on_restart: Callable[[str], None] = lambda _: None,
    ) -> None:
        self._context = context
        self._factory = factory
        self._initializer = initializer
        self._on_restart = on_restart
        self._conn: Connection | None = None
        self._process: BaseProcess | None = None
        self._ready = False
        self._closing = False
        # Serialises start/stop between a dispatch thread and close(): once closing,
        # no new process may be started.
        self._lock = threading.RLock()
        self.start()

    def start(self) -> None:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_worker_main,
            args=(child, self._factory, self._initializer),
            daemon=True,
            name="cropedly-worker",
        )
        process.start()
        child.close()
        self._conn, self._process, self._ready = parent, process, False

    def restart(self, reason: str) -> None:
        """Replace the process; ``reason`` goes to the restart hook (the metrics)."""
        self._on_restart(reason)
        with self._lock:
            self.stop(kill=True)
            if self._closing:
                raise _ShuttingDown
            self.start()

    @property
    def alive(self) -> bool:
        process = self._process
        return process is not None and process.is_alive()

    def close(self) -> None:
        """Stop for good; a job running on it ends in ``_ShuttingDown``, not a restart."""
        self._closing = True  # seen at once by a dispatch thread waiting on this worker
        with self._lock:
            self.stop()

    def stop(self, *, kill: bool = False) -> None:
        """End the process: politely (``None`` on the pipe) unless ``kill``; never raises."""
        with self._lock:
            process, conn = self._process, self._conn
            self._process = self._conn = None
        if process is None or conn is None:
            return
        if not kill and process.is_alive():
            # A worker that died meanwhile has closed its end: nothing to tell it.
            with contextlib.suppress(EOFError, OSError):
                conn.send(None)
            process.join(_STOP_SECONDS)
        if process.is_alive():
            process.kill()
            process.join(_STOP_SECONDS)
        with contextlib.suppress(OSError):
            conn.close()
        log.debug("worker %s stopped (exit code %s)", process.pid, process.exitcode)

    def _live_conn(self) -> Connection:
        """The pipe to a live worker; one that died while idle is replaced first.

        Its death is no file's fault (killed by an operator or the OOM killer, or
        crashed on startup), so it must not cost the next file.
        """
        if self._closing:
            raise _ShuttingDown
        process = self._process
        if process is None or not process.is_alive():
            log.warning(
                "worker %s had exited (code %s) while idle; starting a new one",
                None if process is None else process.pid,
                None if process is None else process.exitcode,
            )
            self.restart("exited-idle")
        assert self._conn is not None  # start() always sets it
        return self._conn

    def _wait_ready(self, conn: Connection) -> None:
        if not conn.poll(_STARTUP_SECONDS):
            raise TimeoutError("worker did not start")
        conn.recv()
        self._ready = True

    def _hand_over(self, conn: Connection, job: _Job, seconds: float) -> None:
        if not self._ready:
            self._wait_ready(conn)
        conn.send(job)
        if not conn.poll(seconds) or conn.recv() != ("started",):
            raise EOFError("the worker did not confirm the job")

    def _send(self, job: _Job, seconds: float) -> Connection:
        """Hand ``job`` to a live, started worker, which confirms it has it.

        Failing before that confirmation means the worker died before it read the
        file (a process killed while idle can pass ``is_alive`` for a few ms while
        its threads exit), so the file is not blamed: it is sent once more, to a
        fresh worker. A worker that cannot start at all is our fault (500).
        """
        for attempt in (1, 2):
            conn = self._live_conn()
            try:
                self._hand_over(conn, job, seconds)
            except TimeoutError:
                self.restart("startup-timeout")
                raise RuntimeError(
                    f"an image worker did not start within {_STARTUP_SECONDS:.0f} s"
                ) from None
            except (EOFError, OSError) as exc:
                if self._closing:
                    raise _ShuttingDown from None
                log.warning("worker died before it got a job (%s); starting a new one", exc)
                self.restart("died-before-job")
                if attempt == 2:
                    break
            else:
                return conn
        raise RuntimeError("no image worker could be started")

    def call(self, data: bytes, options: EnhanceOptions, seconds: float) -> JobResult:
        conn = self._send((data, options, request_id.get()), seconds)
        try:
            if not conn.poll(seconds):
                log.warning("image exceeded %.0f s; worker killed", seconds)
                self.restart("timeout")
                raise ImageRejected(
                    "processing-timeout", f"Processing took longer than {seconds:.0f} seconds."
                )
            reply = conn.recv()
        except (EOFError, OSError):
            if self._closing:  # the pool stopped the worker under this job
                raise _ShuttingDown from None
            log.warning("worker died on an image; starting a new one")
            self.restart("crash")
            raise ImageRejected(
                "processing-failed", "The image crashed its decoder and was refused."
            ) from None
        if reply[0] == "ok":
            result: JobResult = reply[1]
            return result
        raise ImageRejected(reply[1], reply[2])


class _Reservation(AbstractContextManager["_Reservation"]):
    """Places held for one batch: each ``run`` uses one, leaving frees those unused."""

    def __init__(
        self,
        count: int,
        dispatch: Callable[[bytes, EnhanceOptions], Awaitable[JobResult]],
        release: Callable[[int], None],
    ) -> None:
        self._unused = count
        self._dispatch = dispatch
        self._release = release
        self._lock = threading.Lock()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        with self._lock:
            unused, self._unused = self._unused, 0
        self._release(unused)

    async def run(self, data: bytes, options: EnhanceOptions) -> JobResult:
        with self._lock:
            if self._unused <= 0:
                raise RuntimeError("more jobs than places reserved")
            self._unused -= 1
        try:
            return await self._dispatch(data, options)
        finally:
            self._release(1)


class ProcessWorkers:
    """A fixed pool of worker processes behind a bounded queue."""

    def __init__(
        self,
        factory: PipelineFactory,
        processes: int = 2,
        queue_limit: int = 32,
        seconds_per_image: float = ImageLimits().seconds_per_image,  # the one default
        *,
        initializer: Initializer | None = None,
        on_restart: Callable[[str], None] = lambda _: None,
    ) -> None:
        """``on_restart(reason)`` is called whenever a worker process is replaced."""
        context = multiprocessing.get_context("spawn")  # fork is unsafe in a threaded server
        self.processes = processes
        self.queue_limit = queue_limit
        self.seconds_per_image = seconds_per_image
        self._workers = [
            _Worker(context, factory, initializer, on_restart) for _ in range(processes)
        ]
        self._idle: queue.Queue[_Worker] = queue.Queue()
        for worker in self._workers:
            self._idle.put(worker)
        self._threads = ThreadPoolExecutor(processes, thread_name_prefix="cropedly-dispatch")
        self._pending = 0
        self._closed = False
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        """Places held: jobs running or waiting, and places reserved for them."""
        return self._pending

    def _overloaded(self, detail: str = "Too many images are being processed.") -> Overloaded:
        return Overloaded(retry_after=max(1, int(self.seconds_per_image // 10)), detail=detail)

    def reserve(self, count: int) -> _Reservation:
        """Places for ``count`` jobs at once, or ``Overloaded`` before any work.

        An idle pool admits any batch, even one larger than processes + queue
        limit (the request limits bound it): refusing it would say "retry later"
        to a request that could never succeed.
        """
        with self._lock:
            if self._closed:
                raise self._overloaded("The image workers are shutting down.")
            if self._pending and self._pending + count > self.processes + self.queue_limit:
                raise self._overloaded()
            self._pending += count
        return _Reservation(count, self._dispatch, self._release)

    def _release(self, count: int) -> None:
        with self._lock:
            self._pending -= count

    async def run(self, data: bytes, options: EnhanceOptions) -> JobResult:
        """One job on its own: ``reserve(1)`` and run."""
        with self.reserve(1) as reservation:
            return await reservation.run(data, options)

    async def _dispatch(self, data: bytes, options: EnhanceOptions) -> JobResult:
        loop = asyncio.get_running_loop()
        # run_in_executor does not carry context variables: the request id goes along.
        context = contextvars.copy_context()
        return await loop.run_in_executor(self._threads, context.run, self._call, data, options)

    def _call(self, data: bytes, options: EnhanceOptions) -> JobResult:
        worker = self._idle.get()
        try:
            return worker.call(data, options, self.seconds_per_image)
        except _ShuttingDown:
            raise self._overloaded("The image workers are shutting down.") from None
        finally:
            self._idle.put(worker)

    def check(self) -> None:
        """Raise unless the pool can take work: open, and no worker found dead (readiness).

        Idle workers found dead are replaced here, so that a probe heals a pool that a
        load balancer has stopped sending work to; the probe still fails this once,
        naming how many had exited. Busy workers are left to their dispatch thread.
        """
        if self._closed:
            raise RuntimeError("the image workers are shut down")
        taken: list[_Worker] = []
        dead = 0
        try:
            while True:
                try:
                    taken.append(self._idle.get_nowait())
                except queue.Empty:
                    break
            for worker in taken:
                if not worker.alive:
                    dead += 1
                    log.warning("an idle image worker had exited; starting a new one")
                    worker.restart("exited-idle")
        except _ShuttingDown:
            raise RuntimeError("the image workers are shut down") from None
        finally:
            for worker in taken:
                self._idle.put(worker)
        if dead:
            raise RuntimeError(f"{dead} of {self.processes} image worker(s) had exited; replaced")

    def close(self) -> None:
        """Stop every worker in order; quiet, also when some have died already."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._threads.shutdown(wait=False, cancel_futures=True)
        for worker in self._workers:
            worker.close()
