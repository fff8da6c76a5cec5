"""``ProcessWorkers`` for real: concurrency, backpressure, time limits and crashed workers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from slow_pipeline import CRASH, marker_pipeline, sleeping

from cropedly.bootstrap import Services, build_services
from cropedly.http.app import create_app
from cropedly.settings import Settings
from cropedly_adapters.process_workers import ProcessWorkers
from cropedly_core.errors import ImageRejected, Overloaded
from cropedly_core.images.model import EnhanceOptions
from cropedly_core.images.service import JobResult
from cropedly_core.users import Plan
from imaging import bearer, png_bytes

pytestmark = [pytest.mark.slow]

PROBLEM = "https://cropedly.com/problems/"
URL = "/images/v1"


@pytest.fixture(scope="module")
def marker_workers() -> Iterator[ProcessWorkers]:
    """One worker process running ``marker_pipeline``, 2 s per image; shared by the module."""
    workers = ProcessWorkers(marker_pipeline, processes=1, queue_limit=4, seconds_per_image=2.0)
    yield workers
    workers.close()


@pytest.fixture
def marker_client(image_services: Services, marker_workers: ProcessWorkers) -> Iterator[TestClient]:  # type: ignore[type-arg]
    """In-memory services whose images run on ``marker_workers``."""
    image_services.images.workers = marker_workers
    with TestClient(app=create_app(image_services)) as client:
        yield client


def post(client: TestClient, headers: dict[str, str], *items: tuple[str, bytes]) -> Any:  # type: ignore[type-arg]
    return client.post(URL, files=[("images", item) for item in items], headers=headers)


def test_eight_concurrent_uploads_on_the_real_pool(tmp_path: Path) -> None:
    """The production wiring (2 worker processes, SQLite, files) answers 8 parallel uploads."""
    services = build_services(Settings(data_dir=tmp_path, upscaler="lanczos", image_workers=2))
    headers = bearer(services, "pro@example.com", Plan.PRO)
    with TestClient(app=create_app(services)) as client:
        with ThreadPoolExecutor(8) as threads:
            responses = list(
                threads.map(
                    lambda n: post(client, headers, (f"{n}.png", png_bytes(6 + n, 5))), range(8)
                )
            )
        assert [200] * 8 == [r.status_code for r in responses]
        results = [r.json()[0] for r in responses]
        assert 8 == len({r["id"] for r in results})
        assert [(6 + n, 5) for n in range(8)] == [(r["width"], r["height"]) for r in results]
        assert 8 == len(services.blobs.keys())
        assert results[3]["size"] == len(client.get(results[3]["url"]).content)


def test_full_queue_is_overloaded_then_recovers() -> None:
    """With one process and no queue, a second concurrent job is refused at once with Overloaded."""
    workers = ProcessWorkers(marker_pipeline, processes=1, queue_limit=0, seconds_per_image=30.0)
    options = EnhanceOptions()

    async def scenario() -> tuple[list[Any], JobResult]:
        busy = await asyncio.gather(
            workers.run(sleeping(0.5, png_bytes()), options),
            workers.run(png_bytes(), options),
            return_exceptions=True,
        )
        return busy, await workers.run(png_bytes(3, 2), options)

    try:
        (first, second), after = asyncio.run(scenario())
    finally:
        workers.close()
    assert isinstance(first, JobResult)
    assert isinstance(second, Overloaded)
    assert 3 == second.retry_after
    assert (3, 2) == (after.image.width, after.image.height)
    assert 0 == workers.pending


def test_overloaded_pool_gives_503_with_retry_after(
    image_services: Services, pro_headers: dict[str, str]
) -> None:
    """Over HTTP a full pool answers 503 with Retry-After, and the running job still succeeds."""
    workers = ProcessWorkers(marker_pipeline, processes=1, queue_limit=0, seconds_per_image=20.0)
    image_services.images.workers = workers
    try:
        with TestClient(app=create_app(image_services)) as client, ThreadPoolExecutor(2) as pool:
            slow = pool.submit(post, client, pro_headers, ("slow.png", sleeping(1.0, png_bytes())))
            while workers.pending == 0:  # the slow upload holds the only slot
                time.sleep(0.01)
            refused = post(client, pro_headers, ("b.png", png_bytes()))
            assert 503 == refused.status_code
            assert "2" == refused.headers["retry-after"]
            assert 200 == slow.result().status_code
    finally:
        workers.close()


class TestHungAndCrashedWorkers:
    def test_hung_worker_is_killed_and_the_image_refused(
        self,
        marker_client: TestClient,  # type: ignore[type-arg]
        pro_headers: dict[str, str],
    ) -> None:
        """An image that hangs its worker past the limit is 422 ``processing-timeout``, promptly."""
        post(marker_client, pro_headers, ("warm.png", png_bytes()))  # worker started
        started = time.monotonic()
        response = post(marker_client, pro_headers, ("hang.png", sleeping(600, png_bytes())))
        assert 422 == response.status_code
        assert [("hang.png", PROBLEM + "processing-timeout")] == [
            (e["file"], e["type"]) for e in response.json()["errors"]
        ]
        assert time.monotonic() - started < 30

    def test_crashed_worker_refuses_only_its_image(
        self,
        marker_client: TestClient,  # type: ignore[type-arg]
        image_services: Services,
        pro_headers: dict[str, str],
    ) -> None:
        """A worker that dies on an image gives 422 ``processing-failed`` for it; nothing is stored."""
        response = post(
            marker_client, pro_headers, ("ok.png", png_bytes()), ("boom.png", CRASH + png_bytes())
        )
        assert 422 == response.status_code
        assert [("boom.png", PROBLEM + "processing-failed")] == [
            (e["file"], e["type"]) for e in response.json()["errors"]
        ]
        assert [] == list(image_services.blobs.keys())

    def test_pool_works_after_timeouts_and_crashes(
        self,
        marker_client: TestClient,  # type: ignore[type-arg]
        marker_workers: ProcessWorkers,
        pro_headers: dict[str, str],
    ) -> None:
        """After a hang and a crash the replaced worker enhances the next images normally."""
        for _ in range(2):
            response = post(marker_client, pro_headers, ("after.png", png_bytes(5, 4)))
            assert 200 == response.status_code
            assert (5, 4) == (response.json()[0]["width"], response.json()[0]["height"])
        assert 0 == marker_workers.pending

    def test_direct_timeout_raises_image_rejected(self, marker_workers: ProcessWorkers) -> None:
        """``run`` itself raises ``ImageRejected('processing-timeout')`` for a hung job."""
        with pytest.raises(ImageRejected) as caught:
            asyncio.run(marker_workers.run(sleeping(600, png_bytes()), EnhanceOptions()))
        assert "processing-timeout" == caught.value.slug
