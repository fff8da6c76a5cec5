"""Resize to a target and crop over HTTP (``POST /images/v1``) and in ``cropedly enhance``."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from litestar.testing import TestClient
from PIL import Image

from cropedly.bootstrap import Services
from imaging import png_bytes

URL = "/images/v1"


def _post(
    client: TestClient, headers: dict[str, str], data: dict[str, str], image: bytes | None = None
) -> Any:  # type: ignore[type-arg]
    return client.post(
        URL, files=[("images", ("a.png", image or png_bytes(40, 30)))], data=data, headers=headers
    )


class TestHttpResize:
    @pytest.mark.parametrize(
        ("data", "size"),
        [
            ({"width": "20", "height": "20", "fit": "cover"}, (20, 20)),
            ({"width": "20", "height": "20"}, (20, 15)),
            ({"width": "20", "height": "20", "fit": "fill"}, (20, 20)),
            ({"width": "20", "height": "20", "fit": "pad", "background": "white"}, (20, 20)),
            ({"width": "100"}, (100, 75)),
            ({"height": "90", "fit": "cover", "aspect": "16:9"}, (160, 90)),
            ({"aspect": "1:1"}, (30, 30)),
            ({"aspect": "1:1", "crop": "faces"}, (30, 30)),
            ({"width": "20", "aspect": "1:1", "crop": "faces"}, (20, 20)),
            ({"width": "20", "aspect": "2:1", "fit": "contain"}, (13, 10)),
            ({"crop": "5,5,10,20"}, (10, 20)),
        ],
    )
    def test_answer_reports_the_final_size(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        pro_headers: dict[str, str],
        data: dict[str, str],
        size: tuple[int, int],
    ) -> None:
        """Each fit answers with the final width and height, and the file has that size."""
        response = _post(image_client, pro_headers, data | {"adjust": "none"})
        assert 200 == response.status_code, response.text
        body = response.json()[0]
        assert size == (body["width"], body["height"])

    @pytest.mark.parametrize(
        ("field", "value", "extra"),
        [
            ("width", "0", {}),
            ("width", "99999999999999999999", {}),
            ("height", "abc", {}),
            ("fit", "squash", {"width": "10"}),
            ("aspect", "16-9", {}),
            ("aspect", "1:1000", {}),
            ("crop", "1,2,3", {}),
            ("crop", "x" * 5000, {}),
            ("background", "#12", {"width": "5", "height": "5", "fit": "pad"}),
            ("background", "white", {"width": "5"}),
            ("upscale", "2", {"width": "5"}),
        ],
    )
    def test_bad_options_are_422_naming_the_field(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        pro_headers: dict[str, str],
        field: str,
        value: str,
        extra: dict[str, str],
    ) -> None:
        """Malformed or contradictory geometry is a 422 naming the field, never a 500."""
        response = _post(image_client, pro_headers, {field: value} | extra)
        assert 422 == response.status_code, response.text
        assert [field] == [e["field"] for e in response.json()["errors"]]

    def test_rectangle_outside_the_image_names_the_file(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        pro_headers: dict[str, str],
    ) -> None:
        """A rectangle past the image is that file's problem (422, crop-outside-image)."""
        response = _post(image_client, pro_headers, {"crop": "30,0,20,10"})
        assert 422 == response.status_code
        assert response.json()["errors"][0]["type"].endswith("/crop-outside-image")

    def test_too_large_target_is_413_before_work(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        image_services: Services,
        pro_headers: dict[str, str],
    ) -> None:
        """A target past the output pixel limit is refused up front."""
        response = _post(
            image_client, pro_headers, {"width": "16384", "height": "16384", "fit": "fill"}
        )
        assert 413 == response.status_code
        assert response.json()["errors"][0]["type"].endswith("/too-many-pixels")

    def test_pad_to_png_is_transparent(
        self,
        image_client: TestClient,  # type: ignore[type-arg]
        pro_headers: dict[str, str],
    ) -> None:
        """fit=pad without a background pads with transparency in PNG."""
        response = _post(
            image_client,
            pro_headers,
            {"width": "40", "height": "40", "fit": "pad", "format": "png", "adjust": "none"},
        )
        body = response.json()[0]
        data = image_client.get(body["url"]).content
        out = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
        assert (40, 40) == (out.shape[1], out.shape[0])
        assert 0 == out[0, 0, 3]
        assert 255 == out[20, 20, 3]


@pytest.mark.slow
def test_cli_enhance_resizes_and_crops(tmp_path: Path) -> None:
    """``cropedly enhance --width --height --fit cover --crop smart`` writes the exact size."""
    source = tmp_path / "in" / "scene.png"
    source.parent.mkdir()
    source.write_bytes(png_bytes(64, 48))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROPEDLY_")}
    env |= {"CROPEDLY_UPSCALER": "lanczos", "CROPEDLY_DATA_DIR": str(tmp_path / "data")}
    base = [sys.executable, "-m", "cropedly.cli", "enhance", str(source), "--adjust", "none"]
    run = subprocess.run(
        [
            *base,
            "--out",
            str(tmp_path / "out"),
            "--width",
            "96",
            "--height",
            "96",
            "--fit",
            "cover",
            "--crop",
            "smart",
            "--format",
            "png",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    assert 0 == run.returncode, run.stderr
    with Image.open(tmp_path / "out" / "scene.png.png") as result:
        assert (96, 96) == result.size
    bad = subprocess.run(
        [*base, "--out", str(tmp_path / "bad"), "--aspect", "16x9"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    assert 2 == bad.returncode
    assert "Traceback" not in bad.stderr
    assert "aspect" in bad.stderr
