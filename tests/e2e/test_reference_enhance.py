"""Reference-guided enhancement over HTTP: ``POST /images/v1`` with a catalog ``referenceId``."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import numpy as np
import pytest
from litestar.testing import TestClient
from PIL import Image

from cropedly.bootstrap import Services
from cropedly.http.app import create_app
from cropedly.settings import Settings
from cropedly_adapters.memory import ManualClock
from cropedly_core.images.reference import ColourStats, colour_stats
from cropedly_core.users import Plan
from doubles import in_memory_services
from imaging import bearer

CATALOG = "/images/v1/enterprise-resources/images"
ENHANCE = "/images/v1"
PROBLEM = "https://cropedly.com/problems/"
OPTIONS = {"adjust": "none", "format": "png"}  # only the reference changes the colours

Client: TypeAlias = "TestClient[Any]"


def png(pixels: np.ndarray[Any, Any]) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, format="PNG")
    return out.getvalue()


def greyish() -> bytes:
    """A 24x24 warm-grey image with a checker pattern, so its spread is not zero."""
    pixels = np.full((24, 24, 3), (132, 128, 120), np.uint8)
    pixels[::2, ::2] = (112, 108, 100)
    return png(pixels)


def strongly_blue() -> bytes:
    """A 24x24 saturated blue image with a little structure."""
    pixels = np.full((24, 24, 3), (30, 70, 220), np.uint8)
    pixels[::3] = (20, 50, 190)
    return png(pixels)


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


@pytest.fixture
def world() -> Iterator[tuple[Client, Services, dict[str, str]]]:
    """A client on in-memory services and an Enterprise login."""
    services = in_memory_services(Settings(upscaler="lanczos"), clock=ManualClock())
    with TestClient(app=create_app(services)) as client:
        yield client, services, bearer(services, "ent@example.com", Plan.ENTERPRISE)


def add_reference(client: Client, headers: dict[str, str], data: bytes) -> str:
    """Upload ``data`` to the catalog and return its id."""
    sent = [("images", ("ref.png", data))]
    assert 204 == client.post(f"{CATALOG}/upload", files=sent, headers=headers).status_code
    (item,) = client.get(CATALOG, headers=headers).json()
    return str(item["id"])


def enhance_stats(client: Client, headers: dict[str, str], **fields: str) -> ColourStats:
    """Enhance the grey-ish image with ``fields`` and return the result's Lab statistics."""
    response = client.post(
        ENHANCE,
        files=[("images", ("grey.png", greyish()))],
        data={**OPTIONS, **fields},
        headers=headers,
    )
    assert 200 == response.status_code, response.text
    (result,) = response.json()
    content = client.get(path_of(result["url"]))
    assert 200 == content.status_code
    pixels = np.asarray(Image.open(io.BytesIO(content.content)).convert("RGB"))
    return colour_stats(pixels)


class TestReferenceEnhance:
    def test_blue_reference_moves_the_result_toward_blue(
        self, world: tuple[Client, Services, dict[str, str]]
    ) -> None:
        """With a strongly blue reference the result's mean b* is lower than without one."""
        client, _, ent = world
        reference_id = add_reference(client, ent, strongly_blue())
        plain = enhance_stats(client, ent)
        guided = enhance_stats(client, ent, referenceId=reference_id)
        blue = colour_stats(np.asarray(Image.open(io.BytesIO(strongly_blue())).convert("RGB")))
        assert guided.mean[2] < plain.mean[2] - 3
        # Toward the reference, never past it.
        assert abs(blue.mean[2] - guided.mean[2]) < abs(blue.mean[2] - plain.mean[2])
        assert guided.mean[2] > blue.mean[2]

    def test_blank_reference_id_is_ignored(
        self, world: tuple[Client, Services, dict[str, str]]
    ) -> None:
        """A blank ``referenceId`` enhances exactly like no reference at all."""
        client, _, ent = world
        assert enhance_stats(client, ent) == enhance_stats(client, ent, referenceId="  ")

    def test_unknown_reference_is_404_and_stores_nothing(
        self, world: tuple[Client, Services, dict[str, str]]
    ) -> None:
        """An id that is not in the catalog is a 404 problem and no result is stored."""
        client, services, ent = world
        response = client.post(
            ENHANCE,
            files=[("images", ("grey.png", greyish()))],
            data={"referenceId": "nope"},
            headers=ent,
        )
        assert 404 == response.status_code
        assert f"{PROBLEM}not-found" == response.json()["type"]
        assert [] == list(services.blobs.keys())

    def test_pro_with_reference_is_403_enterprise_required(
        self, world: tuple[Client, Services, dict[str, str]]
    ) -> None:
        """A Pro account may enhance, but a ``referenceId`` needs Enterprise: 403, nothing stored."""
        client, services, _ = world
        pro = bearer(services, "pro@example.com", Plan.PRO)
        response = client.post(
            ENHANCE,
            files=[("images", ("grey.png", greyish()))],
            data={"referenceId": "anything"},
            headers=pro,
        )
        assert 403 == response.status_code
        assert f"{PROBLEM}enterprise-plan-required" == response.json()["type"]
        assert [] == list(services.blobs.keys())
