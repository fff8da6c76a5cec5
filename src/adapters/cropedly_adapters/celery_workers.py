"""``ImageWorkers`` on a Celery queue on Redis: jobs run in ``cropedly worker`` processes.

Why Celery (over Dramatiq, arq and RQ): its prefork pool runs each job in a child
process that the worker *kills* at the hard time limit (Dramatiq's limit and arq's
timeout raise an exception in Python, which a decoder stuck in C never sees); a
child that dies mid-job is reported as ``WorkerLostError`` in the result backend,
so the waiting API process learns it at once; results come back to the caller
through the Redis result backend; JSON is its own serializer, so no pickle of
anything that came over the network; and it is the most used and longest kept of
the four. It is not asyncio-native: the API side sends and polls with short
blocking Redis calls on a thread.

Image bytes travel through Redis, base64 in JSON: the request limits bound them
(``max_file_bytes`` in, ``max_output_pixels`` out), a job's keys are deleted as
soon as its result is read, and unread ones expire (``RESULT_TTL``). The blob
store would save Redis the bytes but would make every worker a client of it.

Same contract as the local pool (``process_workers``): a batch is admitted whole
against one bound shared by every API process (a Redis sorted set of held places,
each with a deadline, so a crashed API process cannot leak them), a file that
crashes its worker or runs out of time is refused (``ImageRejected``), and a job
no worker takes in time is ``Overloaded`` (503). Delivery is at most once
(``acks_late`` off): a job is never run twice, and a worker lost mid-job fails it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any

import attrs
import cattrs
import redis
from celery import Celery
from celery.app import trace
from celery.signals import worker_process_init
from kombu.exceptions import OperationalError

from cropedly_adapters.request_context import request_id
from cropedly_core.errors import ImageRejected, Overloaded
from cropedly_core.images.geometry import Crop, Rect
from cropedly_core.images.model import EnhanceOptions, ImageLimits
from cropedly_core.images.pipeline import EnhancementPipeline
from cropedly_core.images.reference import ColourStats
from cropedly_core.images.service import JobResult, run_job

log = logging.getLogger("cropedly.queue")

PipelineFactory = Callable[[], EnhancementPipeline]

TASK = "cropedly.enhance"
QUEUE = "cropedly-images"
PLACES_KEY = "cropedly:image-queue:places"
RESULT_TTL = 3600  # seconds an unread result stays in Redis
# After the hard time limit, how long the API waits for the worker to report it
# before it takes the worker for lost (killed with its pool, machine gone).
LOST_GRACE_SECONDS = 15.0
# How long a readiness probe waits for some worker to answer a ping.
WORKER_PING_SECONDS = 1.0
_POLL_FIRST, _POLL_MAX = 0.02, 0.5

# Admission, atomic across API processes: drop places past their deadline, then
# hold ``count`` more unless that passes the limit. An empty queue admits any batch,
# as the local pool does (refusing it would say "retry later" to a request that
# could never succeed).
_ADMIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local held = redis.call('ZCARD', KEYS[1])
local count = #ARGV - 3
if held > 0 and held + count > tonumber(ARGV[2]) then return 0 end
for i = 4, #ARGV do redis.call('ZADD', KEYS[1], ARGV[3], ARGV[i]) end
return 1
"""


def celery_app(redis_url: str) -> Celery:
    """The one Celery configuration, shared by the API side and ``cropedly worker``."""
    app = Celery("cropedly", broker=redis_url, backend=redis_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],  # never pickle: anyone who can write to Redis would run code
        result_accept_content=["json"],
        task_default_queue=QUEUE,
        task_track_started=True,  # the API's run deadline starts when a worker has the job
        task_acks_late=False,  # at most once: a worker lost mid-job fails the job
        worker_prefetch_multiplier=1,  # a busy worker holds no second job another could run
        result_expires=RESULT_TTL,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
    )
    return app


# ------------------------------------------------------------------- job payloads

# EnhanceOptions names ColourStats only for type checkers (an import cycle): resolve
# it here, once, so that cattrs can read the annotations.
attrs.resolve_types(EnhanceOptions, localns={"ColourStats": ColourStats})
_CONVERTER = cattrs.Converter()
_CONVERTER.register_unstructure_hook(bytes, lambda b: base64.b64encode(b).decode("ascii"))
_CONVERTER.register_structure_hook(bytes, lambda s, _: base64.b64decode(s, validate=True))


def _structure_crop(value: Any, _: Any) -> Crop | Rect | None:
    if value is None:
        return None
    if isinstance(value, str):
        return Crop(value)
    return _CONVERTER.structure(value, Rect)


_CONVERTER.register_structure_hook(Crop | Rect | None, _structure_crop)


def encode_job(data: bytes, options: EnhanceOptions) -> dict[str, Any]:
    return {
        "data": _CONVERTER.unstructure(data),
        "options": _CONVERTER.unstructure(options),
        # The worker's log lines name the request, as the local pool's do.
        "requestId": request_id.get(),
    }


# The edge admits ids of at most 128 characters; a longer one is not ours.
_MAX_REQUEST_ID = 128


