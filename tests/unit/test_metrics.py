"""Metrics pieces that need no server: the switch, MeteredWorkers, request labels."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from litestar.testing import TestClient

from cropedly import metrics
from cropedly.http.app import create_app
from cropedly.settings import Settings
from cropedly_core.errors import ImageRejected
from cropedly_core.images.model import EncodedImage, EnhanceOptions
from cropedly_core.images.reference import ColourStats
from cropedly_core.images.service import JobResult, JobRunner
from doubles import in_memory_services


def value(name: str, **labels: str) -> float:
    found = metrics.REGISTRY.get_sample_value(name, labels)
    return 0.0 if found is None else found


class _Runner:
    def __init__(self, results: list[JobResult | Exception]) -> None:
        self._results = results

    async def run(self, data: bytes, options: EnhanceOptions) -> JobResult:
        outcome = self._results.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class _Workers:
    def __init__(self, runner: _Runner) -> None:
        self._runner = runner

    @contextmanager
    def reserve(self, count: int) -> Iterator[JobRunner]:
        yield self._runner


def test_images_outcomes_steps_and_the_queue_are_counted() -> None:
    ok = JobResult(
        EncodedImage(b"x", "image/png", "png", 1, 1),
        ColourStats((50.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
        {"decode": 0.01, "encode": 0.02},
    )
    before = {
        "ok": value("cropedly_images_processed_total", outcome="ok"),
        "bad": value("cropedly_images_processed_total", outcome="corrupt-image"),
        "decode": value("cropedly_pipeline_step_duration_seconds_count", step="decode"),
    }
    workers = metrics.MeteredWorkers(
        _Workers(_Runner([ok, ImageRejected("corrupt-image", "broken")]))
    )

    async def batch() -> None:
        with workers.reserve(3) as runner:
            assert 3 == value("cropedly_image_jobs_pending")
            await runner.run(b"a", EnhanceOptions())
            with pytest.raises(ImageRejected):
                await runner.run(b"b", EnhanceOptions())
            assert 1 == value("cropedly_image_jobs_pending")  # one place never used

    pending = value("cropedly_image_jobs_pending")
    asyncio.run(batch())
    assert pending == value("cropedly_image_jobs_pending")
    assert before["ok"] + 1 == value("cropedly_images_processed_total", outcome="ok")
    assert before["bad"] + 1 == value("cropedly_images_processed_total", outcome="corrupt-image")
    assert before["decode"] + 1 == value(
        "cropedly_pipeline_step_duration_seconds_count", step="decode"
    )


def test_requests_are_labelled_by_route_template_never_by_path() -> None:
    with TestClient(app=create_app(in_memory_services())) as client:
        before = value(
            "cropedly_http_requests_total",
            method="GET",
            route="/images/v1/results/{result_id}",
            status="422",
        )
        assert 422 == client.get("/images/v1/results/secret-id-123").status_code
        assert 404 == client.get("/users/someone@example.com").status_code
        text = client.get("/metrics").text
    assert before + 1 == value(
        "cropedly_http_requests_total",
        method="GET",
        route="/images/v1/results/{result_id}",
        status="422",
    )
    assert "secret-id-123" not in text
    assert "someone@example.com" not in text
    assert 'route="unmatched"' in text


def test_metrics_can_be_turned_off() -> None:
    settings = Settings(upscaler="lanczos", metrics="off")  # type: ignore[arg-type]
    with TestClient(app=create_app(in_memory_services(settings))) as client:
        assert 404 == client.get("/metrics").status_code
        assert 200 == client.get("/health/ready").status_code
