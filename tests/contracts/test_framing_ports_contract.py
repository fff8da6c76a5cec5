"""The ``Resampler``, ``Saliency`` and ``FaceDetector`` contracts: OpenCV/Pillow and the fakes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from cropedly_adapters.memory_images import ContrastSaliency, FixedFaces, IndexResampler
from cropedly_adapters.opencv_faces import OpenCvFaceDetector
from cropedly_adapters.opencv_saliency import OpenCvSaliency
from cropedly_adapters.pillow_resampler import PillowResampler
from cropedly_core.images.geometry import Rect
from cropedly_core.images.ports import FaceDetector, Resampler, Saliency


@pytest.fixture(params=["pillow", "index"])
def resampler(request: pytest.FixtureRequest) -> Resampler:
    return PillowResampler() if request.param == "pillow" else IndexResampler()


@pytest.fixture(params=["opencv", "contrast"])
def saliency(request: pytest.FixtureRequest) -> Saliency:
    return OpenCvSaliency() if request.param == "opencv" else ContrastSaliency()


@pytest.fixture(params=["opencv", "fixed"])
def faces(request: pytest.FixtureRequest) -> FaceDetector:
    return OpenCvFaceDetector() if request.param == "opencv" else FixedFaces()


class TestResamplerContract:
    @pytest.mark.parametrize("channels", [3, 4])
    @pytest.mark.parametrize(("width", "height"), [(1, 1), (7, 3), (50, 20), (200, 90)])
    def test_exact_size_and_channels(
        self, resampler: Resampler, channels: int, width: int, height: int
    ) -> None:
        """Any target size is met exactly; RGB stays RGB, RGBA stays RGBA."""
        pixels = np.random.default_rng(1).integers(0, 256, (30, 40, channels), dtype=np.uint8)
        out = resampler.resize(pixels, width, height)
        assert (height, width, channels) == out.shape
        assert np.uint8 == out.dtype

    def test_flat_stays_flat(self, resampler: Resampler) -> None:
        """A flat colour is the same colour at any size."""
        out = resampler.resize(np.full((20, 30, 3), 77, np.uint8), 9, 41)
        assert {77} == set(np.unique(out).tolist())

    def test_pillow_shrinks_without_aliasing(self) -> None:
        """A one-pixel checkerboard shrunk 4x is mid grey, not a new pattern (never nearest)."""
        board = ((np.indices((64, 64)).sum(axis=0) % 2) * 255).astype(np.uint8)
        pixels = np.repeat(board[..., None], 3, axis=2)
        out = PillowResampler().resize(pixels, 16, 16).astype(int)
        assert np.abs(out - 127).max() <= 8


class TestSaliencyContract:
    def test_shape_and_sign(self, saliency: Saliency) -> None:
        """One non-negative float per pixel."""
        pixels = np.random.default_rng(2).integers(0, 256, (33, 47, 3), dtype=np.uint8)
        out = saliency.saliency(pixels)
        assert (33, 47) == out.shape
        assert out.min() >= 0

    def test_a_distinct_subject_stands_out(self, saliency: Saliency) -> None:
        """A red square on grey scores higher inside than in the far corner."""
        pixels = np.full((80, 120, 3), 120, np.uint8)
        pixels[30:50, 80:100] = (230, 30, 30)
        out = saliency.saliency(pixels)
        assert out[35:45, 85:95].mean() > 2 * out[:10, :10].mean()

    def test_flat_picture_is_finite(self, saliency: Saliency) -> None:
        """No division by zero on a flat picture."""
        assert np.isfinite(saliency.saliency(np.zeros((16, 16, 3), np.uint8))).all()


class TestFaceDetectorContract:
    def test_nothing_in_a_flat_picture(self, faces: FaceDetector) -> None:
        """No faces in a flat or tiny picture, and no error either."""
        assert [] == faces.detect(np.full((120, 160, 3), 128, np.uint8))
        assert [] == faces.detect(np.zeros((3, 2, 3), np.uint8))

    def test_opencv_finds_a_real_face(self, testdata: Path) -> None:
        """Grace Hopper's portrait (shared/testdata) has one face, found where it is."""
        image = ImageOps.exif_transpose(Image.open(testdata / "valid" / "hopper.jpg")).convert(
            "RGB"
        )
        found = OpenCvFaceDetector().detect(np.asarray(image))
        assert 1 == len(found)
        face = found[0]
        assert face.inside(128, 128)
        assert face.x < 64 < face.right
        assert face.y < 50 < face.bottom

    def test_fixed_faces_scale_to_the_picture(self) -> None:
        """The fake reports its faces scaled from the size they were given for."""
        fake = FixedFaces([Rect(10, 10, 20, 20)], size=(100, 100))
        assert [Rect(5, 5, 10, 10)] == fake.detect(np.zeros((50, 50, 3), np.uint8))
