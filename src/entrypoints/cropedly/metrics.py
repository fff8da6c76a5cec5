"""Prometheus metrics (prometheus-client), served at ``GET /metrics``.

What is measured, and where:

- ``cropedly_http_requests_total{method,route,status}`` and
  ``cropedly_http_request_duration_seconds{method,route}``: every request, from the
  ASGI wrapper (``http/observe.py``). ``route`` is the route template
  (``/images/v1/results/{result_id}``), never the path: ids and query strings would
  make a series per user and per link. Unknown paths are ``unmatched``.
- ``cropedly_images_processed_total{outcome}`` (``ok``, or the problem type of a
  refused file, e.g. ``corrupt-image``, ``processing-timeout``) and
  ``cropedly_pipeline_step_duration_seconds{step}`` (decode, restore, adjust,
  upscale, frame, sharpen, reference, encode): ``MeteredWorkers`` around the image
  workers. The worker processes measure the steps and send the timings back with
  the result (``JobResult.timings``); they write no metrics themselves.
- ``cropedly_image_jobs_pending``: images admitted and not finished (running, or
  waiting for a worker): the queue the 503 ``overloaded`` answer protects.
- ``cropedly_image_worker_restarts_total{reason}``: image worker processes replaced
  (``timeout``, ``crash``, ``exited-idle``, ...).

``cropedly serve`` runs several uvicorn processes; each counts its own requests.
With ``PROMETHEUS_MULTIPROC_DIR`` set (``serve`` sets it to a fresh folder) the
client's multiprocess mode keeps every process's values in files there and
``/metrics`` adds them up, so one scrape sees the whole server whichever process
answers it. The variable must be set before ``prometheus_client`` is imported,
which is why ``serve`` sets it first and ``bootstrap`` imports this module late.

No label carries a user, an e-mail, an id or a secret.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from cropedly_core.errors import DomainError
from cropedly_core.images.model import EnhanceOptions
from cropedly_core.images.service import ImageWorkers, JobResult, JobRunner

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

HTTP_REQUESTS = Counter(
    "cropedly_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "cropedly_http_request_duration_seconds",
    "Time from the request's arrival to the end of its answer, by method and route template.",
    ["method", "route"],
    buckets=_SECONDS,
)
IMAGES = Counter(
    "cropedly_images_processed",
    "Images through the pipeline, by outcome: ok, or the problem type of the refusal.",
    ["outcome"],
)
STEP_SECONDS = Histogram(
    "cropedly_pipeline_step_duration_seconds",
    "Seconds of each pipeline step of one image, measured in the image worker.",
    ["step"],
    buckets=(0.001, 0.0025, *_SECONDS),
)
JOBS_PENDING = Gauge(
    "cropedly_image_jobs_pending",
    "Images admitted to the image workers and not finished (running or waiting).",
    multiprocess_mode="livesum",
)
WORKER_RESTARTS = Counter(
    "cropedly_image_worker_restarts",
    "Image worker processes replaced, by reason.",
    ["reason"],
)


def record_request(scope: object, status: int, seconds: float) -> None:
    """``observe``'s hook: count and time one answered request."""
    get = getattr(scope, "get", None)
    route = (get("path_template") if get else None) or UNMATCHED
    method = (get("method") if get else None) or "GET"
    if method not in _METHODS:
        method = "other"
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_SECONDS.labels(method, route).observe(seconds)


def worker_restarted(reason: str) -> None:
    """``ProcessWorkers``' ``on_restart`` hook."""
    WORKER_RESTARTS.labels(reason).inc()


def exposition() -> bytes:
    """The text format of every metric: of all server processes in multiprocess mode."""
    if os.environ.get(MULTIPROC_DIR):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def process_exiting() -> None:
    """Drop this process's live gauges (the pending-jobs count) from the shared folder."""
    if os.environ.get(MULTIPROC_DIR):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


class _MeteredRunner:
    def __init__(self, runner: JobRunner, places: int) -> None:
        self._runner = runner
        self.unfinished = places

    async def run(self, data: bytes, options: EnhanceOptions) -> JobResult:
        try:
            result = await self._runner.run(data, options)
        except DomainError as exc:  # a refused file (its type), or the pool shutting down
            IMAGES.labels(exc.slug).inc()
            raise
        except Exception:
            IMAGES.labels("error").inc()
            raise
        finally:
            if self.unfinished > 0:
                self.unfinished -= 1
                JOBS_PENDING.dec()
        IMAGES.labels("ok").inc()
        for step, seconds in result.timings.items():
            STEP_SECONDS.labels(step).observe(seconds)
        return result


class MeteredWorkers:
    """``ImageWorkers`` that counts images, their outcomes and step timings, and the queue."""

    def __init__(self, inner: ImageWorkers) -> None:
        self._inner = inner

    @contextmanager
    def reserve(self, count: int) -> Iterator[JobRunner]:
        with self._inner.reserve(count) as runner:
            metered = _MeteredRunner(runner, count)
            JOBS_PENDING.inc(count)
            try:
                yield metered
            finally:
                JOBS_PENDING.dec(metered.unfinished)  # places reserved but never used
