"""The queue's JSON job and reply payloads: every option survives the trip; no pickle."""

from __future__ import annotations

import json

import pytest

from cropedly_adapters import celery_workers
from cropedly_adapters.celery_workers import decode_job, decode_reply, encode_job, encode_result
from cropedly_adapters.request_context import request_id
from cropedly_core.errors import ImageRejected
from cropedly_core.images.geometry import Background, Crop, Fit, Rect, Resize
from cropedly_core.images.model import Adjust, EncodedImage, EnhanceOptions, OutputFormat, Restore
from cropedly_core.images.reference import ColourStats
from cropedly_core.images.service import JobResult

STATS = ColourStats((50.0, 1.5, -2.0), (20.0, 3.0, 4.0))


@pytest.mark.parametrize(
    "options",
    [
        EnhanceOptions(),
        EnhanceOptions(2, Adjust.NONE, OutputFormat.WEBP, 70, STATS, Restore.NONE),
        EnhanceOptions(resize=Resize(width=10, fit=Fit.PAD, background=Background(1, 2, 3, 4))),
        EnhanceOptions(resize=Resize(aspect=(16, 9), crop=Crop.FACES)),
        EnhanceOptions(resize=Resize(width=5, height=7, crop=Rect(1, 2, 3, 4))),
    ],
)
def test_a_job_survives_json(options: EnhanceOptions) -> None:
    data = bytes(range(256))
    assert (data, options) == decode_job(json.loads(json.dumps(encode_job(data, options))))


def test_replies_survive_json() -> None:
    result = JobResult(EncodedImage(b"\x00\xff", "image/png", "png", 3, 4), STATS)
    assert result == decode_reply(json.loads(json.dumps(encode_result(result))))
    with pytest.raises(ImageRejected) as refused:
        decode_reply({"rejected": "corrupt-image", "detail": "Broken."})
    assert ("corrupt-image", "Broken.") == (refused.value.slug, refused.value.detail)


def test_a_job_carries_the_request_id_to_the_worker_for_that_job_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """cropedly worker's log lines name the request, like the local pool's (issue 14)."""
    seen: list[str | None] = []

    def run_job(*_: object) -> JobResult:
        seen.append(request_id.get())
        raise ImageRejected("corrupt-image", "Broken.")

    monkeypatch.setattr(celery_workers, "run_job", run_job)
    monkeypatch.setitem(celery_workers._PIPELINE, "pipeline", object())
    token = request_id.set("req-42")
    try:
        payload = json.loads(json.dumps(encode_job(b"x", EnhanceOptions())))
    finally:
        request_id.reset(token)
    assert celery_workers._job(payload)["rejected"] == "corrupt-image"
    assert celery_workers._job({**payload, "requestId": "x" * 129})
    assert ["req-42", None] == seen
    assert request_id.get() is None
