"""``CeleryWorkers`` against a real Redis with no worker: shared admission and the queue wait."""

from __future__ import annotations

import asyncio
import time

import pytest

from cropedly_adapters.celery_workers import PLACES_KEY, CeleryWorkers
from cropedly_core.errors import Overloaded
from cropedly_core.images.model import EnhanceOptions
from imaging import png_bytes


def test_admission_is_all_or_none_and_shared_by_every_api_process(redis_url: str) -> None:
    first = CeleryWorkers(redis_url, queue_limit=3)
    second = CeleryWorkers(redis_url, queue_limit=3)  # another API process
    try:
        with first.reserve(2):
            with pytest.raises(Overloaded):
                second.reserve(2)  # 2 + 2 > 3: refused whole, nothing held
            assert 2 == second.pending
            with second.reserve(1):
                assert 3 == first.pending
        assert 0 == first.pending
        with first.reserve(5):  # an empty queue admits any batch
            assert 5 == second.pending
    finally:
        first.close()
        second.close()


def test_places_of_a_crashed_api_process_expire(redis_url: str) -> None:
    workers = CeleryWorkers(redis_url, queue_limit=2)
    try:
        # A place whose deadline has passed: its process died without releasing it.
        workers._redis.zadd(PLACES_KEY, {"held-by-a-dead-process": time.time() - 1})
        with workers.reserve(1), workers.reserve(1):  # 1 + 1 <= 2 once the dead one is gone
            assert 2 == workers.pending
    finally:
        workers.close()


def test_a_job_no_worker_takes_is_overloaded_after_the_queue_wait(redis_url: str) -> None:
    workers = CeleryWorkers(redis_url, queue_limit=4, seconds_per_image=5, queue_wait_seconds=1)
    try:
        started = time.monotonic()
        with pytest.raises(Overloaded, match="No image worker"):
            asyncio.run(workers.run(png_bytes(), EnhanceOptions()))
        assert 1 <= time.monotonic() - started < 5
        assert 0 == workers.pending
    finally:
        workers.close()


def test_an_unreachable_redis_is_overloaded_not_a_500() -> None:
    workers = CeleryWorkers("redis://127.0.0.1:1/0", queue_limit=4)
    try:
        with pytest.raises(Overloaded, match="unreachable"):
            workers.reserve(1)
    finally:
        workers.close()


def test_readiness_fails_without_a_worker_or_without_redis(redis_url: str) -> None:
    """/health/ready's image-workers check on the queue (the two-worker test sees it pass)."""
    for url, reason in (
        (redis_url, "no cropedly worker"),
        ("redis://127.0.0.1:1/0", "unreachable"),
    ):
        workers = CeleryWorkers(url)
        try:
            with pytest.raises(RuntimeError, match=reason):
                workers.check()
        finally:
            workers.close()