def job_request_id(payload: dict[str, Any]) -> str | None:
    """The request id a job carries, if it looks like one the edge gave."""
    rid = payload.get("requestId")
    return rid if isinstance(rid, str) and 0 < len(rid) <= _MAX_REQUEST_ID else None


def decode_job(payload: dict[str, Any]) -> tuple[bytes, EnhanceOptions]:
    data = _CONVERTER.structure(payload["data"], bytes)
    return data, _CONVERTER.structure(payload["options"], EnhanceOptions)


def encode_result(result: JobResult) -> dict[str, Any]:
    return {"ok": _CONVERTER.unstructure(result)}


def decode_reply(reply: dict[str, Any]) -> JobResult:
    """A worker's reply: the result, or ``ImageRejected`` as the worker decided."""
    if "ok" in reply:
        return _CONVERTER.structure(reply["ok"], JobResult)
    raise ImageRejected(str(reply["rejected"]), str(reply["detail"]))


# ----------------------------------------------------------------- the worker side

_PIPELINE: dict[str, EnhancementPipeline] = {}


def _rejected(slug: str, detail: str) -> dict[str, Any]:
    return {"rejected": slug, "detail": detail}


def _job(payload: dict[str, Any]) -> dict[str, Any]:
    """What a worker's pool process does with one job; the same answers as the local pool."""
    data, options = decode_job(payload)
    # A pool process serves many requests: the id is set for this job only.
    token = request_id.set(job_request_id(payload))
    try:
        return encode_result(run_job(_PIPELINE["pipeline"], data, options))
    except ImageRejected as exc:
        return _rejected(exc.slug, exc.detail)
    except MemoryError:
        return _rejected("too-many-pixels", "The image needs more memory than allowed.")
    except Exception:
        log.exception("image processing failed")
        return _rejected("processing-failed", "The image could not be processed.")
    finally:
        request_id.reset(token)


def run_worker(
    redis_url: str,
    factory: PipelineFactory,
    *,
    concurrency: int,
    seconds_per_image: float,
    log_level: str = "INFO",
) -> None:
    """Take image jobs from the queue until SIGTERM (which lets running jobs finish)."""
    app = celery_app(redis_url)
    # Hard limit by default too: the API sends its own with each job.
    app.conf.task_time_limit = seconds_per_image
    app.task(name=TASK)(_job)
    # Celery's success line ends with the return value: here the image's base64 bytes.
    trace.LOG_SUCCESS = "Task %(name)s[%(id)s] succeeded in %(runtime)ss"

    def build_pipeline(**_: object) -> None:
        # In each pool process, once, before its first job: a model load is no job's time.
        _PIPELINE["pipeline"] = factory()

    worker_process_init.connect(build_pipeline, weak=False)
    worker = app.Worker(
        hostname=f"cropedly-{os.getpid()}@{socket.gethostname()}",
        pool_cls="prefork",
        concurrency=concurrency,
        queues=[QUEUE],
        loglevel=log_level,
        without_gossip=True,
        without_mingle=True,
        quiet=True,
    )
    worker.start()


# -------------------------------------------------------------------- the API side


class _Reservation(AbstractContextManager["_Reservation"]):
    """Places held for one batch in Redis; each ``run`` uses one, leaving frees the rest."""

    def __init__(self, owner: CeleryWorkers, places: list[str]) -> None:
        self._owner = owner
        self._places = places
        self._lock = threading.Lock()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        with self._lock:
            unused, self._places = self._places, []
        self._owner.release(unused)

    async def run(self, data: bytes, options: EnhanceOptions) -> JobResult:
        with self._lock:
            if not self._places:
                raise RuntimeError("more jobs than places reserved")
            place = self._places.pop()
        try:
            return await self._owner.dispatch(data, options)
        finally:
            await asyncio.to_thread(self._owner.release, [place])


class CeleryWorkers:
    """Sends image jobs to ``cropedly worker`` processes through Redis and waits for them."""

    def __init__(
        self,
        redis_url: str,
        queue_limit: int = 32,
        seconds_per_image: float = ImageLimits().seconds_per_image,
        queue_wait_seconds: float = 120.0,
    ) -> None:
        self.queue_limit = queue_limit
        self.seconds_per_image = seconds_per_image
        self.queue_wait_seconds = queue_wait_seconds
        self._app = celery_app(redis_url)
        self._redis = redis.Redis.from_url(redis_url)
        self._admit = self._redis.register_script(_ADMIT)

    def _overloaded(self, detail: str = "Too many images are being processed.") -> Overloaded:
        return Overloaded(retry_after=max(1, int(self.seconds_per_image // 10)), detail=detail)

    def reserve(self, count: int) -> _Reservation:
        """Places for ``count`` jobs in the queue all API processes share, or ``Overloaded``."""
        now = time.time()
        # A place outlives its job at most by this: waiting, running, and the grace.
        deadline = now + self.queue_wait_seconds + self.seconds_per_image + LOST_GRACE_SECONDS
        places = [uuid.uuid4().hex for _ in range(count)]
        try:
            admitted = self._admit(
                keys=[PLACES_KEY], args=[now, max(self.queue_limit, 1), deadline, *places]
            )
        except redis.RedisError as exc:
            log.warning("image queue unreachable: %s", exc)
            raise self._overloaded("The image queue is unreachable.") from None
        if not admitted:
            raise self._overloaded()
        return _Reservation(self, places)

    def check(self) -> None:
        """Raise unless Redis answers and at least one ``cropedly worker`` does (readiness).

        An API process whose queue has no worker would only answer 503 after the queue
        wait; readiness says so at once. Celery's remote-control ping returns on the
        first reply, so a healthy probe costs one round trip, an unhealthy one the timeout.
        """
        try:
            self._redis.ping()
            replies = self._app.control.ping(timeout=WORKER_PING_SECONDS, limit=1)
        except (OperationalError, redis.RedisError, OSError) as exc:
            raise RuntimeError(f"the image queue is unreachable: {exc}") from None
        if not replies:
            raise RuntimeError("no cropedly worker answers on the image queue")

    def release(self, places: list[str]) -> None:
        if places:
            try:
                self._redis.zrem(PLACES_KEY, *places)
            except redis.RedisError as exc:  # the places expire by themselves
                log.warning("could not release queue places: %s", exc)

    @property
    def pending(self) -> int:
        """Places held now by every API process."""
        return int(self._redis.zcount(PLACES_KEY, time.time(), "+inf"))

    async def run(self, data: bytes, options: EnhanceOptions) -> JobResult:
        """One job on its own: ``reserve(1)`` and run."""
        with self.reserve(1) as reservation:
            return await reservation.run(data, options)

    async def dispatch(self, data: bytes, options: EnhanceOptions) -> JobResult:
        payload = encode_job(data, options)
        del data
        task_id = uuid.uuid4().hex
        try:
            await asyncio.to_thread(
                self._app.send_task,
                TASK,
                args=[payload],
                task_id=task_id,
                queue=QUEUE,
                time_limit=self.seconds_per_image,
                # A job no worker took in time is dropped by the worker that finds it.
                expires=self.queue_wait_seconds,
            )
        except (OperationalError, redis.RedisError, OSError) as exc:
            log.warning("could not queue an image job: %s", exc)
            raise self._overloaded("The image queue is unreachable.") from None
        del payload
        try:
            return await self._wait(task_id)
        finally:
            await asyncio.to_thread(self._forget, task_id)

    def _forget(self, task_id: str) -> None:
        try:
            self._app.backend.forget(task_id)
        except redis.RedisError as exc:  # it expires by itself (RESULT_TTL)
            log.debug("could not delete the result of %s: %s", task_id, exc)

    def _meta(self, task_id: str) -> dict[str, Any] | None:
        raw = self._redis.get(self._app.backend.get_key_for_task(task_id))
        if raw is None:
            return None
        # Read as plain JSON, not through Celery's decoder, which rebuilds exceptions
        # from the class names written in Redis.
        meta: dict[str, Any] = json.loads(raw)
        return meta

    async def _wait(self, task_id: str) -> JobResult:
        queued_until = time.monotonic() + self.queue_wait_seconds
        running_until: float | None = None
        pause = _POLL_FIRST
        while True:
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, _POLL_MAX)
            try:
                meta = await asyncio.to_thread(self._meta, task_id)
            except redis.RedisError as exc:
                log.warning("image queue unreachable while waiting: %s", exc)
                meta = None
            status = None if meta is None else meta.get("status")
            if status in {"SUCCESS", "FAILURE", "REVOKED"}:
                assert meta is not None
                return self._outcome(task_id, status, meta.get("result"))
            now = time.monotonic()
            if status == "STARTED":
                if running_until is None:
                    running_until = now + self.seconds_per_image + LOST_GRACE_SECONDS
                elif now > running_until:
                    log.warning("image job %s: its worker was lost", task_id)
                    raise ImageRejected(
                        "processing-failed",
                        "The worker processing the image stopped; the image was refused.",
                    )
            elif now > queued_until:
                # The job's ``expires`` makes a worker that finds it later drop it.
                raise self._overloaded("No image worker took the job in time.")

    def _outcome(self, task_id: str, status: str, result: Any) -> JobResult:
        if status == "SUCCESS" and isinstance(result, dict):
            return decode_reply(result)
        if status == "REVOKED":
            raise self._overloaded("No image worker took the job in time.")
        kind = result.get("exc_type") if isinstance(result, dict) else None
        if kind == "TimeLimitExceeded":
            log.warning("image job %s exceeded its time; its process was killed", task_id)
            raise ImageRejected(
                "processing-timeout",
                f"Processing took longer than {self.seconds_per_image:.0f} seconds.",
            )
        log.warning("image job %s failed in its worker: %s", task_id, kind or status)
        raise ImageRejected("processing-failed", "The image crashed its decoder and was refused.")

    def close(self) -> None:
        self._redis.close()
        self._app.close()
